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

var (
	randPlans    = []string{"basic", "pro", "team"}
	randChannels = []string{"web", "app", "store"}
	randEvents   = []string{"login", "view", "email_open", "click"}
	randCountry  = []string{"FR", "DE", "UK"}
	randPrio     = []string{"low", "normal", "high", "urgent"}
)

// randomHistory draws n customers with a few records in every table between
// start and start+span; times fall on whole minutes so that some land
// exactly on cutoffs.
func randomHistory(rng *rand.Rand, n int, start time.Time, span time.Duration) history {
	h := history{}
	tm := func() time.Time {
		return start.Add(time.Duration(rng.Int64N(int64(span/time.Minute))) * time.Minute)
	}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for c := 0; c < n; c++ {
		id := fmt.Sprintf("c%04d", c)
		for k := rng.IntN(12); k > 0; k-- {
			r := rec{"customer_id": id, "ordered_at": tm(), "amount": float64(rng.IntN(20000)) / 100}
			if rng.IntN(4) > 0 {
				r["product"] = fmt.Sprintf("p%d", rng.IntN(15))
				r["category"] = fmt.Sprintf("k%d", rng.IntN(4))
				r["channel"] = pick(randChannels)
				r["quantity"] = float64(1 + rng.IntN(5))
				r["discount"] = float64(rng.IntN(3)) * 2.5
				r["returned"] = rng.IntN(8) == 0
			}
			h[datasets.Orders] = append(h[datasets.Orders], r)
		}
		for k := rng.IntN(8); k > 0; k-- {
			h[datasets.Events] = append(h[datasets.Events], rec{"customer_id": id, "occurred_at": tm(), "event_type": pick(randEvents)})
		}
		for k := rng.IntN(3); k > 0; k-- {
			o := tm()
			r := rec{"customer_id": id, "opened_at": o, "priority": pick(randPrio)}
			if rng.IntN(3) > 0 {
				r["closed_at"] = o.Add(time.Duration(rng.IntN(20*24)) * time.Hour)
			}
			h[datasets.Tickets] = append(h[datasets.Tickets], r)
		}
		for k := rng.IntN(3); k > 0; k-- {
			r := rec{"customer_id": id, "answered_at": tm()}
			if rng.IntN(2) == 0 {
				r["nps"] = float64(rng.IntN(11))
			}
			if rng.IntN(2) == 0 {
				r["csat"] = float64(1 + rng.IntN(5))
			}
			h[datasets.Surveys] = append(h[datasets.Surveys], r)
		}
		for k := rng.IntN(3); k > 0; k-- {
			s := tm()
			r := rec{"customer_id": id, "started_at": s, "plan": pick(randPlans), "mrr": float64(10 * (1 + rng.IntN(5))), "failed_payments": int64(rng.IntN(3))}
			if rng.IntN(2) == 0 {
				r["ended_at"] = s.Add(time.Duration(1+rng.IntN(400)) * 24 * time.Hour)
			}
			h[datasets.Subscriptions] = append(h[datasets.Subscriptions], r)
		}
		if rng.IntN(5) > 0 {
			r := rec{"customer_id": id, "country": pick(randCountry), "birth_year": int64(1950 + rng.IntN(50))}
			if rng.IntN(3) > 0 {
				r["signed_up_at"] = tm()
			}
			h[datasets.Customers] = append(h[datasets.Customers], r)
		}
	}
	return h
}

