package synth

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/retainlab/retain/datasets"
)

// ConfigFile is the name of the retain config written beside the data.
const ConfigFile = "retain.yaml"

// Summary says what Generate wrote.
type Summary struct {
	Dir       string                    `json:"dir"`
	Config    string                    `json:"config"`
	Truth     string                    `json:"truth"`
	TruthRows string                    `json:"truth_rows"`
	Format    string                    `json:"format"`
	Customers int                       `json:"customers"`
	Seed      uint64                    `json:"seed"`
	Rows      map[datasets.Table]int64  `json:"rows"`
	Files     map[datasets.Table]string `json:"files"`
	Bytes     int64                     `json:"bytes"`
	Seconds   float64                   `json:"seconds"`
	// Params are the parameters actually used (Alpha solved when
	// OrdersPerCustomer was given).
	Params Params `json:"params"`
	// ExpectedOrdersPerCustomer is the BG/NBD expectation; ObservedOrdersPerCustomer what was drawn.
	ExpectedOrdersPerCustomer float64 `json:"expected_orders_per_customer"`
	ObservedOrdersPerCustomer float64 `json:"observed_orders_per_customer"`
	// ChurnedShare is the share of customers who died within the window.
	ChurnedShare float64 `json:"churned_share"`
}

// Params are the true generative parameters (truth.json).
type Params struct {
	TimeUnit   string  `json:"time_unit"`
	R          float64 `json:"r"`
	Alpha      float64 `json:"alpha"`
	A          float64 `json:"a"`
	B          float64 `json:"b"`
	P          float64 `json:"p"`
	Q          float64 `json:"q"`
	Gamma      float64 `json:"gamma"`
	Signal     float64 `json:"signal"`
	SignalWeek float64 `json:"signal_weeks"`
}

// InputError is a bad generator setting (the CLI exits 2).
type InputError struct{ Err error }

func (e InputError) Error() string { return e.Err.Error() }
func (e InputError) Unwrap() error { return e.Err }
func (InputError) BadInput() bool  { return true }

