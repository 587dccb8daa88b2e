package synth

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/retainlab/retain/datasets"
)

func generate(t *testing.T, cfg Config) (string, *Summary) {
	t.Helper()
	dir := t.TempDir()
	sum, err := Generate(context.Background(), cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir, sum
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// Same seed → byte-identical files, whatever the number of goroutines (and,
// for CSV, the chunking; Parquet page boundaries follow the chunks, the
// values do not); another seed → different data.
func TestDeterministic(t *testing.T) {
	for _, format := range []string{"csv", "parquet"} {
		t.Run(format, func(t *testing.T) {
			chunk := 97
			if format == "parquet" {
				chunk = 1024
			}
			a, _ := generate(t, Config{Customers: 3000, Seed: 42, Format: format, Workers: 1, ChunkSize: 1024})
			b, _ := generate(t, Config{Customers: 3000, Seed: 42, Format: format, Workers: 4, ChunkSize: chunk})
			c, _ := generate(t, Config{Customers: 3000, Seed: 43, Format: format})
			fa, fb, fc := readDir(t, a), readDir(t, b), readDir(t, c)
			wantFiles := []string{"customers", "orders", "events", "subscriptions", "tickets", "surveys", "truth"}
			if len(fa) != len(wantFiles)+2 {
				t.Fatalf("files %v, want the tables, truth, truth.json and retain.yaml", keys(fa))
			}
			for _, n := range wantFiles {
				name := n + "." + format
				if len(fa[name]) == 0 {
					t.Fatalf("%s missing or empty", name)
				}
			}
			for name, data := range fa {
				if !bytes.Equal(data, fb[name]) {
					t.Errorf("%s differs between two runs with the same seed", name)
				}
			}
			if bytes.Equal(fa["orders."+format], fc["orders."+format]) {
				t.Errorf("seeds 42 and 43 gave the same orders")
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Choosing fewer tables never changes the others (one substream per table).
func TestTablesIndependent(t *testing.T) {
	a, _ := generate(t, Config{Customers: 1500, Seed: 5})
	b, _ := generate(t, Config{Customers: 1500, Seed: 5, Tables: []datasets.Table{datasets.Customers, datasets.Orders, datasets.Tickets}})
	for _, name := range []string{"customers.csv", "orders.csv", "tickets.csv", "truth.csv"} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s changed when other tables were dropped", name)
		}
	}
	if _, err := os.Stat(filepath.Join(b, "events.csv")); err == nil {
		t.Errorf("events.csv written though not asked for")
	}
	cfg, _ := os.ReadFile(filepath.Join(b, ConfigFile))
	if strings.Contains(string(cfg), "events") || !strings.Contains(string(cfg), "tickets:") {
		t.Errorf("retain.yaml does not list exactly the generated tables:\n%s", cfg)
	}
}

// The files use the canonical column names, kinds and order of datasets.Specs.
func TestCanonicalColumns(t *testing.T) {
	cfg := Config{Customers: 1}.Defaults()
	for _, tab := range tables(cfg) {
		if tab.name == TruthTable {
			continue
		}
		spec := datasets.Specs[tab.name]
		pos := map[string]int{}
		for i, c := range spec.Columns {
			pos[c.Name] = i
		}
		last := -1
		for _, f := range tab.schema.Fields() {
			i, ok := pos[f.Name]
			if !ok {
				t.Errorf("%s.%s is not a canonical column", tab.name, f.Name)
				continue
			}
			if !arrowEqual(f.Type, spec.Columns[i].Kind.ArrowType()) {
				t.Errorf("%s.%s has type %s, canonical %s", tab.name, f.Name, f.Type, spec.Columns[i].Kind.ArrowType())
			}
			if i < last {
				t.Errorf("%s.%s is out of the canonical order", tab.name, f.Name)
			}
			last = i
		}
		for _, c := range spec.Columns {
			if c.Required && tab.schema.FieldIndices(c.Name) == nil {
				t.Errorf("%s lacks required column %s", tab.name, c.Name)
			}
		}
	}
}

func arrowEqual(a, b interface{ String() string }) bool { return a.String() == b.String() }

// simulate runs the generative model for n customers without writing files.
func simulate(t *testing.T, cfg Config, n int) *chunk {
	t.Helper()
	cfg.Customers = n
	cfg, err := cfg.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	sim := newSimulator(cfg)
	var ch chunk
	for i := range n {
		sim.customer(i, &ch)
	}
	return &ch
}

// Mean repeat purchases match the BG/NBD expectation for each customer's
// observation time, within 4 standard errors.
func TestPurchasesMatchBGNBD(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{}},
		{"cdnow-like", Config{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}},
		{"a>1", Config{R: 2, Alpha: 10, A: 2.5, B: 6}},
		{"20 orders per customer", Config{OrdersPerCustomer: 20}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const n = 20000
			ch := simulate(t, tc.cfg, n)
			cfg, _ := Config{Customers: n, R: tc.cfg.R, Alpha: tc.cfg.Alpha, A: tc.cfg.A, B: tc.cfg.B, OrdersPerCustomer: tc.cfg.OrdersPerCustomer}.Resolve()
			var sum, sumSq float64
			for _, tr := range ch.truth {
				x := float64(tr.orders - 1)
				sum += x
				sumSq += x * x
			}
			// signups are uniform, so MeanOrders − 1 is the expected mean
			// over customers; the SE of the mean covers the spread of T too.
			want := MeanOrders(cfg.R, cfg.Alpha, cfg.A, cfg.B, cfg.windowWeeks(), cfg.AcquisitionShare) - 1
			mean := sum / n
			se := math.Sqrt((sumSq/n - mean*mean) / n)
			if math.Abs(mean-want) > 4*se {
				t.Errorf("mean repeat purchases %.4f, BG/NBD expects %.4f (SE %.4f)", mean, want, se)
			}
			if tc.cfg.OrdersPerCustomer > 0 && math.Abs(1+mean-tc.cfg.OrdersPerCustomer) > 4*se {
				t.Errorf("orders per customer %.3f, asked for %g", 1+mean, tc.cfg.OrdersPerCustomer)
			}
			// Gamma-Gamma: mean order value ≈ E[p/nu] = p·gamma/(q−1)
			var spend float64
			for _, o := range ch.orders {
				spend += o.amount
			}
			if got, want := spend/float64(len(ch.orders)), cfg.P*cfg.Gamma/(cfg.Q-1); math.Abs(got-want)/want > 0.1 {
				t.Errorf("mean order value %.2f, Gamma-Gamma population mean %.2f", got, want)
			}
		})
	}
}

// hyp2f1 sums the Gauss series (|z| < 1).
func hyp2f1(a, b, c, z float64) float64 {
	term, sum := 1.0, 1.0
	for n := 0; n < 100000; n++ {
		term *= (a + float64(n)) * (b + float64(n)) / ((c + float64(n)) * float64(n+1)) * z
		sum += term
		if math.Abs(term) < 1e-15*math.Abs(sum) {
			break
		}
	}
	return sum
}

// ExpectedRepeat agrees with the closed form of Fader, Hardie and Lee (2005, eq. 9).
func TestExpectedRepeatClosedForm(t *testing.T) {
	for _, p := range [][5]float64{
		{0.243, 4.414, 0.793, 2.426, 39},
		{0.243, 4.414, 0.793, 2.426, 78},
		{2, 10, 2.5, 6, 52},
		{0.9, 6, 1.3, 4, 104},
	} {
		r, alpha, a, b, t0 := p[0], p[1], p[2], p[3], p[4]
		want := (a + b - 1) / (a - 1) * (1 - math.Pow(alpha/(alpha+t0), r)*hyp2f1(r, b, a+b-1, t0/(alpha+t0)))
		got := ExpectedRepeat(r, alpha, a, b, t0)
		if math.Abs(got-want) > 1e-6*math.Max(1, want) {
			t.Errorf("E[X(%g)] with r=%g alpha=%g a=%g b=%g: %.8f, closed form %.8f", t0, r, alpha, a, b, got, want)
		}
	}
}

func TestSolveAlpha(t *testing.T) {
	for _, target := range []float64{2, 5, 20, 50} {
		alpha, err := SolveAlpha(0.9, 0.8, 4, 104, 0.75, target)
		if err != nil {
			t.Fatal(err)
		}
		if got := MeanOrders(0.9, alpha, 0.8, 4, 104, 0.75); math.Abs(got-target) > 1e-6 {
			t.Errorf("target %g: alpha %g gives %g", target, alpha, got)
		}
	}
	if _, err := SolveAlpha(0.9, 3, 2, 104, 0.75, 1000); err == nil || !strings.Contains(err.Error(), "out of reach") {
		t.Errorf("unreachable target: err %v", err)
	}
}

// signalStats measures, over customers who died at least 30 weeks after
// signing up, ticket and event rates and mean NPS in the 8 weeks before
// death against the 22 weeks before that, and events after death.
type signalStats struct {
	ticketRatio, eventRatio, npsDrop float64
	afterDeathNonEmail               int
}

func measureSignals(t *testing.T, cfg Config) signalStats {
	ch := simulate(t, cfg, 20000)
	const wk = secondsPerWeek
	type win struct{ lateLo, late, early int64 }
	deaths := map[int32]win{}
	for _, tr := range ch.truth {
		if tr.died && tr.death-tr.signup >= 30*wk {
			deaths[tr.idx] = win{tr.death - 8*wk, tr.death, tr.death - 30*wk}
		}
	}
	if len(deaths) < 500 {
		t.Fatalf("only %d customers died late enough", len(deaths))
	}
	var tEarly, tLate, eEarly, eLate float64
	var npsEarly, npsLate, nEarly, nLate float64
	var st signalStats
	for _, r := range ch.tickets {
		if w, ok := deaths[r.idx]; ok {
			switch {
			case r.opened >= w.lateLo && r.opened <= w.late:
				tLate++
			case r.opened >= w.early && r.opened < w.lateLo:
				tEarly++
			}
		}
	}
	for _, r := range ch.events {
		if w, ok := deaths[r.idx]; ok {
			switch {
			case r.t > w.late && r.typ != 2:
				st.afterDeathNonEmail++
			case r.t >= w.lateLo && r.t <= w.late:
				eLate++
			case r.t >= w.early && r.t < w.lateLo:
				eEarly++
			}
		}
	}
	for _, r := range ch.surveys {
		if w, ok := deaths[r.idx]; ok {
			switch {
			case r.t >= w.late-4*wk && r.t <= w.late:
				npsLate += float64(r.nps)
				nLate++
			case r.t >= w.early && r.t < w.lateLo:
				npsEarly += float64(r.nps)
				nEarly++
			}
		}
	}
	// rates per week: late window 8 weeks, early window 22 weeks
	st.ticketRatio = (tLate / 8) / (tEarly / 22)
	st.eventRatio = (eLate / 8) / (eEarly / 22)
	st.npsDrop = npsEarly/nEarly - npsLate/nLate
	return st
}

// Behaviour shifts before death (ticket spike, fewer events, falling NPS),
// and does not when Signal is off.
func TestChurnSignals(t *testing.T) {
	on := measureSignals(t, Config{})
	t.Logf("signal on: %+v", on)
	if on.ticketRatio < 2 {
		t.Errorf("ticket rate before death ×%.2f, want a spike (≥ ×2)", on.ticketRatio)
	}
	if on.eventRatio > 0.8 {
		t.Errorf("event rate before death ×%.2f, want a decline (≤ ×0.8)", on.eventRatio)
	}
	if on.npsDrop < 1.5 {
		t.Errorf("NPS fell by %.2f in the last 4 weeks, want ≥ 1.5", on.npsDrop)
	}
	if on.afterDeathNonEmail != 0 {
		t.Errorf("%d logins/views after death", on.afterDeathNonEmail)
	}
	off := measureSignals(t, Config{Signal: -1})
	t.Logf("signal off: %+v", off)
	if math.Abs(off.ticketRatio-1) > 0.3 || math.Abs(off.eventRatio-1) > 0.1 || math.Abs(off.npsDrop) > 0.3 {
		t.Errorf("with --signal 0 behaviour still shifts: %+v", off)
	}
}

// Memory stays bounded: the heap in use while writing 4× more customers is
// not 4× larger (rows stream to disk chunk by chunk).
func TestBoundedMemory(t *testing.T) {
	peak := func(n int) uint64 {
		var max uint64
		var ms runtime.MemStats
		runtime.GC()
		cfg := Config{Customers: n, Seed: 1, Tables: []datasets.Table{datasets.Customers, datasets.Orders, datasets.Events}, Workers: 2}
		_, err := Generate(context.Background(), cfg, t.TempDir(), func(done int) {
			if done%(4*1024) == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				max = ms.HeapAlloc
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return max
	}
	small, big := peak(8*1024), peak(32*1024)
	t.Logf("live heap after GC: %d KiB at 8k customers, %d KiB at 32k", small>>10, big>>10)
	if big > 2*small+8<<20 {
		t.Errorf("live heap grows with the customer count: %d KiB → %d KiB", small>>10, big>>10)
	}
}

func TestTruthFiles(t *testing.T) {
	dir, sum := generate(t, Config{Customers: 2000, Seed: 9})
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		Seed  uint64             `json:"seed"`
		BGNBD map[string]float64 `json:"bgnbd"`
		GG    map[string]float64 `json:"gamma_gamma"`
		Rows  map[string]int64   `json:"rows"`
	}
	if err := json.Unmarshal(b, &tj); err != nil {
		t.Fatal(err)
	}
	if tj.Seed != 9 || tj.BGNBD["r"] != 0.9 || tj.BGNBD["alpha"] != 6 || tj.GG["p"] != 6.25 || tj.Rows["orders"] != sum.Rows[datasets.Orders] {
		t.Errorf("truth.json: %s", b)
	}
	truth, _ := os.ReadFile(filepath.Join(dir, "truth.csv"))
	lines := strings.Split(strings.TrimSpace(string(truth)), "\n")
	if len(lines) != 2001 || !strings.HasPrefix(lines[0], "customer_id,signed_up_at,lambda,dropout_p,spend_nu,mean_spend,alive_at_end,churned_at,orders") {
		t.Fatalf("truth.csv: %d lines, header %q", len(lines), lines[0])
	}
	orders, _ := os.ReadFile(filepath.Join(dir, "orders.csv"))
	if n := int64(bytes.Count(orders, []byte{'\n'})) - 1; n != sum.Rows[datasets.Orders] {
		t.Errorf("orders.csv has %d rows, summary says %d", n, sum.Rows[datasets.Orders])
	}
	if _, err := os.Stat(filepath.Join(dir, ".orders.csv.partial")); err == nil {
		t.Errorf("temporary file left behind")
	}
}

func TestValidateNamesFlag(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "--customers"},
		{Config{Customers: 1, Format: "json"}, "--format"},
		{Config{Customers: 1, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}, "--end"},
		{Config{Customers: 1, R: -1}, "--r"},
		{Config{Customers: 1, OrdersPerCustomer: 0.5}, "--orders-per-customer"},
		{Config{Customers: 1, Tables: []datasets.Table{"orders", "customers", "widgets"}}, "--tables"},
		{Config{Customers: 1, Tables: []datasets.Table{"events"}}, "--tables"},
	} {
		_, err := Generate(context.Background(), tc.cfg, t.TempDir(), nil)
		var ie InputError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !asInput(err, &ie) {
			t.Errorf("%+v: err %v, want a bad-input error naming %s", tc.cfg, err, tc.want)
		}
	}
}

func asInput(err error, ie *InputError) bool {
	v, ok := err.(InputError)
	*ie = v
	return ok && v.BadInput()
}

func TestAppendTime(t *testing.T) {
	for _, sec := range []int64{0, 951782400, 1672531199, 1704067200, 1709164800, 4102444799, 1735689599} {
		want := time.Unix(sec, 0).UTC().Format(CSVTimeFormat)
		if got := string(appendTime(nil, sec)); got != want {
			t.Errorf("appendTime(%d) = %s, want %s", sec, got, want)
		}
	}
}

func FuzzAppendTime(f *testing.F) {
	f.Add(int64(1700000000))
	f.Fuzz(func(t *testing.T, sec int64) {
		sec = sec % 253402300799 // years 0001..9999
		if sec < 0 {
			sec = -sec
		}
		want := time.Unix(sec, 0).UTC().Format(CSVTimeFormat)
		if got := string(appendTime(nil, sec)); got != want {
			t.Errorf("appendTime(%d) = %s, want %s", sec, got, want)
		}
	})
}
