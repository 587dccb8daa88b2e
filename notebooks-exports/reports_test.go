package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retainlab/retain/models/eval"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestWilsonAndCampaignNumbers(t *testing.T) {
	var out []Outcome
	// win-back: 100 treated (60 retained, revenue 10 each retained), 50 control (20 retained, revenue 10 each retained)
	for i := 0; i < 100; i++ {
		out = append(out, Outcome{Campaign: "win-back", Retained: i < 60, Success: i < 30, Revenue: b2f(i < 60) * 10, Cost: 2})
	}
	for i := 0; i < 50; i++ {
		out = append(out, Outcome{Campaign: "win-back", Control: true, Retained: i < 20, Revenue: b2f(i < 20) * 10})
	}
	res := MeasureCampaigns(out)
	if len(res) != 1 {
		t.Fatalf("got %d campaigns", len(res))
	}
	r := res[0]
	checks := []struct {
		name      string
		got, want float64
	}{
		{"retention treatment", r.RetentionT, 0.6},
		{"retention control", r.RetentionC, 0.4},
		{"lift", r.Lift, 0.2},
		// Wilson interval for 60/100: (0.5020, 0.6906)
		{"wilson lo", r.RetentionTLo, 0.502002},
		{"wilson hi", r.RetentionTHi, 0.690599},
		// normal interval of the difference: 0.2 ± 1.96*sqrt(.24/100+.24/50)
		{"lift lo", r.LiftLo, 0.2 - 1.96*math.Sqrt(0.24/100+0.24/50)},
		{"revenue diff", r.RevenueDiff, 2},
		{"success", r.SuccessRate, 0.3},
		{"cost", r.Cost, 200},
		{"incremental revenue", r.IncrementalRevenue, 200},
		{"roi", r.ROI, 0},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-5 {
			t.Errorf("%s = %.6f, want %.6f", c.name, c.got, c.want)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestCohorts(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse("2006-01-02", s); return v }
	c := NewCohorts(d("2024-01-01"), d("2024-04-30"))
	// a: Jan, Jan, Mar; b: Jan; c: Feb, Mar, Apr
	c.Add("a", d("2024-01-03"))
	c.Add("a", d("2024-01-20"))
	c.Add("a", d("2024-03-02"))
	c.Add("b", d("2024-01-09"))
	c.Add("c", d("2024-02-01"))
	c.Add("c", d("2024-03-01"))
	c.Add("c", d("2024-04-01"))
	tab := c.Table()
	if got := strings.Join(tab.Labels, ","); got != "2024-01,2024-02" {
		t.Fatalf("cohorts %s", got)
	}
	want := [][]float64{{1, 0, 0.5, 0}, {1, 1, 1, math.NaN()}}
	for i := range want {
		for a := range want[i] {
			g, w := tab.Retention[i][a], want[i][a]
			if math.IsNaN(w) != math.IsNaN(g) || (!math.IsNaN(w) && g != w) {
				t.Errorf("retention[%d][%d] = %v, want %v", i, a, g, w)
			}
		}
	}
	if tab.RepeatRate != 2.0/3 {
		t.Errorf("repeat rate %v", tab.RepeatRate)
	}
	if got := fmt.Sprint(tab.Active); got != "[2 1 2 1]" {
		t.Errorf("active per month %s", got)
	}
}

// sampleReports builds the three reports from deterministic inputs.
func sampleReports() []*Report {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 400
	y := make([]float64, n)
	p := make([]float64, n)
	for i := range y {
		p[i] = rng.Float64()
		if rng.Float64() < p[i] {
			y[i] = 1
		}
	}
	names := []string{"recency_days", "frequency_365d", "monetary_365d"}
	shap := &SHAPSample{Names: names}
	for j := range names {
		c, v := make([]float64, 50), make([]float64, 50)
		for i := range c {
			v[i] = rng.Float64() * 100
			c[i] = (v[i] - 50) / 50 * float64(3-j)
		}
		shap.Contrib = append(shap.Contrib, c)
		shap.Value = append(shap.Value, v)
	}
	champ := eval.Evaluate(y, p)
	champ.AUC -= 0.01
	asOf := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	model := Model(ModelInput{Model: "gbdt", Version: "v1", AsOf: asOf, RunID: "r1", Y: y, P: p,
		Importance: []FeatureImportance{{"recency_days", 10, 0.9}, {"frequency_365d", 5, 0.5}, {"monetary_365d", 2, 0.2}},
		SHAP:       shap, Champion: &champ, ChampionID: "v0",
		Backtests: []BacktestPoint{{asOf.AddDate(0, -2, 0), champ}, {asOf.AddDate(0, -1, 0), champ}}})

	c := NewCohorts(asOf.AddDate(-1, 0, 0), asOf)
	for k := 0; k < 200; k++ {
		tm := asOf.AddDate(-1, 0, rng.IntN(300))
		for tm.Before(asOf) {
			c.Add(fmt.Sprintf("c%04d", k), tm)
			tm = tm.AddDate(0, 0, 10+rng.IntN(80))
		}
	}
	sc := &ScoreColumns{}
	tiers := []string{"low", "medium", "high"}
	segs := []string{"champions", "loyal", "at risk", "hibernating"}
	for i := 0; i < 300; i++ {
		pr := rng.Float64()
		clv := math.Exp(rng.NormFloat64() + 4)
		sc.ChurnProbability = append(sc.ChurnProbability, pr)
		sc.PredictedCLV = append(sc.PredictedCLV, clv)
		sc.HistoricCLV = append(sc.HistoricCLV, clv*2)
		sc.ValueAtRisk = append(sc.ValueAtRisk, pr*clv)
		sc.Tier = append(sc.Tier, tiers[int(pr*2.999)])
		sc.Segment = append(sc.Segment, segs[i%4])
	}
	ret := Retention(RetentionInput{AsOf: asOf, RunID: "r1", Cohorts: c.Table(), Scores: sc, Currency: "GBP",
		Holdout: []HoldoutRow{{0, 1411, 0.23, 0.24}, {1, 439, 0.64, 0.62}, {2, 214, 1.2, 1.1}}})

	var outs []Outcome
	for i := 0; i < 300; i++ {
		ctl := i%5 == 0
		outs = append(outs, Outcome{Campaign: []string{"win-back", "save-offer"}[i%2], Control: ctl, Retained: rng.Float64() < 0.5+b2f(!ctl)*0.1, Revenue: rng.Float64() * 50, Cost: b2f(!ctl) * 3})
	}
	camp := Campaign(CampaignInput{AsOf: asOf, RunID: "r1", Outcomes: outs, Currency: "GBP"})
	return []*Report{model, ret, camp}
}

// TestPlotDataGolden pins the numbers behind every plot and table.
func TestPlotDataGolden(t *testing.T) {
	for _, r := range sampleReports() {
		var b strings.Builder
		for _, tab := range r.dataTables() {
			if err := tab.Validate(); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "## %s (%d rows)\n", tab.Name, tab.Len())
			for j, c := range tab.Columns {
				if j > 0 {
					b.WriteString(",")
				}
				b.WriteString(c.Name)
			}
			b.WriteString("\n")
			for i := 0; i < tab.Len(); i++ {
				for j, c := range tab.Columns {
					if j > 0 {
						b.WriteString(",")
					}
					if c.Strings != nil {
						b.WriteString(c.Strings[i])
					} else {
						fmt.Fprintf(&b, "%.6g", c.Floats[i])
					}
				}
				b.WriteString("\n")
			}
		}
		for _, m := range r.Headline {
			fmt.Fprintf(&b, "headline %s = %s\n", m.Label, m.Value)
		}
		golden(t, filepath.Join("testdata", r.Kind+".golden"), b.String())
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (run go test -update after checking the change)\n%s", path, firstDiff(string(want), got))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n want %q\n  got %q", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("length %d vs %d lines", len(al), len(bl))
}

// needTool returns the path of an external program the test needs; on CI
// (CI=true) a missing tool fails the test, elsewhere it skips.
func needTool(t *testing.T, path string, check ...string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		if len(check) == 0 {
			return path
		}
		if err := exec.Command(path, check...).Run(); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s %v is not available (.ci/run installs it)", path, check)
	}
	t.Skipf("%s %v not available", path, check)
	return ""
}

