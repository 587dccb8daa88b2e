package churn

import (
	"context"
	"math"
	"testing"
)

// condExpect is E[f(x) | x_S] of one tree: follow x at splits on features in
// S, otherwise average the children weighted by cover.
func condExpect(m *GBDT, t int, node int32, X [][]float64, row int, inS func(int32) bool) float64 {
	n := &m.Trees[t].Nodes[node]
	if n.Feature < 0 {
		return n.Value
	}
	if inS(n.Feature) {
		fn := m.flat.nodes[m.flat.roots[t]+node]
		if m.flat.goLeft(&fn, X[n.Feature][row]) == 1 {
			return condExpect(m, t, n.Left, X, row, inS)
		}
		return condExpect(m, t, n.Right, X, row, inS)
	}
	l, r := &m.Trees[t].Nodes[n.Left], &m.Trees[t].Nodes[n.Right]
	return (l.Cover*condExpect(m, t, n.Left, X, row, inS) + r.Cover*condExpect(m, t, n.Right, X, row, inS)) / n.Cover
}

// bruteShapley enumerates every feature subset.
func bruteShapley(m *GBDT, X [][]float64, row int) []float64 {
	F := len(m.Names)
	value := func(mask int) float64 {
		v := m.BaseScore
		for t := range m.Trees {
			v += condExpect(m, t, 0, X, row, func(j int32) bool { return mask>>j&1 == 1 })
		}
		return v
	}
	vals := make([]float64, 1<<F)
	for mask := range vals {
		vals[mask] = value(mask)
	}
	fact := func(n int) float64 { g, _ := math.Lgamma(float64(n) + 1); return math.Exp(g) }
	phi := make([]float64, F)
	for i := range F {
		for mask := range vals {
			if mask>>i&1 == 1 {
				continue
			}
			s := 0
			for j := range F {
				s += mask >> j & 1
			}
			w := fact(s) * fact(F-s-1) / fact(F)
			phi[i] += w * (vals[mask|1<<i] - vals[mask])
		}
	}
	return phi
}

func TestTreeSHAPMatchesBruteForce(t *testing.T) {
	cases := []struct {
		name string
		cfg  GBDTConfig
	}{
		{"depth3", GBDTConfig{Trees: 5, MaxDepth: 3, EarlyStoppingRounds: -1, LearningRate: 0.3}},
		{"depth6 repeated features", GBDTConfig{Trees: 3, MaxDepth: 6, EarlyStoppingRounds: -1, LearningRate: 0.3, ColSample: 1}},
		{"leafwise", GBDTConfig{Trees: 4, MaxDepth: 8, MaxLeaves: 12, EarlyStoppingRounds: -1, Subsample: 1}},
		{"oblivious depth3", GBDTConfig{Trees: 5, MaxDepth: 3, EarlyStoppingRounds: -1, LearningRate: 0.3, Oblivious: ptr(true)}},
		{"oblivious depth6 repeated features", GBDTConfig{Trees: 3, MaxDepth: 6, EarlyStoppingRounds: -1, LearningRate: 0.3, ColSample: 1, Oblivious: ptr(true)}},
	}
	ds := SyntheticChurn(3000, 8, 3)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := FitGBDT(context.Background(), ds, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			margin := make([]float64, ds.Rows())
			m.PredictMargin(ds.X, margin)
			phi := make([]float64, len(ds.X))
			for row := range 25 {
				base := m.Explain(ds.X, row, phi)
				want := bruteShapley(m, ds.X, row)
				sum := base
				for j := range phi {
					sum += phi[j]
					if math.Abs(phi[j]-want[j]) > 1e-9 {
						t.Fatalf("row %d feature %d: TreeSHAP %v, brute force %v", row, j, phi[j], want[j])
					}
				}
				if math.Abs(sum-margin[row]) > 1e-9 {
					t.Fatalf("row %d: base + Σφ = %v, margin %v", row, sum, margin[row])
				}
			}
			// the batch API agrees with the single-row one
			rows := []int{3, 1, 4, 1, 5}
			batch := make([]float64, len(rows)*len(ds.X))
			m.ExplainRows(ds.X, rows, batch)
			for k, row := range rows {
				m.Explain(ds.X, row, phi)
				for j := range phi {
					if batch[k*len(phi)+j] != phi[j] {
						t.Fatalf("ExplainRows row %d feature %d: %v vs %v", row, j, batch[k*len(phi)+j], phi[j])
					}
				}
			}
		})
	}
}

func TestTreeSHAPPerRowPathAgreesWithTable(t *testing.T) {
	ds := SyntheticChurn(2000, 10, 5)
	m, err := FitGBDT(context.Background(), ds, GBDTConfig{Trees: 5, MaxDepth: 5, EarlyStoppingRounds: -1})
	if err != nil {
		t.Fatal(err)
	}
	sf := m.shapModel()
	for ti := range sf.trees {
		for li := range sf.trees[ti].leaves {
			l := &sf.trees[ti].leaves[li]
			d := len(l.feats)
			out := make([]float64, d)
			for pat := range 1 << d {
				leafContrib(l, pat, out)
				for s := range out {
					if out[s] != l.table[pat*d+s] {
						t.Fatal("table differs from direct computation")
					}
				}
			}
		}
	}
}
