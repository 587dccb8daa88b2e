package stores

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// RiskRecordParquet is the Parquet row of scores.parquet and of the risk list
// exports: DESIGN.md's risk list row, reasons as a JSON list, unknown numbers null.
type RiskRecordParquet struct {
	CustomerID        string    `parquet:"customer_id,dict"`
	AsOf              int32     `parquet:"as_of,date"` // days since 1970-01-01
	ScoredAt          time.Time `parquet:"scored_at,timestamp(microsecond)"`
	RunID             string    `parquet:"run_id,dict"`
	ModelVersion      string    `parquet:"model_version,dict"`
	ChurnProbability  float64   `parquet:"churn_probability"`
	RiskTier          string    `parquet:"risk_tier,dict"`
	ChurnPercentile   float64   `parquet:"churn_percentile"`
	PAlive            *float64  `parquet:"p_alive,optional"`
	ExpectedPurchases *float64  `parquet:"expected_purchases,optional"`
	PredictedCLV      *float64  `parquet:"predicted_clv,optional"`
	HistoricCLV       *float64  `parquet:"historic_clv,optional"`
	ValueAtRisk       *float64  `parquet:"value_at_risk,optional"`
	ExpectedNextOrder *int32    `parquet:"expected_next_order_date,optional,date"`
	Reasons           string    `parquet:"reasons"`
	Segment           string    `parquet:"segment,dict"`
	ValueRiskCell     string    `parquet:"value_risk_cell,dict"`
	ControlGroup      bool      `parquet:"control_group"`
	RowHash           string    `parquet:"row_hash"`
}

func epochDays(t time.Time) int32 {
	return int32(t.UTC().Truncate(24*time.Hour).Unix() / 86400)
}

