package churn

import (
	"fmt"
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

// The reasons' words, one case per template.
func TestPhraseWords(t *testing.T) {
	info := []FeatureInfo{
		{Name: "recency_days"}, {Name: "gap_mean_days"}, {Name: "plan", Kind: "categorical", Meaning: "Plan (at cutoff)", Categories: []string{"basic", "pro"}},
		{Name: "clv_p_alive"}, {Name: "clv_expected_purchases"}, {Name: "overdue_ratio"}, {Name: "frequency_90d", Window: "90d"},
		{Name: "monetary_30d", Window: "30d"}, {Name: "trend_frequency_90d"}, {Name: "trend_monetary_90d"}, {Name: "web_share"},
		{Name: "odd_thing", Meaning: "Odd thing"}, {Name: "days_since_first_order"}, {Name: "frequency_lifetime"}, {Name: "gap_last_days"},
		{Name: "quantity_mean"}, {Name: "item_price_mean"}, {Name: "last_order_quantity"},
	}
	X := make([][]float64, len(info))
	for j := range X {
		X[j] = []float64{0, math.NaN()}
	}
	set := func(v ...float64) {
		for j := range X {
			X[j][0] = v[j]
		}
	}
	set(90, 30, 1, 0.423, 1.26, 2.5, 3, 12.34, -2, -15.5, 0.25, 7, 400, 1, 45, 7.6, 26.4, 1)
	e := &Explainer{info: info, index: map[string]int{}}
	for j, f := range info {
		e.index[f.Name] = j
	}
	want := []string{"no order for 90 days, 3× the usual gap", "usually 30 days between orders", "Plan: pro",
		"purchase pattern says 42% likely still a customer", "about 1.3 orders expected in the coming horizon",
		"2.5× overdue against the usual gap between orders", "3 orders in the last 90 days", "spent 12.3 in the last 30 days",
		"2 fewer orders than in the 90 days before", "spent 15.5 less in the last 90 days than in the 90 days before",
		"web share: 25%", "Odd thing: 7", "first order 400 days ago", "1 order in total", "45 days between the last two orders",
		"7.6 items per order on average", "pays 26.4 per item on average", "1 item in the latest order"}
	for j := range info {
		if got := e.phrase(X, 0, j); got != want[j] {
			t.Errorf("%s = %v: %q, want %q", info[j].Name, X[j][0], got, want[j])
		}
	}
	if got := e.phrase(X, 1, 2); got != "Plan unknown" {
		t.Errorf("missing category: %q", got)
	}
	if got := e.phrase(X, 1, 1); got != "only one order so far" {
		t.Errorf("missing gap: %q", got)
	}
	if got := e.phrase(X, 1, 11); got != "Odd thing: not recorded" {
		t.Errorf("missing value: %q", got)
	}
}

// BenchmarkReasons picks and words the top 3 reasons of a row with 93
// features (contributions of a fixed model, a few tied), the part of
// explaining that follows TreeSHAP.
func BenchmarkReasons(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 9))
	n := 93
	names := make([]string, n)
	info := make([]FeatureInfo, n)
	contrib := make([]float64, n)
	X := make([][]float64, n)
	for j := range n {
		names[j] = fmt.Sprintf("f%02d", j)
		info[j] = FeatureInfo{Name: names[j], Kind: "numeric", Meaning: "feature " + names[j]}
		contrib[j] = rng.NormFloat64()
		X[j] = []float64{float64(rng.IntN(100))}
	}
	e := NewExplainer(fixedModel{names: names, contrib: contrib}, info)
	for b.Loop() {
		if len(e.Reasons(X, 0, 3)) != 3 {
			b.Fatal("want 3 reasons")
		}
	}
}

// top returns the first k picks of e.picker(): the features of the (up
// to) k largest positive contributions in e.buf, largest first, ties in
// feature order.
func (e *Explainer) top(k int) []int {
	var out []int
	pk := e.picker()
	for range k {
		j := pk.next()
		if j < 0 {
			break
		}
		out = append(out, j)
	}
	return out
}