func writeAll(t *testing.T) (string, []*Report) {
	t.Helper()
	dir := t.TempDir()
	reps := sampleReports()
	for _, r := range reps {
		if _, err := r.Write(context.Background(), filepath.Join(dir, r.Kind)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, reps
}

func TestNotebooksValidate(t *testing.T) {
	py := needTool(t, "/usr/bin/python3", "-c", "import nbformat")
	dir, reps := writeAll(t)
	for _, r := range reps {
		nb := filepath.Join(dir, r.Kind, "report.ipynb")
		raw, err := os.ReadFile(nb)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", nb, err)
		}
		images := strings.Count(string(raw), `"image/svg+xml"`)
		if images == 0 {
			t.Errorf("%s has no image outputs", nb)
		}
		// nbformat's own schema validation (pandas/pyarrow are not packaged
		// here; the Parquet files are read back in TestDataFilesReadBack).
		script := `import sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nbformat.validate(nb)
print(len(nb.cells))`
		out, err := exec.Command(py, "-c", script, nb).CombinedOutput()
		if err != nil {
			t.Errorf("%s does not validate: %v\n%s", nb, err, out)
		}
	}
}

func TestHTMLRendersInChromium(t *testing.T) {
	chrome := needTool(t, "/usr/bin/chromium")
	dir, reps := writeAll(t)
	for _, r := range reps {
		html := filepath.Join(dir, r.Kind, "report.html")
		raw, _ := os.ReadFile(html)
		if bytes.Contains(raw, []byte("http://")) && !bytes.Contains(raw, []byte("http://www.w3.org/2000/svg")) || bytes.Contains(raw, []byte("https://")) {
			t.Errorf("%s refers to the network", html)
		}
		shot := filepath.Join(dir, r.Kind+".png")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
			"--user-data-dir="+filepath.Join(dir, "chrome-"+r.Kind), "--enable-logging=stderr", "--v=0",
			"--window-size=1200,1600", "--screenshot="+shot, "file://"+html)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("chromium on %s: %v\n%s", html, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") {
				t.Errorf("%s: console message: %s", r.Kind, line)
			}
		}
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v\n%s", err, out)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		colours := map[uint32]bool{}
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y += 4 {
			for x := b.Min.X; x < b.Max.X; x += 4 {
				r, g, bb, _ := img.At(x, y).RGBA()
				colours[(r>>8)<<16|(g>>8)<<8|bb>>8] = true
			}
		}
		if len(colours) < 20 {
			t.Errorf("%s screenshot looks blank (%d colours)", r.Kind, len(colours))
		}
	}
}

