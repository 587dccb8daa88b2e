package churn

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/retainlab/retain/models/eval"
)

// synth draws y ~ Bernoulli(σ(0.5 + 1.5·x0 − x1 + 0.8·[c=2])) with x0, x1
// standard normal (x1 10% missing) and c a 3-level categorical.
func synth(n int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	ds := &Dataset{Names: []string{"x0", "x1", "c"}, Categorical: []bool{false, false, true}, X: make([][]float64, 3), Y: make([]float64, n)}
	for j := range ds.X {
		ds.X[j] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		x0, x1, c := rng.NormFloat64(), rng.NormFloat64(), float64(rng.IntN(3))
		z := 0.5 + 1.5*x0 - x1
		if c == 2 {
			z += 0.8
		}
		ds.X[0][i], ds.X[1][i], ds.X[2][i] = x0, x1, c
		if rng.Float64() < 0.1 {
			ds.X[1][i] = math.NaN()
		}
		if rng.Float64() < sigmoid(z) {
			ds.Y[i] = 1
		}
	}
	return ds
}

func TestLogRegRecoversCoefficients(t *testing.T) {
	ds := synth(20000, 7)
	m, err := FitLogReg(context.Background(), ds, LogRegConfig{C: 100, Knots: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Cols {
		if c.Kind != colNumeric {
			continue
		}
		want := map[int]float64{0: 1.5, 1: -1}[c.Feature]
		if got := c.Coef / c.Scale; math.Abs(got-want) > 0.1 {
			t.Errorf("feature %d: coefficient %.3f on the raw scale, want %.1f ± 0.1", c.Feature, got, want)
		}
	}
	// Explain adds up to the log-odds.
	p := make([]float64, ds.Rows())
	m.PredictProba(ds.X, p)
	dst := make([]float64, 3)
	for _, i := range []int{0, 1, 2, 99} {
		base := m.Explain(ds.X, i, dst)
		if got := sigmoid(base + dst[0] + dst[1] + dst[2]); math.Abs(got-p[i]) > 1e-12 {
			t.Errorf("row %d: explained probability %v, predicted %v", i, got, p[i])
		}
	}
	if auc := eval.AUC(ds.Y, p); auc < 0.8 {
		t.Errorf("training AUC %.3f, want ≥ 0.8", auc)
	}
}

func TestLogRegSingleClass(t *testing.T) {
	ds := synth(50, 1)
	clear(ds.Y)
	if _, err := FitLogReg(context.Background(), ds, LogRegConfig{}); err == nil || !strings.Contains(err.Error(), "single class") {
		t.Fatalf("err = %v, want a single-class error", err)
	}
}

func TestCalibratedCV(t *testing.T) {
	ds := synth(4000, 3)
	res, err := CrossValidate(context.Background(), ds, Config{Kind: "logreg"}, CVOptions{Folds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mean.AUC < 0.8 || res.Pooled.ECE > 0.03 {
		t.Errorf("CV AUC %.3f (want ≥ 0.8), pooled ECE %.3f (want ≤ 0.03)", res.Mean.AUC, res.Pooled.ECE)
	}
	if len(res.Folds) != 5 || res.Mean.N != 4000 {
		t.Errorf("folds %d, rows %d", len(res.Folds), res.Mean.N)
	}
}

func TestIsotonic(t *testing.T) {
	c := FitIsotonic([]float64{0.4, 0.1, 0.3, 0.2}, []float64{1, 0, 0, 1})
	// sorted y: 0 1 0 1 → blocks {.1:0} {.2,.3: .5} {.4: 1}
	wantX, wantY := []float64{0.1, 0.25, 0.4}, []float64{0, 0.5, 1}
	for k := range wantX {
		if math.Abs(c.X[k]-wantX[k]) > 1e-12 || c.Y[k] != wantY[k] {
			t.Fatalf("isotonic points %v %v, want %v %v", c.X, c.Y, wantX, wantY)
		}
	}
	for _, tc := range []struct{ p, want float64 }{{0, 0}, {0.175, 0.25}, {0.25, 0.5}, {0.9, 1}} {
		if got := c.Apply(tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Apply(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestPlattIdentityOnCalibratedScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	p := make([]float64, 20000)
	y := make([]float64, len(p))
	for i := range p {
		p[i] = sigmoid(2 * rng.NormFloat64())
		if rng.Float64() < p[i] {
			y[i] = 1
		}
	}
	c := FitPlatt(p, y)
	if math.Abs(c.A-1) > 0.06 || math.Abs(c.B) > 0.06 {
		t.Errorf("Platt A=%.3f B=%.3f, want ≈ 1, 0", c.A, c.B)
	}
}

func TestStratifiedFolds(t *testing.T) {
	y := make([]float64, 103)
	for i := range 31 {
		y[i*3] = 1
	}
	folds := StratifiedFolds(y, 5, rand.New(rand.NewPCG(1, 2)))
	pos, all := make([]int, 5), make([]int, 5)
	for i, f := range folds {
		all[f]++
		if y[i] == 1 {
			pos[f]++
		}
	}
	for f := range 5 {
		if pos[f] < 6 || pos[f] > 7 || all[f] < 20 || all[f] > 21 {
			t.Errorf("fold %d: %d rows, %d positives", f, all[f], pos[f])
		}
	}
}
