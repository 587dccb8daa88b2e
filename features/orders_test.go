package features

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestOrdersKernelMatchesRowwise checks that the split orders kernel gives
// the same bits as the row-by-row one: random customers (same-day orders,
// nulls in every column, orders exactly at window edges and at the cutoff),
// several cutoffs, with and without a lookback.
func TestOrdersKernelMatchesRowwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	D0 := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	o := &ordersCols{}
	var custRuns [][2]int
	for c := 0; c < 3000; c++ {
		n := rng.IntN(30)
		if c%50 == 0 {
			n = 0
		}
		times := make([]int64, n)
		for i := range times {
			switch rng.IntN(8) {
			case 0: // on a window edge of the first cutoff
				edges := []int64{0, 30, 90, 180, 360, 365}
				times[i] = D0 - edges[rng.IntN(len(edges))]*dayUS
			case 1: // same day as another order
				if i > 0 {
					times[i] = times[i-1] + rng.Int64N(3600e6)
				} else {
					times[i] = D0 - rng.Int64N(800*dayUS)
				}
			case 2:
				times[i] = noTime
			default:
				times[i] = D0 - 700*dayUS + rng.Int64N(900*dayUS)
			}
		}
		slices.Sort(times)
		a := len(o.t)
		for _, ts := range times {
			o.t = append(o.t, ts)
			maybe := func(v float64) float64 {
				if rng.IntN(10) == 0 {
					return math.NaN()
				}
				return v
			}
			o.amount = append(o.amount, maybe(float64(rng.IntN(40000)-2000)/100))
			o.qty = append(o.qty, maybe(float64(rng.IntN(6))))
			o.lines = append(o.lines, maybe(float64(rng.IntN(4))))
			o.discount = append(o.discount, maybe(float64(rng.IntN(3))*2.5))
			o.returned = append(o.returned, int8(rng.IntN(3)-1))
			o.product = append(o.product, int32(rng.IntN(50)-1))
			o.category = append(o.category, int32(rng.IntN(6)-1))
			o.channel = append(o.channel, int32(rng.IntN(5)-1))
		}
		custRuns = append(custRuns, [2]int{a, len(o.t)})
	}
	newWorker := func(lookback int64) *worker {
		w := &worker{spec: &buildSpec{horizon: 90 * dayUS, lookback: lookback}, ord: o}
		w.channels = &interner{names: []string{"app", "phone", "store", "web"}}
		w.seenProd = make([]uint32, 50)
		w.seenCat = make([]uint32, 6)
		w.seenChan = make([]uint32, 4)
		w.chanCount = make([]int32, 4)
		w.famRow[famChannels] = make([]float64, 4)
		return w
	}
	n := len(ordersGroup().defs)
	for _, lookback := range []int64{0, 200 * dayUS} {
		split, rowwise := newWorker(lookback), newWorker(lookback)
		for _, D := range []int64{D0, D0 + 17*dayUS + 5, D0 - 400*dayUS, D0 + 3000*dayUS} {
			for c, r := range custRuns {
				got, want := make([]float64, n), make([]float64, n)
				for j := range got {
					got[j], want[j] = math.NaN(), math.NaN()
				}
				e1, l1, f1 := split.orders(D, r[0], r[1], got)
				fam1 := slices.Clone(split.famRow[famChannels])
				e2, l2, f2 := rowwise.ordersRowwise(D, r[0], r[1], want)
				fam2 := rowwise.famRow[famChannels]
				if e1 != e2 || math.Float64bits(l1) != math.Float64bits(l2) || f1 != f2 {
					t.Fatalf("customer %d at %d: (eligible, label, first) = (%v, %v, %d), row-wise (%v, %v, %d)", c, D, e1, l1, f1, e2, l2, f2)
				}
				for j := range got {
					if math.Float64bits(got[j]) != math.Float64bits(want[j]) {
						t.Fatalf("customer %d at %d: %s = %v (%#x), row-wise %v (%#x)", c, D, ordersGroup().defs[j].Name, got[j], math.Float64bits(got[j]), want[j], math.Float64bits(want[j]))
					}
				}
				for j := range fam1 {
					if math.Float64bits(fam1[j]) != math.Float64bits(fam2[j]) {
						t.Fatalf("customer %d at %d: channel share %d = %v, row-wise %v", c, D, j, fam1[j], fam2[j])
					}
				}
			}
		}
	}
}
