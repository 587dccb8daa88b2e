package features

import (
	"math"
	"testing"
)

func TestAlign(t *testing.T) {
	nan := math.NaN()
	f := &Frame{
		IDs:   []string{"a", "b", "c"},
		Names: []string{"x", "country"},
		Registry: []Def{{Name: "x", Kind: Numeric},
			{Name: "country", Kind: Categorical, Categories: []string{"DE", "FR", "NZ"}}},
		X: [][]float64{{1, 2, 3}, {0, 2, nan}},
	}
	train := []Def{{Name: "country", Kind: Categorical, Categories: []string{"DE", "FR", "UK"}}, {Name: "missing", Kind: Numeric}, {Name: "x", Kind: Numeric}}
	g := f.Align(train)
	if len(g.X) != 3 || g.Names[0] != "country" || g.Names[2] != "x" {
		t.Fatalf("names %v", g.Names)
	}
	if g.X[0][0] != 0 || !math.IsNaN(g.X[0][1]) || !math.IsNaN(g.X[0][2]) {
		t.Errorf("country recoded to %v, want [0 NaN NaN] (NZ unseen in training)", g.X[0])
	}
	for _, v := range g.X[1] {
		if !math.IsNaN(v) {
			t.Errorf("missing feature should be null, got %v", g.X[1])
		}
	}
	if g.X[2][2] != 3 {
		t.Errorf("x = %v", g.X[2])
	}
}
