package features

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/retainlab/retain/datasets"
)

// reference computes a subset of the features the plainest way: filter each
// customer's records to those strictly before D, then apply the definitions.
func reference(h history, D time.Time, horizon time.Duration) map[string]map[string]float64 {
	nan := math.NaN()
	dd := func(a, b time.Time) float64 { return a.Sub(b).Hours() / 24 }
	type ord struct {
		t           time.Time
		amt         float64
		product, ch string
	}
	orders := map[string][]ord{}
	future := map[string][]time.Time{}
	for _, r := range h[datasets.Orders] {
		id, t := r["customer_id"].(string), r["ordered_at"].(time.Time)
		if !t.Before(D) {
			future[id] = append(future[id], t)
			continue
		}
		o := ord{t: t, amt: r["amount"].(float64)}
		o.product, _ = r["product"].(string)
		o.ch, _ = r["channel"].(string)
		orders[id] = append(orders[id], o)
	}
	out := map[string]map[string]float64{}
	for id, os := range orders {
		sort.SliceStable(os, func(a, b int) bool { return os[a].t.Before(os[b].t) })
		m := map[string]float64{}
		last, first := os[len(os)-1].t, os[0].t
		m["recency_days"] = dd(D, last)
		m["days_since_first_order"] = dd(D, first)
		for _, w := range []int{30, 90, 180, 365} {
			n, s := 0.0, 0.0
			for _, o := range os {
				if !o.t.Before(D.AddDate(0, 0, -w)) {
					n++
					s += o.amt
				}
			}
			m[fmt.Sprintf("frequency_%dd", w)] = n
			m[fmt.Sprintf("monetary_%dd", w)] = s
		}
		tot := 0.0
		for _, o := range os {
			tot += o.amt
		}
		m["frequency_lifetime"], m["monetary_lifetime"] = float64(len(os)), tot
		m["aov_lifetime"] = tot / float64(len(os))
		var gaps []float64
		for i := 1; i < len(os); i++ {
			gaps = append(gaps, dd(os[i].t, os[i-1].t))
		}
		m["gap_mean_days"], m["gap_last_days"], m["gap_std_days"], m["overdue_ratio"] = nan, nan, nan, nan
		if len(gaps) > 0 {
			mean := 0.0
			for _, g := range gaps {
				mean += g
			}
			mean /= float64(len(gaps))
			m["gap_mean_days"], m["gap_last_days"] = mean, gaps[len(gaps)-1]
			if mean > 0 {
				m["overdue_ratio"] = dd(D, last) / mean
			}
			if len(gaps) > 1 {
				ss := 0.0
				for _, g := range gaps {
					ss += (g - mean) * (g - mean)
				}
				m["gap_std_days"] = math.Sqrt(ss / float64(len(gaps)-1))
			}
		}
		products, chans := map[string]bool{}, map[string]int{}
		nch := 0
		for _, o := range os {
			if o.product != "" {
				products[o.product] = true
			}
			if o.ch != "" {
				chans[o.ch]++
				nch++
			}
		}
		m["distinct_products"], m["distinct_channels"] = nan, nan
		if len(products) > 0 {
			m["distinct_products"] = float64(len(products))
		}
		if nch > 0 {
			m["distinct_channels"] = float64(len(chans))
			for c, n := range chans {
				m["channel_share_"+c] = float64(n) / float64(nch)
			}
		}
		days := map[string]float64{}
		for _, o := range os {
			days[o.t.UTC().Format(time.DateOnly)] += o.amt
		}
		m["clv_frequency"] = float64(len(days) - 1)
		m["clv_recency_weeks"] = dd(last, first) / 7
		m["clv_T_weeks"] = dd(D, first) / 7
		m["clv_monetary"] = nan
		if len(days) > 1 {
			rep := 0.0
			for d, v := range days {
				if d != first.UTC().Format(time.DateOnly) {
					rep += v
				}
			}
			m["clv_monetary"] = rep / float64(len(days)-1)
		}
		churned := 1.0
		for _, t := range future[id] {
			if t.Before(D.Add(horizon)) {
				churned = 0
			}
		}
		m["churned"] = churned
		out[id] = m
	}
	for _, r := range h[datasets.Events] {
		id, t := r["customer_id"].(string), r["occurred_at"].(time.Time)
		m := out[id]
		if m == nil || !t.Before(D) {
			continue
		}
		m["events_lifetime"]++
		if !t.Before(D.AddDate(0, 0, -30)) {
			m["events_30d"]++
			m["events_"+r["event_type"].(string)+"_30d"]++
		}
		if !t.Before(D.AddDate(0, 0, -90)) {
			m["events_90d"]++
		}
	}
	for _, r := range h[datasets.Tickets] {
		id, t := r["customer_id"].(string), r["opened_at"].(time.Time)
		m := out[id]
		if m == nil || !t.Before(D) {
			continue
		}
		m["tickets_lifetime"]++
		if c, ok := r["closed_at"].(time.Time); !ok || !c.Before(D) {
			m["tickets_unresolved"]++
		}
	}
	type ans struct {
		t   time.Time
		nps float64
	}
	svs := map[string][]ans{}
	for _, r := range h[datasets.Surveys] {
		id, t := r["customer_id"].(string), r["answered_at"].(time.Time)
		if v, ok := r["nps"].(float64); ok && t.Before(D) {
			svs[id] = append(svs[id], ans{t, v})
		}
	}
	for id, m := range out {
		m["nps_last"] = nan
		if a := svs[id]; len(a) > 0 {
			sort.SliceStable(a, func(i, j int) bool { return a[i].t.Before(a[j].t) })
			m["nps_last"] = a[len(a)-1].nps
		}
		m["sub_active"] = 0
	}
	for _, r := range h[datasets.Subscriptions] {
		m := out[r["customer_id"].(string)]
		if m == nil || !r["started_at"].(time.Time).Before(D) {
			continue
		}
		if e, ok := r["ended_at"].(time.Time); !ok || !e.Before(D) {
			m["sub_active"] = 1
		}
	}
	return out
}

