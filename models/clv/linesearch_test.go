package clv

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"os"
	"strconv"
	"testing"
)

// TestFitEndsWhenLineSearchCycles: on this data and start the More-Thuente
// line search once asked for the same point forever; the evaluation cap
// must end the run, and the end point (a stationary point) counts as
// converged by its gradient.
func TestFitEndsWhenLineSearchCycles(t *testing.T) {
	f, err := os.Open("testdata/bgnbd_linesearch_cycle.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var x, tx, T, w []float64
	for i, r := range rows[1:] {
		var v [4]float64
		for j := range v {
			if v[j], err = strconv.ParseFloat(r[j], 64); err != nil {
				t.Fatalf("row %d: %v", i+2, err)
			}
		}
		x, tx, T, w = append(x, v[0]), append(tx, v[1]/7), append(T, v[2]/7), append(w, v[3])
	}
	m, rep, err := FitBGNBD(context.Background(), x, tx, T, w, &Options{Init: []float64{1, 14.049349119820322, 1, 1}, SkipStdErr: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Converged {
		t.Fatalf("not converged: %s (gradient norm %.3g)", rep.Status, rep.GradNorm)
	}
	// the same data from lifetimes' start (0.1, 1, 0.5, 2) converges normally
	m2, rep2, err := FitBGNBD(context.Background(), x, tx, T, w, &Options{Init: []float64{0.1, 1, 0.5, 2}, SkipStdErr: true})
	if err != nil || !rep2.Converged {
		t.Fatal(err, rep2)
	}
	for i, p := range [][2]float64{{m.R, m2.R}, {m.Alpha, m2.Alpha}, {m.A, m2.A}, {m.B, m2.B}} {
		near(t, BGNBDParams[i], p[0], p[1], 1e-5*p[1])
	}
	t.Logf("%s; %d evaluations; %+v", rep.Status, rep.Evaluations, m)
}