func fromEpochDays(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func optF(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func fromOpt(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// toParquet fills dst from r, with the row's reasons JSON and hash.
func toParquet(r *RiskRow, reasons, hash string, dst *RiskRecordParquet) {
	*dst = RiskRecordParquet{r.CustomerID, epochDays(r.AsOf), r.ScoredAt.UTC(), r.RunID, r.ModelVersion,
		r.ChurnProbability, r.RiskTier, r.ChurnPercentile, optF(r.PAlive), optF(r.ExpectedPurchases),
		optF(r.PredictedCLV), optF(r.HistoricCLV), optF(r.ValueAtRisk), nil, reasons, r.Segment,
		r.ValueRiskCell, r.ControlGroup, hash}
	if !r.ExpectedNextOrder.IsZero() {
		d := epochDays(r.ExpectedNextOrder)
		dst.ExpectedNextOrder = &d
	}
}

// WriteAtomic writes path through a temporary file in the same folder,
// fsyncs it and renames it into place: readers see the old file or the new one.
func WriteAtomic(path string, write func(w io.Writer) error) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// WriteRiskParquet writes the rows as Parquet (zstd) atomically, with the
// given key-value metadata.
func WriteRiskParquet(ctx context.Context, path string, rows []RiskRow, meta map[string]string) error {
	return writeRiskParquet(ctx, path, rows, nil, nil, meta)
}

// writeRiskParquet is WriteRiskParquet with each row's reasons JSON and
// hash given (nil: computed per row).
func writeRiskParquet(ctx context.Context, path string, rows []RiskRow, reasons, hashes []string, meta map[string]string) error {
	return WriteAtomic(path, func(w io.Writer) error {
		pw := parquet.NewGenericWriter[RiskRecordParquet](w, RiskWriterOptions(meta)...)
		buf := make([]RiskRecordParquet, 0, 4096)
		for lo := 0; lo < len(rows); lo += 4096 {
			if err := ctx.Err(); err != nil {
				return err
			}
			buf = buf[:min(4096, len(rows)-lo)]
			for i := range buf {
				r := &rows[lo+i]
				if reasons != nil {
					toParquet(r, reasons[lo+i], hashes[lo+i], &buf[i])
				} else {
					js := r.ReasonsJSON()
					toParquet(r, js, r.hashWith(js), &buf[i])
				}
			}
			if _, err := pw.Write(buf); err != nil {
				return err
			}
		}
		return pw.Close()
	})
}

// RiskRowGroupRows is the row group size of risk list files. The writer
// holds a row group's columns in memory until it is flushed: one group for
// a million rows kept a second copy of the whole list (about 400 MB) alive
// while the list was published.
const RiskRowGroupRows = 64 << 10

// RiskWriterOptions are the Parquet writer options of every risk list file
// (scores.parquet and the exports): zstd, RiskRowGroupRows rows per row
// group and meta as key-value metadata. Writers that must give the same
// bytes use these.
func RiskWriterOptions(meta map[string]string) []parquet.WriterOption {
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(RiskRowGroupRows)}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		opts = append(opts, parquet.KeyValueMetadata(k, meta[k]))
	}
	return opts
}

// ReadRiskParquet reads a scores.parquet (or risk export) back into rows.
func ReadRiskParquet(path string) ([]RiskRow, error) {
	rows, _, err := readRiskParquet(path, true)
	return rows, err
}

// ReadRiskList reads a scores.parquet for publishing: the rows without
// decoded Reasons, each row's reasons JSON kept as stored (checked to be
// valid JSON, not decoded and encoded again), checked and hashed (Prepare).
// A file without rows gives an empty list.
func ReadRiskList(path string) (*Prepared, error) {
	rows, reasons, err := readRiskParquet(path, false)
	if err != nil || len(rows) == 0 {
		return &Prepared{}, err // no rows: the caller says so
	}
	m, err := checkList(rows, reasons)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Prepared{Rows: rows, m: m}, nil
}

// readRiskParquet streams the file in batches. With decode the reasons go
// into each row's Reasons; without, they are returned as stored ("[]" when
// empty) after a validity check.
func readRiskParquet(path string, decode bool) (rows []RiskRow, reasons []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = badInput("%s: not a risk list Parquet file: %v", path, p)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	pr := parquet.NewGenericReader[RiskRecordParquet](pf)
	defer pr.Close()
	n := int(pr.NumRows())
	rows = make([]RiskRow, 0, n)
	if !decode {
		reasons = make([]string, 0, n)
	}
	buf := make([]RiskRecordParquet, 4096)
	in := interner{}
	for {
		k, rerr := pr.Read(buf)
		for j := range buf[:k] {
			p := &buf[j]
			i := len(rows)
			rows = append(rows, RiskRow{CustomerID: p.CustomerID, AsOf: fromEpochDays(p.AsOf), ScoredAt: p.ScoredAt.UTC(), RunID: in.get(p.RunID),
				ModelVersion: in.get(p.ModelVersion), ChurnProbability: p.ChurnProbability, RiskTier: in.get(p.RiskTier),
				ChurnPercentile: p.ChurnPercentile, PAlive: fromOpt(p.PAlive), ExpectedPurchases: fromOpt(p.ExpectedPurchases),
				PredictedCLV: fromOpt(p.PredictedCLV), HistoricCLV: fromOpt(p.HistoricCLV), ValueAtRisk: fromOpt(p.ValueAtRisk),
				Segment: in.get(p.Segment), ValueRiskCell: in.get(p.ValueRiskCell), ControlGroup: p.ControlGroup})
			r := &rows[i]
			if p.ExpectedNextOrder != nil {
				r.ExpectedNextOrder = fromEpochDays(*p.ExpectedNextOrder)
			}
			switch {
			case !decode:
				js := p.Reasons
				if js == "" || js == "null" {
					js = "[]"
				} else if js[0] != '[' || !json.Valid(unsafe.Slice(unsafe.StringData(js), len(js))) { // read only
					return nil, nil, badInput("%s: row %d (customer %s), column reasons: not a JSON list", path, i+1, p.CustomerID)
				}
				reasons = append(reasons, js)
			case p.Reasons != "" && p.Reasons != "[]":
				if err := json.Unmarshal([]byte(p.Reasons), &r.Reasons); err != nil {
					return nil, nil, badInput("%s: row %d (customer %s), column reasons: %v", path, i+1, p.CustomerID, err)
				}
			}
		}
		clear(buf[:k]) // drop the references to the strings
		if rerr == io.EOF {
			return rows, reasons, nil
		}
		if rerr != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", path, rerr)
		}
	}
}

// interner shares one copy of each value of the list's low-cardinality
// string columns (run, model version, tier, segment, value × risk cell): the
// Parquet reader allocates a new string per row, and a million rows would
// otherwise keep a million copies of each (about 130 MB live while
// publishing).
type interner map[string]string

func (in interner) get(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	if len(in) >= 4096 { // not low-cardinality after all: keep as read
		return s
	}
	in[s] = s
	return s
}

