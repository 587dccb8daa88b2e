package features

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retainlab/retain/datasets"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// handMade is a small history touching every table and feature family.
func handMade() history {
	at := func(s string) time.Time {
		t, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			panic(err)
		}
		return t
	}
	o := func(id, ts string, amt float64, product, cat, ch string, disc float64, ret bool) rec {
		r := rec{"customer_id": id, "ordered_at": at(ts), "amount": amt, "quantity": 2.0, "product": product, "category": cat, "channel": ch, "discount": disc, "returned": ret}
		return r
	}
	return history{
		datasets.Orders: {
			o("alice", "2024-01-05 10:00", 50, "p1", "books", "web", 0, false),
			o("alice", "2024-02-10 12:00", 70, "p2", "books", "web", 5, false),
			o("alice", "2024-02-10 18:00", 30, "p1", "toys", "app", 0, true),
			o("alice", "2024-05-20 09:00", 40, "p3", "toys", "web", 0, false),
			o("alice", "2024-06-30 23:59", 99, "p3", "toys", "web", 0, false),            // the last instant before D
			o("alice", "2024-07-01 00:00", 10, "p9", "food", "store", 0, false),          // exactly D: not a feature, is a purchase in the horizon
			{"customer_id": "bob", "ordered_at": at("2023-03-01 08:00"), "amount": 20.0}, // no optional columns
			{"customer_id": "bob", "ordered_at": at("2023-11-15 08:00"), "amount": 25.0},
			o("carol", "2024-06-01 10:00", 300, "p4", "tech", "store", 30, false),
			o("carol", "2024-09-30 10:00", 300, "p4", "tech", "store", 0, false), // after the horizon: carol churned
			o("dave", "2024-08-01 10:00", 15, "p5", "food", "web", 0, false),     // only after D: not eligible
		},
		datasets.Events: {
			{"customer_id": "alice", "occurred_at": at("2024-06-10 10:00"), "event_type": "login"},
			{"customer_id": "alice", "occurred_at": at("2024-06-20 10:00"), "event_type": "email_open"},
			{"customer_id": "alice", "occurred_at": at("2024-06-20 11:00"), "event_type": "login"},
			{"customer_id": "alice", "occurred_at": at("2024-07-02 10:00"), "event_type": "login"},
			{"customer_id": "carol", "occurred_at": at("2024-04-01 10:00"), "event_type": "view"},
		},
		datasets.Tickets: {
			{"customer_id": "carol", "opened_at": at("2024-06-15 10:00"), "closed_at": at("2024-06-17 10:00"), "priority": "normal"},
			{"customer_id": "carol", "opened_at": at("2024-06-25 10:00"), "closed_at": at("2024-07-03 10:00"), "priority": "urgent"}, // closed after D: open at D
			{"customer_id": "bob", "opened_at": at("2023-12-01 10:00"), "priority": "low"},
		},
		datasets.Surveys: {
			{"customer_id": "alice", "answered_at": at("2024-03-01 10:00"), "nps": 9.0, "csat": 5.0},
			{"customer_id": "alice", "answered_at": at("2024-06-01 10:00"), "nps": 6.0},
			{"customer_id": "alice", "answered_at": at("2024-07-05 10:00"), "nps": 0.0},
		},
		datasets.Subscriptions: {
			{"customer_id": "alice", "started_at": at("2023-01-01 00:00"), "ended_at": at("2023-07-01 00:00"), "plan": "pro", "mrr": 50.0, "failed_payments": int64(2)},
			{"customer_id": "alice", "started_at": at("2023-07-01 00:00"), "plan": "basic", "mrr": 20.0, "failed_payments": int64(1)},
			{"customer_id": "carol", "started_at": at("2024-01-01 00:00"), "ended_at": at("2024-08-01 00:00"), "plan": "pro", "mrr": 50.0},
		},
		datasets.Customers: {
			{"customer_id": "alice", "signed_up_at": at("2022-12-15 00:00"), "country": "FR", "segment": "consumer", "birth_year": int64(1990)},
			{"customer_id": "bob", "country": "DE"},
			{"customer_id": "carol", "signed_up_at": at("2024-05-01 00:00"), "country": "FR", "gender": "f"},
			{"customer_id": "dave", "signed_up_at": at("2024-08-01 00:00"), "country": "US"}, // signed up after D
		},
	}
}

// frameText renders a frame deterministically for golden files and diffs:
// one block per row, categoricals decoded to their names.
func frameText(f *Frame) string {
	var b strings.Builder
	fmt.Fprintf(&b, "horizon %s kind %s observed_until %s\n", f.Horizon, f.Kind, f.ObservedUntil.Format(time.RFC3339))
	for i := range f.IDs {
		fmt.Fprintf(&b, "\n%s @ %s churned=%s\n", f.IDs[i], f.Cutoffs[i].Format(time.DateOnly), fmtVal(f.Labels[i]))
		for j, d := range f.Registry {
			fmt.Fprintf(&b, "  %-28s %s\n", d.Name, valueText(d, f.X[j][i]))
		}
	}
	return b.String()
}

func valueText(d Def, v float64) string {
	if d.Kind == Categorical && !math.IsNaN(v) {
		return fmt.Sprintf("%q", d.Categories[int(v)])
	}
	return fmtVal(v)
}

func fmtVal(v float64) string {
	if math.IsNaN(v) {
		return "null"
	}
	return fmt.Sprintf("%.6g", v)
}

func buildIn(t *testing.T, h history, shards int, opts Options) *Frame {
	t.Helper()
	dir := t.TempDir()
	writeSnapshot(t, dir, h, shards)
	f, err := Build(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name    string
		cutoffs []string
		churn   ChurnConfig
	}{
		{"orders_2024-07-01", []string{"2024-07-01"}, ChurnConfig{}},
		{"orders_two_cutoffs", []string{"2024-03-01", "2024-07-01"}, ChurnConfig{Horizon: "60d", Lookback: "365d"}},
		{"subscriptions_2024-07-01", []string{"2024-07-01"}, ChurnConfig{Kind: KindSubscriptions, Horizon: "45d"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cuts []time.Time
			for _, s := range c.cutoffs {
				cuts = append(cuts, day(s))
			}
			f := buildIn(t, handMade(), 3, Options{Cutoffs: cuts, Churn: c.churn})
			got := frameText(f)
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./features -run TestGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("features differ from %s (rerun with -update after checking):\n%s", path, got)
			}
			// The same frame must survive the Parquet file round trip.
			p := filepath.Join(t.TempDir(), FileName(cuts))
			if err := WriteFile(context.Background(), p, f); err != nil {
				t.Fatal(err)
			}
			back, err := ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if bt := frameText(back); bt != got {
				t.Errorf("ReadFile(WriteFile(f)) differs:\n%s", bt)
			}
		})
	}
}
