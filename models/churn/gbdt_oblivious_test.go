package churn

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkSymmetric fails unless every inner node of a depth splits exactly
// like the others of that depth.
func checkSymmetric(t *testing.T, m *GBDT) (splitLevels int) {
	t.Helper()
	for ti, tr := range m.Trees {
		type split struct {
			f    int32
			thr  float64
			cats string
			dl   bool
		}
		levels := map[int]split{}
		var walk func(id int32, depth int)
		walk = func(id int32, depth int) {
			nd := tr.Nodes[id]
			if nd.Feature < 0 {
				return
			}
			cats, _ := json.Marshal(nd.Cats)
			s := split{nd.Feature, nd.Threshold, string(cats), nd.DefaultLeft}
			if prev, ok := levels[depth]; ok && prev != s {
				t.Fatalf("tree %d depth %d: splits %+v and %+v", ti, depth, prev, s)
			}
			levels[depth] = s
			walk(nd.Left, depth+1)
			walk(nd.Right, depth+1)
		}
		walk(0, 0)
		splitLevels += len(levels)
	}
	return splitLevels
}

func TestObliviousTreesAreSymmetric(t *testing.T) {
	cases := []struct {
		name string
		ds   *Dataset
		cfg  GBDTConfig
	}{
		// SyntheticChurn has missing values and two categorical features
		{"depth4", SyntheticChurn(3000, 12, 1), GBDTConfig{Trees: 20, MaxDepth: 4, EarlyStoppingRounds: -1}},
		{"depth6 all features", SyntheticChurn(3000, 12, 2), GBDTConfig{Trees: 10, MaxDepth: 6, ColSample: 1, Subsample: 1, EarlyStoppingRounds: -1}},
		{"heavy min_child_weight", SyntheticChurn(2000, 8, 3), GBDTConfig{Trees: 10, MaxDepth: 5, MinChildWeight: 40, EarlyStoppingRounds: -1}},
		{"quantised gradients", SyntheticChurn(110_000, 10, 4), GBDTConfig{Trees: 4, MaxDepth: 5, EarlyStoppingRounds: -1}},
		{"early stopping and refit", SyntheticChurn(3000, 10, 5), GBDTConfig{MaxDepth: 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Oblivious = ptr(true)
			tc.cfg.Seed = 7
			m, err := FitGBDT(context.Background(), tc.ds, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if n := checkSymmetric(t, m); n < 2*len(m.Trees) {
				t.Errorf("%d split levels in %d trees", n, len(m.Trees))
			}
			// a split at a deeper level that sends every row of a node
			// one way leaves that node a leaf (a feature split again
			// below a cut on it): covers stay positive
			for ti, tr := range m.Trees {
				for i, nd := range tr.Nodes {
					if nd.Feature >= 0 && (nd.Left <= int32(i) || nd.Right <= int32(i)) {
						t.Fatalf("tree %d node %d: children %d, %d", ti, i, nd.Left, nd.Right)
					}
					if !(nd.Cover > 0) {
						t.Fatalf("tree %d node %d: cover %v", ti, i, nd.Cover)
					}
				}
			}
		})
	}
}

func TestObliviousDeterministic(t *testing.T) {
	for _, rows := range []int{5000, 100_000} { // exact and quantised gradients
		ds := SyntheticChurn(rows, 12, 8)
		cfg := GBDTConfig{Trees: 6, MaxDepth: 5, Seed: 3, EarlyStoppingRounds: -1, Oblivious: ptr(true)}
		var first []byte
		for _, threads := range []int{1, 2, 5} {
			c := cfg
			c.Threads = threads
			m, err := FitGBDT(context.Background(), ds, c)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(m)
			if first == nil {
				first = b
			} else if !bytes.Equal(first, b) {
				t.Fatalf("%d rows, threads=%d: a different model", rows, threads)
			}
		}
		cfg.Seed = 4
		m, _ := FitGBDT(context.Background(), ds, cfg)
		if b, _ := json.Marshal(m); bytes.Equal(first, b) {
			t.Errorf("%d rows: another seed gives the same model", rows)
		}
	}
}

func TestObliviousLearnsToyProblems(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 4000
	mk := func(label func(x0, x1, c float64) bool) *Dataset {
		ds := &Dataset{X: [][]float64{make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)},
			Names: []string{"x0", "x1", "cat", "noise"}, Categorical: []bool{false, false, true, false}, Y: make([]float64, n)}
		for i := range n {
			x0, x1, c := rng.Float64(), rng.Float64(), float64(rng.IntN(5))
			if i%10 == 0 {
				x1 = math.NaN()
			}
			ds.X[0][i], ds.X[1][i], ds.X[2][i], ds.X[3][i] = x0, x1, c, rng.Float64()
			if label(x0, x1, c) {
				ds.Y[i] = 1
			}
		}
		return ds
	}
	cases := []struct {
		name  string
		label func(x0, x1, c float64) bool
	}{
		{"separable", func(x0, x1, _ float64) bool { return x0 > 0.6 }},
		{"xor", func(x0, x1, _ float64) bool { return (x0 > 0.5) != (x1 > 0.3 || math.IsNaN(x1)) }},
		{"category set", func(_, _, c float64) bool { return c == 1 || c == 4 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			train, test := mk(tc.label), mk(tc.label)
			m, err := FitGBDT(context.Background(), train, GBDTConfig{Trees: 80, MaxDepth: 3, LearningRate: 0.3, ColSample: 1, EarlyStoppingRounds: -1, Oblivious: ptr(true)})
			if err != nil {
				t.Fatal(err)
			}
			checkSymmetric(t, m)
			p := make([]float64, n)
			m.PredictProba(test.X, p)
			if auc := gbAUC(test.Y, p); auc < 0.999 {
				t.Errorf("test AUC %.4f, want >= 0.999", auc)
			}
		})
	}
}