// perturbFuture adds records dated at or after D, and changes every record
// dated at or after D (and every end time at or after D, which is unknown at
// D), without touching anything known before D.
func perturbFuture(rng *rand.Rand, h history, D time.Time, n int) history {
	out := h.clone()
	later := func() time.Time {
		return D.Add(time.Duration(rng.Int64N(int64(400*24*time.Hour/time.Minute))) * time.Minute)
	}
	if rng.IntN(3) == 0 {
		later = func() time.Time { return D } // exactly at the boundary
	}
	for t, rows := range out {
		tc := datasets.Specs[t].TimeCol
		for _, r := range rows {
			if ts, ok := r[tc].(time.Time); ok && !ts.Before(D) {
				switch t {
				case datasets.Orders:
					r["amount"], r["channel"], r["product"] = 9999.0, "future_channel", "future_product"
				case datasets.Events:
					r["event_type"] = "future_event"
				case datasets.Customers:
					r["country"], r["segment"] = "Atlantis", "future"
				case datasets.Subscriptions:
					r["plan"], r["mrr"] = "future_plan", 1.0
				}
				r[tc] = later()
			}
			for _, end := range []string{"ended_at", "closed_at"} {
				if e, ok := r[end].(time.Time); ok && !e.Before(D) {
					if rng.IntN(2) == 0 {
						delete(r, end)
					} else {
						r[end] = later()
					}
				}
			}
			if t == datasets.Subscriptions {
				if _, ok := r["ended_at"]; !ok || !r["ended_at"].(time.Time).Before(D) {
					r["failed_payments"] = int64(rng.IntN(50)) // a running subscription's count is not known at D
				}
			}
		}
	}
	for c := 0; c < n; c++ {
		id := fmt.Sprintf("c%04d", rng.IntN(n+5))
		out[datasets.Orders] = append(out[datasets.Orders], rec{"customer_id": id, "ordered_at": later(), "amount": 5.0, "channel": "late_channel", "product": "late"})
		out[datasets.Events] = append(out[datasets.Events], rec{"customer_id": id, "occurred_at": later(), "event_type": "late_event"})
		out[datasets.Tickets] = append(out[datasets.Tickets], rec{"customer_id": id, "opened_at": later(), "priority": "urgent"})
		out[datasets.Surveys] = append(out[datasets.Surveys], rec{"customer_id": id, "answered_at": later(), "nps": 0.0})
		out[datasets.Subscriptions] = append(out[datasets.Subscriptions], rec{"customer_id": id, "started_at": later(), "plan": "late_plan", "mrr": 1.0})
	}
	return out
}

// byCustomer maps customer → feature name → printed value (categoricals by name).
func byCustomer(f *Frame) map[string]map[string]string {
	out := map[string]map[string]string{}
	for i, id := range f.IDs {
		m := map[string]string{}
		for j, d := range f.Registry {
			m[d.Name] = valueText(d, f.X[j][i])
		}
		out[id+"@"+f.Cutoffs[i].Format(time.RFC3339)] = m
	}
	return out
}

// TestNoLeakage: adding or changing any record dated at or after D never
// changes any feature for cutoff D (labels may change: they look ahead).
func TestNoLeakage(t *testing.T) {
	start := day("2023-01-01")
	for seed := uint64(1); seed <= 8; seed++ {
		for _, kind := range []string{KindOrders, KindSubscriptions} {
			t.Run(fmt.Sprintf("seed%d_%s", seed, kind), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 99))
				h := randomHistory(rng, 60, start, 700*24*time.Hour)
				D := start.Add(time.Duration(200+rng.IntN(400)) * 24 * time.Hour)
				opts := Options{Cutoffs: []time.Time{D}, Churn: ChurnConfig{Kind: kind}}
				before := buildIn(t, h, 1+rng.IntN(4), opts)
				after := buildIn(t, perturbFuture(rng, h, D, 40), 1+rng.IntN(4), opts)
				a, b := byCustomer(before), byCustomer(after)
				if len(a) != len(b) {
					t.Fatalf("population changed: %d rows before, %d after future-only changes", len(a), len(b))
				}
				if fmt.Sprint(before.Names) != fmt.Sprint(after.Names) {
					t.Fatalf("feature columns changed:\n%v\n%v", before.Names, after.Names)
				}
				keys := make([]string, 0, len(a))
				for k := range a {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					for name, v := range a[k] {
						if w := b[k][name]; w != v {
							t.Errorf("%s %s: %s before, %s after changing only records at or after D", k, name, v, w)
						}
					}
				}
			})
		}
	}
}

// TestCutoffBoundary: a record at exactly D is not a feature of D, one a
// microsecond before is.
func TestCutoffBoundary(t *testing.T) {
	D := day("2024-01-01")
	h := history{datasets.Orders: {
		{"customer_id": "a", "ordered_at": D.Add(-time.Microsecond), "amount": 1.0},
		{"customer_id": "a", "ordered_at": D, "amount": 100.0},
		{"customer_id": "b", "ordered_at": D, "amount": 100.0},
	}}
	f := buildIn(t, h, 1, Options{Cutoffs: []time.Time{D}})
	if len(f.IDs) != 1 || f.IDs[0] != "a" {
		t.Fatalf("population %v, want [a] (b's only order is at D)", f.IDs)
	}
	if got := f.Column("monetary_lifetime")[0]; got != 1 {
		t.Errorf("monetary_lifetime = %v, want 1 (the order at D is excluded)", got)
	}
	if f.Labels[0] != 0 && !math.IsNaN(f.Labels[0]) {
		t.Errorf("label = %v: the order at D is inside [D, D+horizon)", f.Labels[0])
	}
}
