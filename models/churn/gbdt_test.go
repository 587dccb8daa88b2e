package churn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func holdout(ds *Dataset, n int) (*Dataset, *Dataset) {
	tr, te := make([]int, 0, n), make([]int, 0, ds.Rows()-n)
	for i := range ds.Rows() {
		if i < n {
			tr = append(tr, i)
		} else {
			te = append(te, i)
		}
	}
	return subset(ds, tr), subset(ds, te)
}

func TestGBDTLearnsSyntheticChurn(t *testing.T) {
	train, test := holdout(SyntheticChurn(14000, 16, 11), 10000)
	m, err := FitGBDT(context.Background(), train, GBDTConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := make([]float64, test.Rows())
	m.PredictProba(test.X, p)
	auc := gbAUC(test.Y, p)
	if auc < 0.78 {
		t.Errorf("test AUC %.4f, want >= 0.78", auc)
	}
	if len(m.Trees) == 0 || m.Rounds < len(m.Trees)/2 {
		t.Errorf("trees %d, rounds %d", len(m.Trees), m.Rounds)
	}
	for i, v := range p {
		if !(v > 0 && v < 1) {
			t.Fatalf("row %d: probability %v", i, v)
		}
	}
	imp := m.GainImportance()
	var sum float64
	for _, v := range imp {
		sum += v
	}
	if math.Abs(sum-1) > 1e-9 || imp[0] < imp[15] {
		t.Errorf("gain importance %v: want sum 1 and recency above a noise feature", imp)
	}
	shap := m.MeanAbsSHAP(test.X)
	if shap[0] <= shap[15] {
		t.Errorf("mean |SHAP| %v: want recency above a noise feature", shap)
	}
}

func TestGBDTDeterministicWhateverTheThreads(t *testing.T) {
	ds := SyntheticChurn(100000, 12, 2) // big enough for row-block histograms, parallel partitions and quantised gradients
	var first []byte
	for _, threads := range []int{1, 2, 5} {
		m, err := FitGBDT(context.Background(), ds, GBDTConfig{Trees: 8, Threads: threads, Seed: 9, MaxDepth: 6, EarlyStoppingRounds: -1})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Fatalf("threads=%d gives a different model", threads)
		}
	}
	m2, _ := FitGBDT(context.Background(), ds, GBDTConfig{Trees: 8, Seed: 10, MaxDepth: 6, EarlyStoppingRounds: -1})
	if b, _ := json.Marshal(m2); bytes.Equal(first, b) {
		t.Error("another seed gives the same model")
	}
}

