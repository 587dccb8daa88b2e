package pipeline

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/retainlab/retain/models/churn"
)

// refPercentiles and refQuintiles are the ranks as computed before the
// sorts were replaced: index stable sorts with the same tie rule.
func refPercentiles(p []float64) []float64 {
	n := len(p)
	ord := make([]int, n)
	for i := range ord {
		ord[i] = i
	}
	sort.SliceStable(ord, func(a, b int) bool { return p[ord[a]] < p[ord[b]] })
	out := make([]float64, n)
	for k := 0; k < n; {
		e := k
		for e+1 < n && p[ord[e+1]] == p[ord[k]] {
			e++
		}
		for m := k; m <= e; m++ {
			out[ord[m]] = 100 * float64(k) / float64(n)
		}
		k = e + 1
	}
	return out
}

func refQuintiles(v []float64, up bool) []int8 {
	ord := []int{}
	out := make([]int8, len(v))
	for i, x := range v {
		if math.IsNaN(x) {
			out[i] = 1
			continue
		}
		ord = append(ord, i)
	}
	sort.SliceStable(ord, func(a, b int) bool {
		if up {
			return v[ord[a]] < v[ord[b]]
		}
		return v[ord[a]] > v[ord[b]]
	})
	m := len(ord)
	for k := 0; k < m; {
		e := k
		for e+1 < m && v[ord[e+1]] == v[ord[k]] {
			e++
		}
		for j := k; j <= e; j++ {
			out[ord[j]] = int8(1 + 5*k/max(m, 1))
		}
		k = e + 1
	}
	return out
}

// The ranks must not change with the sort: ties, signed zeros, infinities
// and (for percentiles, where the stable sort's order with NaN is kept) NaN.
func TestRanksMatchStableSortRanks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		n := rng.IntN(400)
		v := make([]float64, n)
		for i := range v {
			switch rng.IntN(9) {
			case 0:
				v[i] = float64(rng.IntN(4)) // ties
			case 1:
				v[i] = math.Copysign(0, -1)
			case 2:
				v[i] = math.Inf(1 - 2*rng.IntN(2))
			case 3:
				if trial%2 == 0 {
					v[i] = math.NaN()
				}
			default:
				v[i] = rng.NormFloat64()
			}
		}
		if got, want := percentiles(v), refPercentiles(v); !slices.Equal(got, want) {
			t.Fatalf("trial %d: percentiles %v, before %v (values %v)", trial, got, want, v)
		}
		for _, up := range []bool{true, false} {
			if got, want := quintiles(v, up), refQuintiles(v, up); !slices.Equal(got, want) {
				t.Fatalf("trial %d (up %v): quintiles %v, before %v (values %v)", trial, up, got, want, v)
			}
		}
	}
}

// predictRows scores blocks of rows on several goroutines: the same
// probabilities as one call over every row.
func TestPredictRowsIsOneCall(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	n := 3<<16 + 123
	X := [][]float64{make([]float64, n), make([]float64, n)}
	for i := range n {
		X[0][i], X[1][i] = rng.ExpFloat64()*10, rng.NormFloat64()
		if i%17 == 0 {
			X[0][i] = math.NaN()
		}
	}
	m := &churn.LogReg{Names: []string{"a", "b"}, Intercept: -0.3, Cols: []churn.LRColumn{
		{Feature: 0, Kind: "numeric", Log: true, Fill: 1, Mean: 1.5, Scale: 0.7, Coef: 0.9, Lo: 0, Hi: 4},
		{Feature: 0, Kind: "hinge", Log: true, Cat: 2, Fill: 0, Mean: 0.2, Scale: 0.4, Coef: -0.5},
		{Feature: 0, Kind: "missing", Mean: 0.06, Scale: 0.2, Coef: 0.3},
		{Feature: 1, Kind: "numeric", Mean: 0, Scale: 1, Coef: 0.4, Lo: -2, Hi: 2},
	}}
	want, got := make([]float64, n), make([]float64, n)
	m.PredictProba(X, want)
	predictRows(m, X, got)
	for i := range n {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("row %d: %v in blocks, %v in one call", i, got[i], want[i])
		}
	}
}