// The default blend's trees are oblivious, and its explanations still add
// up exactly to its uncalibrated log-odds.
func TestDefaultBlendObliviousAndExact(t *testing.T) {
	ds := SyntheticChurn(2500, 10, 6)
	cfg := Config{GBDT: GBDTConfig{Trees: 40}}.WithDefaults()
	m, err := Fit(context.Background(), ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := m
	if c, ok := m.(*Calibrated); ok {
		base = c.Base
	}
	b, ok := base.(*Blend)
	if !ok {
		t.Fatalf("default model is %T", base)
	}
	trees := 0
	for _, p := range b.Parts {
		if g, ok := p.(*GBDT); ok {
			if !g.Config.oblivious() {
				t.Fatal("a blend GBDT is not oblivious")
			}
			checkSymmetric(t, g)
			trees++
		}
	}
	if trees != 3 {
		t.Fatalf("%d GBDT parts, want 3", trees)
	}
	raw := make([]float64, ds.Rows())
	base.PredictProba(ds.X, raw)
	dst := make([]float64, len(ds.X))
	for _, i := range []int{0, 5, 77, 2499} {
		z := base.Explain(ds.X, i, dst)
		for _, v := range dst {
			z += v
		}
		if math.Abs(sigmoid(z)-raw[i]) > 1e-9 {
			t.Errorf("row %d: explained %v, predicted %v", i, sigmoid(z), raw[i])
		}
	}
}

func TestObliviousConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   GBDTConfig
		want bool
	}{
		{"churn default", GBDTConfig{}, true},
		{"turned off", GBDTConfig{Oblivious: ptr(false)}, false},
		{"leaf-wise asked for", GBDTConfig{MaxLeaves: 12}, false},
	} {
		got := Config{GBDT: tc.in}.WithDefaults().GBDT
		if got.oblivious() != tc.want {
			t.Errorf("%s: oblivious %v, want %v", tc.name, got.oblivious(), tc.want)
		}
		if err := got.Validate("model.gbdt"); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if (GBDTConfig{}).WithDefaults().oblivious() {
		t.Error("plain GBDTConfig defaults to oblivious trees")
	}
	err := GBDTConfig{Oblivious: ptr(true), MaxLeaves: 8}.Validate("model.gbdt")
	if err == nil || !slices.Contains([]string{"model.gbdt.max_leaves: 8 cannot be used with oblivious trees (set oblivious: false)"}, err.Error()) {
		t.Errorf("oblivious + max_leaves: %v", err)
	}
}