// TestAgainstReference compares the engine with the plain reference on
// random histories (several shard counts, several seeds).
func TestAgainstReference(t *testing.T) {
	start := day("2022-06-01")
	for seed := uint64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		h := randomHistory(rng, 150, start, 800*24*time.Hour)
		D := start.Add(time.Duration(300+rng.IntN(300)) * 24 * time.Hour)
		f := buildIn(t, h, 1+int(seed%4), Options{Cutoffs: []time.Time{D}})
		ref := reference(h, D, DefaultHorizon)
		if len(f.IDs) != len(ref) {
			t.Fatalf("seed %d: %d customers, reference has %d", seed, len(f.IDs), len(ref))
		}
		checked := 0
		for i, id := range f.IDs {
			want := ref[id]
			if want == nil {
				t.Fatalf("seed %d: customer %s not in the reference population", seed, id)
			}
			for j, name := range f.Names {
				w, ok := want[name]
				if !ok {
					if _, counted := map[string]bool{"events_lifetime": true, "events_30d": true, "events_90d": true, "tickets_lifetime": true, "tickets_unresolved": true}[name]; counted {
						w, ok = 0, true
					} else if len(name) > 7 && name[:7] == "events_" && name[len(name)-4:] == "_30d" {
						w, ok = 0, true
					} else if len(name) > 14 && name[:14] == "channel_share_" && !math.IsNaN(want["distinct_channels"]) {
						w, ok = 0, true
					}
				}
				if !ok {
					continue
				}
				checked++
				got := f.X[j][i]
				if math.IsNaN(w) != math.IsNaN(got) || (!math.IsNaN(w) && math.Abs(got-w) > 1e-9*math.Max(1, math.Abs(w))) {
					t.Errorf("seed %d %s %s = %v, reference %v", seed, id, name, got, w)
				}
			}
			if f.Labels[i] != want["churned"] && !math.IsNaN(f.Labels[i]) {
				t.Errorf("seed %d %s churned = %v, reference %v", seed, id, f.Labels[i], want["churned"])
			}
		}
		if checked < 20*len(f.IDs) {
			t.Errorf("seed %d: only %d values checked", seed, checked)
		}
	}
}