func fmtF(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// RiskCSVHeader is the header of the CSV risk list export.
var RiskCSVHeader = append(append([]string{}, riskCols...), "updated_at")

// WriteRiskCSV writes the rows as CSV (for CRM imports) atomically; unknown
// numbers and dates are empty, reasons a JSON list.
func WriteRiskCSV(ctx context.Context, path string, rows []RiskRow) error {
	return writeRiskCSV(ctx, path, rows, nil, nil)
}

// writeRiskCSV is WriteRiskCSV with each row's reasons JSON and hash given
// (nil: computed per row).
func writeRiskCSV(ctx context.Context, path string, rows []RiskRow, reasons, hashes []string) error {
	return WriteAtomic(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(RiskCSVHeader[:len(riskCols)]); err != nil {
			return err
		}
		rec := make([]string, len(riskCols))
		for i := range rows {
			if i%65536 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			r := &rows[i]
			var js, hash string
			if reasons != nil {
				js, hash = reasons[i], hashes[i]
			} else {
				js = r.ReasonsJSON()
				hash = r.hashWith(js)
			}
			rec = append(rec[:0], r.CustomerID, dateString(r.AsOf), r.ScoredAt.UTC().Format(time.RFC3339), r.RunID, r.ModelVersion,
				fmtF(r.ChurnProbability), r.RiskTier, fmtF(r.ChurnPercentile), fmtF(r.PAlive), fmtF(r.ExpectedPurchases),
				fmtF(r.PredictedCLV), fmtF(r.HistoricCLV), fmtF(r.ValueAtRisk), dateString(r.ExpectedNextOrder),
				js, r.Segment, r.ValueRiskCell, strconv.FormatBool(r.ControlGroup), hash)
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// WriteQueueCSV writes queue rows as CSV atomically.
func WriteQueueCSV(ctx context.Context, path string, rows []QueueRow) error {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	return WriteAtomic(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"idempotency_key", "run_id", "customer_id", "campaign", "as_of", "priority", "status",
			"suppression_reason", "treatment", "not_before", "expires_at"}); err != nil {
			return err
		}
		for i := range rows {
			if i%65536 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			q := &rows[i]
			if err := cw.Write([]string{q.IdempotencyKey, q.RunID, q.CustomerID, q.Campaign, dateString(q.AsOf),
				fmtF(q.Priority), q.Status, q.SuppressionReason, q.Treatment, ts(q.NotBefore), ts(q.ExpiresAt)}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// ExportFiles writes the file store: risk-<as-of>.parquet and .csv, the same
// list as risk_current.parquet and .csv (replaced atomically), and the
// night's queue plan as queue-<as-of>.csv.
func ExportFiles(ctx context.Context, dir string, rows []RiskRow, queue []QueueRow) (PublishResult, error) {
	p, err := Prepare(rows)
	if err != nil {
		return PublishResult{Store: "files:" + dir, RiskRows: len(rows), QueueRows: len(queue)}, err
	}
	return StartFileExport(ctx, dir, p).Finish(queue)
}

// FileExport is a file store export under way: StartFileExport writes the
// night's dated files (risk-<as-of>.parquet and .csv, both at once) in the
// background while the SQL stores publish; Finish then points
// risk_current.parquet/.csv at them and writes the queue plan, so the
// current files move only once the stores have the list too.
type FileExport struct {
	dir, day string
	p        *Prepared
	ctx      context.Context
	start    time.Time
	cancel   context.CancelFunc
	done     chan struct{}
	pq, cs   string
	err      error
}

// StartFileExport starts writing the dated risk files of p to dir.
func StartFileExport(ctx context.Context, dir string, p *Prepared) *FileExport {
	ctx, cancel := context.WithCancel(ctx)
	m := p.m
	day := dateString(m.asOf)
	e := &FileExport{dir: dir, day: day, p: p, ctx: ctx, start: time.Now(), cancel: cancel, done: make(chan struct{}),
		pq: filepath.Join(dir, "risk-"+day+".parquet"), cs: filepath.Join(dir, "risk-"+day+".csv")}
	meta := map[string]string{"retain.run_id": m.runID, "retain.as_of": day, "retain.model_version": m.modelVersion, "retain.content_hash": m.hash}
	go func() {
		defer close(e.done)
		var wg sync.WaitGroup
		var perr, cerr error
		wg.Go(func() { perr = writeRiskParquet(ctx, e.pq, p.Rows, m.reasons, m.rowHash, meta) })
		wg.Go(func() { cerr = writeRiskCSV(ctx, e.cs, p.Rows, m.reasons, m.rowHash) })
		wg.Wait()
		e.err = errors.Join(perr, cerr)
	}()
	return e
}

// Abort stops the export and waits for it (dated files may be left).
func (e *FileExport) Abort() {
	e.cancel()
	<-e.done
}

// Finish waits for the dated files, replaces risk_current.parquet/.csv with
// them and writes queue-<as-of>.csv when there are queue rows.
func (e *FileExport) Finish(queue []QueueRow) (PublishResult, error) {
	defer e.cancel()
	<-e.done
	res := PublishResult{Store: "files:" + e.dir, RiskRows: len(e.p.Rows), QueueRows: len(queue)}
	if e.err != nil {
		return res, e.err
	}
	for src, dst := range map[string]string{e.pq: "risk_current.parquet", e.cs: "risk_current.csv"} {
		if err := linkAtomic(src, filepath.Join(e.dir, dst)); err != nil {
			return res, err
		}
	}
	if len(queue) > 0 {
		if err := WriteQueueCSV(e.ctx, filepath.Join(e.dir, "queue-"+e.day+".csv"), queue); err != nil {
			return res, err
		}
	}
	res.Seconds = time.Since(e.start).Seconds()
	return res, nil
}

// linkAtomic makes dst a hard link of src via a temporary name and rename
// (falls back to a copy when links are not supported).
func linkAtomic(src, dst string) error {
	tmp := dst + ".tmp-link"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		return WriteAtomic(dst, func(w io.Writer) error {
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		})
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}