func TestDataFilesReadBack(t *testing.T) {
	dir, reps := writeAll(t)
	for _, r := range reps {
		for _, tab := range r.dataTables() {
			p := filepath.Join(dir, r.Kind, "data", tab.Name+".parquet")
			rows, cols, err := readParquetShape(p)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if rows != tab.Len() || cols != len(tab.Columns) {
				t.Errorf("%s: %d×%d, want %d×%d", p, rows, cols, tab.Len(), len(tab.Columns))
			}
		}
	}
}

func TestExportForNotebooks(t *testing.T) {
	dir := t.TempDir()
	n := 200000
	ids := make([]string, n)
	v := make([]float64, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%06d", i)
		v[i] = float64(i) / 7
		if i%11 == 0 {
			v[i] = math.NaN()
		}
	}
	src := filepath.Join(dir, "src.parquet")
	if err := WriteParquet(src, &Table{Columns: []Column{S("customer_id", ids), F("x", v)}}); err != nil {
		t.Fatal(err)
	}
	ex, err := ExportForNotebooks(context.Background(), src, filepath.Join(dir, "exports"), "scores")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Rows != int64(n) || ex.Columns != 2 {
		t.Fatalf("export %+v", ex)
	}
	rows, schema, err := ReadIPCRows(ex.IPC)
	if err != nil {
		t.Fatal(err)
	}
	if rows != int64(n) || schema.Field(0).Name != "customer_id" || !schema.Field(1).Nullable {
		t.Fatalf("IPC rows %d schema %v", rows, schema)
	}
}