func TestGBDTLevelWiseSameAsBestFirst(t *testing.T) {
	// quantised gradients and only the depth limiting the trees: the trainer
	// grows them level by level; the model must be the one best-first
	// growth gives, node numbers included
	ds := SyntheticChurn(120000, 20, 5)
	for _, cfg := range []GBDTConfig{
		{Trees: 5, MaxDepth: 5, Seed: 3, Subsample: 0.8, ColSample: 0.7, MinChildWeight: 5, EarlyStoppingRounds: -1},
		{Trees: 4, MaxDepth: 7, Seed: 4, Subsample: 1, ColSample: 1, MinSplitGain: 0.5, EarlyStoppingRounds: -1},
	} {
		var out [2][]byte
		for k, bestFirst := range []bool{false, true} {
			c := cfg
			c.bestFirst = bestFirst
			m, err := FitGBDT(context.Background(), ds, c)
			if err != nil {
				t.Fatal(err)
			}
			if out[k], err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(out[0], out[1]) {
			t.Errorf("depth %d: level-wise and best-first growth give different models", cfg.MaxDepth)
		}
	}
}

func TestGBDTJSONRoundTrip(t *testing.T) {
	ds := SyntheticChurn(5000, 10, 4)
	m, err := FitGBDT(context.Background(), ds, GBDTConfig{Trees: 20, EarlyStoppingRounds: -1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back GBDT
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var model Model = &back
	p1, p2 := make([]float64, ds.Rows()), make([]float64, ds.Rows())
	m.PredictProba(ds.X, p1)
	model.PredictProba(ds.X, p2)
	for i := range p1 {
		if p1[i] != p2[i] {
			t.Fatalf("row %d: %v before, %v after the round trip", i, p1[i], p2[i])
		}
	}
	phi1, phi2 := make([]float64, 10), make([]float64, 10)
	if m.Explain(ds.X, 7, phi1) != back.Explain(ds.X, 7, phi2) || !equalFloats(phi1, phi2) {
		t.Error("explanations differ after the round trip")
	}
	if model.Kind() != "gbdt" || len(model.Features()) != 10 {
		t.Errorf("kind %q, %d features", model.Kind(), len(model.Features()))
	}
	bad := bytes.Replace(b, []byte(`"l":1,`), []byte(`"l":0,`), 1)
	if err := json.Unmarshal(bad, new(GBDT)); err == nil || !strings.Contains(err.Error(), "bad children") {
		t.Errorf("corrupt tree: err = %v", err)
	}
}

func equalFloats(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestGBDTMissingAndCategorical checks that missing values learn their own
// direction and that unordered categories are split as sets.
func TestGBDTMissingAndCategorical(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 4000
	ds := &Dataset{X: [][]float64{make([]float64, n), make([]float64, n)}, Names: []string{"x", "cat"}, Categorical: []bool{false, true}, Y: make([]float64, n)}
	for i := range n {
		x := rng.Float64()
		c := float64(rng.IntN(6))
		y := 0.0
		switch {
		case i%4 == 0:
			x = math.NaN() // missing: churners
			y = 1
		case c == 0 || c == 3 || c == 5: // unordered set of risky categories
			y = 1
		}
		ds.X[0][i], ds.X[1][i], ds.Y[i] = x, c, y
	}
	m, err := FitGBDT(context.Background(), ds, GBDTConfig{Trees: 60, LearningRate: 0.3, EarlyStoppingRounds: -1, ColSample: 1, Subsample: 1})
	if err != nil {
		t.Fatal(err)
	}
	X := [][]float64{{math.NaN(), 0.5, 0.5, 0.5, 0.5, 0.2}, {1, 0, 1, 3, 4, math.NaN()}}
	want := []bool{true, true, false, true, false, false}
	p := make([]float64, 6)
	m.PredictProba(X, p)
	for i := range p {
		if (p[i] > 0.5) != want[i] {
			t.Errorf("row %d (%v, %v): p = %.3f, want churn=%v", i, X[0][i], X[1][i], p[i], want[i])
		}
	}
	hasCat := false
	for _, tr := range m.Trees {
		for _, nd := range tr.Nodes {
			hasCat = hasCat || nd.Cats != nil
		}
	}
	if !hasCat {
		t.Error("no categorical split")
	}
}

func TestGBDTBadInput(t *testing.T) {
	ctx := context.Background()
	ds := SyntheticChurn(100, 8, 1)
	one := &Dataset{X: ds.X, Y: make([]float64, 100)}
	if _, err := FitGBDT(ctx, one, GBDTConfig{}); !errors.Is(err, ErrNoVariance) {
		t.Errorf("single class: err = %v", err)
	}
	bad := &Dataset{X: ds.X, Y: append([]float64{2}, ds.Y[1:]...)}
	if _, err := FitGBDT(ctx, bad, GBDTConfig{}); err == nil || !strings.Contains(err.Error(), "row 0") {
		t.Errorf("label 2: err = %v", err)
	}
	for _, tc := range []struct {
		cfg GBDTConfig
		key string
	}{
		{GBDTConfig{LearningRate: 2}, "gbdt.learning_rate"},
		{GBDTConfig{MaxBins: 300}, "gbdt.max_bins"},
		{GBDTConfig{Subsample: -0.1}, "gbdt.subsample"},
		{GBDTConfig{MaxLeaves: 1}, "gbdt.max_leaves"},
		{GBDTConfig{ValidationFraction: 1}, "gbdt.validation_fraction"},
	} {
		if err := tc.cfg.Validate("gbdt"); err == nil || !strings.HasPrefix(err.Error(), tc.key) {
			t.Errorf("%+v: err = %v, want it to name %s", tc.cfg, err, tc.key)
		}
	}
	if err := (GBDTConfig{}).Validate("gbdt"); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestGBDTEarlyStoppingAndValidationSet(t *testing.T) {
	train, valid := holdout(SyntheticChurn(6000, 10, 8), 5000)
	m, err := FitGBDT(context.Background(), train, GBDTConfig{LearningRate: 0.3, Trees: 2000, Validation: valid, EarlyStoppingRounds: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Trees) >= 2000 || m.Rounds != len(m.Trees)+10 || m.ValidLogLoss <= 0 {
		t.Errorf("trees %d, rounds %d, valid log loss %v", len(m.Trees), m.Rounds, m.ValidLogLoss)
	}
}

func TestBinning(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	col := []float64{3, 1, 2, 2, math.NaN(), 1}
	fb := buildBins(col, false, 255, rng)
	if fb.NBins != 3 {
		t.Fatalf("3 distinct values: %d bins", fb.NBins)
	}
	for _, tc := range []struct {
		x    float64
		code uint8
	}{{1, 0}, {1.4, 0}, {2, 1}, {3, 2}, {99, 2}, {-5, 0}, {math.NaN(), 3}} {
		if c := fb.code(tc.x); c != tc.code {
			t.Errorf("code(%v) = %d, want %d", tc.x, c, tc.code)
		}
	}
	big := make([]float64, 100000)
	for i := range big {
		big[i] = rng.ExpFloat64()
	}
	fb = buildBins(big, false, 255, rng)
	if fb.NBins < 200 || fb.NBins > 255 {
		t.Errorf("continuous feature: %d bins", fb.NBins)
	}
	cat := buildBins([]float64{0, 4, 2, math.NaN(), 1.5, -1}, true, 255, rng)
	if cat.NBins != 5 || cat.code(4) != 4 || cat.code(1.5) != 5 || cat.code(-1) != 5 || cat.code(7) != 5 {
		t.Errorf("categorical bins %+v", cat)
	}
}