// Generate writes cfg's synthetic tables, their retain.yaml, truth.json and
// the per-customer truth into dir. progress, when not nil, is called from
// the calling goroutine with the number of customers written so far.
// Files are written under temporary names and renamed when complete.
func Generate(ctx context.Context, cfg Config, dir string, progress func(done int)) (*Summary, error) {
	began := time.Now()
	cfg, err := cfg.Resolve()
	if err != nil {
		return nil, InputError{err}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("generate: creating %s: %w", dir, err)
	}
	tabs := tables(cfg)
	ext := "." + cfg.Format
	writers := make([]*tableWriter, len(tabs))
	defer func() {
		for _, w := range writers {
			if w != nil {
				w.abort()
			}
		}
	}()
	for k, t := range tabs {
		w, err := openTableWriter(filepath.Join(dir, string(t.name)+ext), t, cfg.Format)
		if err != nil {
			return nil, err
		}
		writers[k] = w
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nChunks := (cfg.Customers + cfg.ChunkSize - 1) / cfg.ChunkSize
	type result struct {
		parts     []part
		customers int
		orders    int64
		died      int
	}
	// futures carries one result channel per chunk in chunk order; its
	// capacity bounds the chunks in flight (and so memory).
	futures := make(chan chan result, 2*workers)
	sims := make(chan *simulator, workers)
	for range workers {
		sims <- newSimulator(cfg)
	}
	mem := memory.NewGoAllocator()
	go func() {
		defer close(futures)
		for c := range nChunks {
			fut := make(chan result, 1)
			select {
			case futures <- fut:
			case <-ctx.Done():
				return
			}
			sim := <-sims
			go func() {
				lo := c * cfg.ChunkSize
				hi := min(lo+cfg.ChunkSize, cfg.Customers)
				var ch chunk
				for i := lo; i < hi; i++ {
					sim.customer(i, &ch)
				}
				sims <- sim
				res := result{customers: hi - lo, orders: int64(len(ch.orders))}
				for _, tr := range ch.truth {
					if tr.died {
						res.died++
					}
				}
				res.parts = make([]part, len(tabs))
				for k, t := range tabs {
					res.parts[k] = t.encode(&ch, cfg.Format, mem)
				}
				fut <- res
			}()
		}
	}()

	// One writer goroutine per table, fed in chunk order.
	var wg sync.WaitGroup
	ins := make([]chan part, len(tabs))
	errs := make([]error, len(tabs))
	for k := range tabs {
		ins[k] = make(chan part, 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range ins[k] {
				if errs[k] == nil {
					if errs[k] = writers[k].write(p); errs[k] != nil {
						cancel()
					}
				}
				if p.rec != nil {
					p.rec.Release()
				}
			}
		}()
	}
	done, died := 0, 0
	var orders int64
	for fut := range futures {
		res := <-fut
		for k, p := range res.parts {
			ins[k] <- p
		}
		done += res.customers
		died += res.died
		orders += res.orders
		if progress != nil {
			progress(done)
		}
		if ctx.Err() != nil {
			break
		}
	}
	for k := range ins {
		close(ins[k])
	}
	wg.Wait()
	for k := range errs {
		if errs[k] != nil {
			return nil, errs[k]
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}

	sum := &Summary{
		Dir: dir, Format: cfg.Format, Customers: cfg.Customers, Seed: cfg.Seed,
		Config: filepath.Join(dir, ConfigFile), Truth: filepath.Join(dir, "truth.json"),
		Rows: map[datasets.Table]int64{}, Files: map[datasets.Table]string{},
		Params: Params{TimeUnit: "week", R: cfg.R, Alpha: cfg.Alpha, A: cfg.A, B: cfg.B, P: cfg.P, Q: cfg.Q, Gamma: cfg.Gamma,
			Signal: cfg.Signal, SignalWeek: cfg.SignalWeeks},
		ExpectedOrdersPerCustomer: MeanOrders(cfg.R, cfg.Alpha, cfg.A, cfg.B, cfg.windowWeeks(), cfg.AcquisitionShare),
		ObservedOrdersPerCustomer: float64(orders) / float64(cfg.Customers),
		ChurnedShare:              float64(died) / float64(cfg.Customers),
	}
	for k, t := range tabs {
		n, path, err := writers[k].close()
		writers[k] = nil
		if err != nil {
			return nil, err
		}
		if t.name == TruthTable {
			sum.TruthRows = path
		} else {
			sum.Rows[t.name] = n
			sum.Files[t.name] = path
		}
		if st, err := os.Stat(path); err == nil {
			sum.Bytes += st.Size()
		}
	}
	if err := writeFileAtomic(sum.Config, []byte(configYAML(cfg))); err != nil {
		return nil, err
	}
	tj, err := json.MarshalIndent(truthJSON(cfg, sum), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("generate: encoding truth.json: %w", err)
	}
	if err := writeFileAtomic(sum.Truth, append(tj, '\n')); err != nil {
		return nil, err
	}
	sum.Seconds = time.Since(began).Seconds()
	return sum, nil
}

// truthJSON is the content of truth.json: everything needed to check a
// model against the truth. It carries no timing, so it is deterministic.
func truthJSON(cfg Config, s *Summary) any {
	files := map[string]string{}
	for t, p := range s.Files {
		files[string(t)] = filepath.Base(p)
	}
	return map[string]any{
		"generator": "retain generate",
		"seed":      cfg.Seed,
		"customers": cfg.Customers,
		"window": map[string]any{
			"start": cfg.Start.Format(time.DateOnly), "end": cfg.End.Format(time.DateOnly),
			"acquisition_share": cfg.AcquisitionShare, "weeks": cfg.windowWeeks(),
		},
		"bgnbd":       map[string]float64{"r": cfg.R, "alpha": cfg.Alpha, "a": cfg.A, "b": cfg.B},
		"gamma_gamma": map[string]float64{"p": cfg.P, "q": cfg.Q, "gamma": cfg.Gamma},
		"time_unit":   "week",
		"signal": map[string]any{
			"strength": cfg.Signal, "weeks_before_death": cfg.SignalWeeks,
			"tickets_rate_multiplier_at_death": 1 + 4*cfg.Signal,
			"nps_drop_at_death":                4 * cfg.Signal,
			"events_kept_at_death":             max(0, 1-0.7*min(cfg.Signal, 1.4)),
			"events_after_death":               "email_open only, at 10% of the customer's rate",
			"subscriptions":                    "cancelled within 4 weeks after death; downgrade 1-6 weeks before death with probability 0.5*strength",
		},
		"events_per_week":              cfg.EventsPerWeek,
		"return_rate":                  cfg.ReturnRate,
		"expected_orders_per_customer": s.ExpectedOrdersPerCustomer,
		"observed_orders_per_customer": s.ObservedOrdersPerCustomer,
		"churned_share":                s.ChurnedShare,
		"rows":                         s.Rows,
		"files":                        files,
		"truth_rows":                   filepath.Base(s.TruthRows),
		"meaning": map[string]string{
			"lambda":           "true purchase rate per week while alive",
			"dropout_p":        "probability of dying right after each repeat purchase",
			"spend_nu":         "Gamma-Gamma rate of the customer's order values; mean_spend = p / spend_nu",
			"churned_at":       "time of death (the last purchase), null when alive at the end of the window",
			"alive_at_end":     "still alive at the window's end",
			"orders":           "orders in the window, first one included",
			"events_per_week":  "engagement rate while alive, before the pre-death decline",
			"tickets_per_week": "support ticket rate while alive, before the pre-death spike",
		},
	}
}

// tableWriter streams one table to a temporary file.
type tableWriter struct {
	path, tmp string
	f         *os.File
	buf       *bufio.Writer
	pq        *pqarrow.FileWriter
	rows      int64
}

func openTableWriter(path string, t table, format string) (*tableWriter, error) {
	w := &tableWriter{path: path, tmp: filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".partial")}
	f, err := os.Create(w.tmp)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	w.f = f
	w.buf = bufio.NewWriterSize(f, 1<<20)
	if format == "parquet" {
		// Dictionaries only for the low-cardinality strings (hashing every
		// id, time and amount costs more than it saves); zstd at its fastest
		// level, which compresses these columns nearly as well as the default.
		opts := []parquet.WriterProperty{
			parquet.WithCompression(compress.Codecs.Zstd),
			parquet.WithCompressionLevel(1),
			parquet.WithDictionaryDefault(false),
			parquet.WithMaxRowGroupLength(512 << 10),
			parquet.WithDataPageSize(256 << 10),
			parquet.WithCreatedBy("retain generate"),
		}
		for _, f := range t.schema.Fields() {
			switch f.Name {
			case "country", "segment", "acquisition_channel", "gender", "product", "category", "channel", "event_type", "plan", "status", "priority":
				opts = append(opts, parquet.WithDictionaryFor(f.Name, true))
			}
		}
		pw, err := pqarrow.NewFileWriter(t.schema, w.buf, parquet.NewWriterProperties(opts...), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
		if err != nil {
			w.abort()
			return nil, fmt.Errorf("generate: parquet writer for %s: %w", path, err)
		}
		w.pq = pw
	} else if _, err := w.buf.Write(t.header); err != nil {
		w.abort()
		return nil, fmt.Errorf("generate: writing %s: %w", path, err)
	}
	return w, nil
}

func (w *tableWriter) write(p part) error {
	w.rows += int64(p.rows)
	if w.pq != nil {
		if p.rows == 0 {
			return nil
		}
		if err := w.pq.WriteBuffered(p.rec); err != nil {
			return fmt.Errorf("generate: writing %s: %w", w.path, err)
		}
		return nil
	}
	if _, err := w.buf.Write(p.csv); err != nil {
		return fmt.Errorf("generate: writing %s: %w", w.path, err)
	}
	return nil
}

// close finishes the file, fsyncs and renames it into place.
func (w *tableWriter) close() (int64, string, error) {
	if w.pq != nil {
		if err := w.pq.Close(); err != nil {
			w.abort()
			return 0, "", fmt.Errorf("generate: closing %s: %w", w.path, err)
		}
	}
	err := w.buf.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err == nil {
		err = os.Rename(w.tmp, w.path)
	}
	if err != nil {
		os.Remove(w.tmp)
		return 0, "", fmt.Errorf("generate: finishing %s: %w", w.path, err)
	}
	return w.rows, w.path, nil
}

// abort drops a partly written file.
func (w *tableWriter) abort() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
		os.Remove(w.tmp)
	}
}

// writeFileAtomic writes data to path through a temporary file and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".partial")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
