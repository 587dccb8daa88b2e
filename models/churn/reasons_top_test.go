package churn

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// top must give the head of the stable descending sort it replaced: ties
// in feature order, positive contributions only, NaNs as the sort has them.
func TestExplainerTopIsStableSortHead(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 11))
	for trial := range 2000 {
		n, k := 1+rng.IntN(12), rng.IntN(6)
		e := &Explainer{buf: make([]float64, n), ord: make([]int, n)}
		for j := range e.buf {
			switch rng.IntN(8) {
			case 0:
				e.buf[j] = 0
			case 1:
				e.buf[j] = float64(rng.IntN(3)) // ties
			case 2:
				if trial%3 == 0 {
					e.buf[j] = math.NaN()
				}
			default:
				e.buf[j] = rng.NormFloat64()
			}
		}
		ord := make([]int, n)
		for j := range ord {
			ord[j] = j
		}
		sort.SliceStable(ord, func(a, b int) bool { return e.buf[ord[a]] > e.buf[ord[b]] })
		var want []int
		for _, j := range ord {
			if len(want) == k || e.buf[j] <= 0 {
				break
			}
			want = append(want, j)
		}
		if got := e.top(k); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("trial %d: contributions %v, k %d: top %v, stable sort %v", trial, e.buf, k, got, want)
		}
	}
}
