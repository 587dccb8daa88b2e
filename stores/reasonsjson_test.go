package stores

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// TestReasonsJSONMatchesEncodingJSON: the hand-written encoder gives
// json.Marshal's bytes (row hashes depend on them) for awkward strings and
// numbers, and "" where json.Marshal fails.
func TestReasonsJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"", "a", "recency_days", "no order for 95 days, 3× the usual gap", "\"", "\\", "<", ">", "&", "\x00", "\x1f", "\b", "\f",
		"\n", "\r", "\t", "\x7f", "é", "\u2028", "\u2029", "\xff", "\xe2\x80", "€", "😀", " ", "'", "/"}
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1e-6, 9.99e-7, -1e-7, 1e-9, 1e20, 1e21, -1e21, 1.5e300,
		math.SmallestNonzeroFloat64, math.MaxFloat64, 0.1 + 0.2, 2.52, 123456789.123}
	str := func() string {
		s := ""
		for range rng.IntN(4) {
			s += pieces[rng.IntN(len(pieces))]
		}
		return s
	}
	for n := 0; n < 20000; n++ {
		rs := make([]Reason, 1+rng.IntN(3))
		for i := range rs {
			f := floats[rng.IntN(len(floats))]
			if rng.IntN(2) == 0 {
				f = (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(40)-20))
			}
			rs[i] = Reason{Feature: str(), Contribution: f, Text: str()}
		}
		want, _ := json.Marshal(rs)
		r := RiskRow{Reasons: rs}
		if got := r.ReasonsJSON(); got != string(want) {
			t.Fatalf("%#v:\n got %s\nwant %s", rs, got, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		r := RiskRow{Reasons: []Reason{{Feature: "x", Contribution: f}}}
		if got := r.ReasonsJSON(); got != "" {
			t.Fatalf("contribution %v: %q, json.Marshal fails", f, got)
		}
	}
}

func BenchmarkReasonsJSON(b *testing.B) {
	rs := []Reason{{Feature: "days_since_last_order", Contribution: 0.8123, Text: "no order for 95 days, 3× the usual gap"},
		{Feature: "tickets_90d", Contribution: 0.31, Text: "4 support tickets in the last 90 days"},
		{Feature: "discount_share", Contribution: 0.05, Text: "62% of orders with a discount"}}
	b.Run("encoding_json", func(b *testing.B) {
		for b.Loop() {
			js, _ := json.Marshal(rs)
			_ = string(js)
		}
	})
	b.Run("ReasonsJSON", func(b *testing.B) {
		r := RiskRow{Reasons: rs}
		for b.Loop() {
			_ = r.ReasonsJSON()
		}
	})
}
