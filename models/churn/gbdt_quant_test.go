package churn

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// refMargin scores row i of X by walking every tree node by node from the
// TreeNode definitions (the specification the scoring layouts must match).
func refMargin(m *GBDT, X [][]float64, i int) float64 {
	z := m.BaseScore
	for _, tr := range m.Trees {
		k := int32(0)
		for tr.Nodes[k].Feature >= 0 {
			n := &tr.Nodes[k]
			x := X[n.Feature][i]
			var left bool
			switch {
			case math.IsNaN(x):
				left = n.DefaultLeft
			case n.Cats != nil:
				if x < 0 || x != math.Trunc(x) {
					left = n.DefaultLeft
					break
				}
				c := int(math.Min(x, 254))
				left = c/64 < len(n.Cats) && n.Cats[c/64]>>(c%64)&1 == 1
			default:
				left = x <= n.Threshold
			}
			if left {
				k = n.Left
			} else {
				k = n.Right
			}
		}
		z += tr.Nodes[k].Value
	}
	return z
}

// randomGBDT builds a model of random trees: numeric splits on a small grid
// of thresholds per feature (so rows hit them exactly), categorical splits
// with random sets over up to 4 words, random default directions, leaves
// at random depths up to maxDepth.
func randomGBDT(rng *rand.Rand, features, trees, maxDepth, gridSize int) *GBDT {
	m := &GBDT{BaseScore: rng.NormFloat64(), Names: make([]string, features), Categorical: make([]bool, features)}
	grid := make([][]float64, features)
	for j := range features {
		m.Names[j] = string(rune('a' + j%26))
		m.Categorical[j] = j%3 == 2
		for range gridSize {
			grid[j] = append(grid[j], math.Round(rng.NormFloat64()*1000)/100)
		}
		if j%2 == 0 { // signed zeros: x <= -0 holds for x = +0
			grid[j][0] = math.Copysign(0, -1)
		}
	}
	for range trees {
		var tr Tree
		var grow func(d int) int32
		grow = func(d int) int32 {
			k := int32(len(tr.Nodes))
			tr.Nodes = append(tr.Nodes, TreeNode{Feature: -1, Value: rng.NormFloat64() / 10})
			if d == maxDepth || (d > 1 && rng.IntN(4) == 0) {
				return k
			}
			n := TreeNode{Feature: int32(rng.IntN(features)), DefaultLeft: rng.IntN(2) == 0}
			if m.Categorical[n.Feature] {
				n.Cats = make([]uint64, 1+rng.IntN(4))
				for w := range n.Cats {
					n.Cats[w] = rng.Uint64()
				}
			} else {
				n.Threshold = grid[n.Feature][rng.IntN(gridSize)]
			}
			n.Left = grow(d + 1)
			n.Right = grow(d + 1)
			tr.Nodes[k] = n
			return k
		}
		grow(0)
		m.Trees = append(m.Trees, tr)
	}
	return m
}

// randomRows draws column-major rows mixing the thresholds themselves, values
// between them, NaN, ±Inf, ±0 and, for categorical features, codes above
// 254, negative and fractional codes.
func randomRows(rng *rand.Rand, m *GBDT, n int) [][]float64 {
	X := make([][]float64, len(m.Names))
	thr := make([][]float64, len(m.Names))
	for _, tr := range m.Trees {
		for _, nd := range tr.Nodes {
			if nd.Feature >= 0 && nd.Cats == nil {
				thr[nd.Feature] = append(thr[nd.Feature], nd.Threshold)
			}
		}
	}
	for j := range X {
		X[j] = make([]float64, n)
		for i := range n {
			var x float64
			switch r := rng.IntN(12); {
			case r == 0:
				x = math.NaN()
			case r >= 10:
				x = math.Copysign(0, float64(2*r-21)) // -0, +0
			case r == 1:
				x = math.Inf(1 - 2*rng.IntN(2))
			case m.Categorical[j]:
				x = float64(rng.IntN(300))
				if r == 2 {
					x = -x - 1
				} else if r == 3 {
					x += 0.5
				}
			case len(thr[j]) > 0 && r < 6:
				x = thr[j][rng.IntN(len(thr[j]))]
			default:
				x = rng.NormFloat64() * 10
			}
			X[j][i] = x
		}
	}
	return X
}

// TestGBDTScoringMatchesReference compares PredictMargin (whichever layout
// the model gets) with the node-by-node reference, bit for bit.
func TestGBDTScoringMatchesReference(t *testing.T) {
	fitted, err := FitGBDT(context.Background(), SyntheticChurn(3000, 12, 9),
		GBDTConfig{Trees: 40, MaxDepth: 6, EarlyStoppingRounds: -1})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		model     func(rng *rand.Rand) *GBDT
		rows      int
		wantQuant bool
	}{
		{"fitted synthetic (missing, categorical)", func(*rand.Rand) *GBDT { return fitted }, 1337, true},
		{"random depth 6", func(rng *rand.Rand) *GBDT { return randomGBDT(rng, 9, 50, 6, 20) }, 1000, true},
		{"random depth 14", func(rng *rand.Rand) *GBDT { return randomGBDT(rng, 7, 20, 14, 40) }, 777, true},
		{"random depth 3, one row", func(rng *rand.Rand) *GBDT { return randomGBDT(rng, 3, 5, 3, 5) }, 1, true},
		{"single leaves", func(rng *rand.Rand) *GBDT { return randomGBDT(rng, 3, 7, 0, 5) }, 300, true},
		{"254 thresholds on a feature", func(rng *rand.Rand) *GBDT { return randomGBDT(rng, 1, 200, 12, 254) }, 600, true},
		{"too many thresholds: float64 layout", func(rng *rand.Rand) *GBDT { return randomGBDT(rng, 2, 200, 12, 400) }, 600, false},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 11))
			m := c.model(rng)
			if err := m.prepare(); err != nil {
				t.Fatal(err)
			}
			if got := m.flat.quant != nil; got != c.wantQuant {
				t.Fatalf("byte-coded layout used = %v, want %v", got, c.wantQuant)
			}
			X := randomRows(rng, m, c.rows)
			if ci == 0 {
				X = SyntheticChurn(c.rows, 12, 10).X
			}
			got := make([]float64, c.rows)
			p := make([]float64, c.rows)
			m.PredictMargin(X, got)
			m.PredictProba(X, p)
			for i := range got {
				want := refMargin(m, X, i)
				if math.Float64bits(got[i]) != math.Float64bits(want) {
					t.Fatalf("row %d: margin %v, reference %v", i, got[i], want)
				}
				if p[i] != gbSigmoid(want) {
					t.Fatalf("row %d: probability %v, want %v", i, p[i], gbSigmoid(want))
				}
			}
		})
	}
}
