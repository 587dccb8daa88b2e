package pipeline

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/retainlab/retain/stores"
)

// reasonsJSON must write ReasonsJSON's bytes whenever it says ok, and say
// ok for the usual reasons.
func TestReasonsJSONIsReasonsJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 1))
	texts := []string{"no order for 447 days, 54.3× the usual gap", "recency_days", "", "a \"quote\"", "back\\slash", "<b>", "x & y",
		"tab\there", "line\u2028sep", "bad \xff utf8", "ünïcödé ✓", "new\nline"}
	nums := []float64{0, math.Copysign(0, -1), 1, -2.5, 0.000001, 1e-7, 123456.789012, 1e21, 9.99e20, math.NaN(), math.Inf(1), 3.141593}
	plain := 0
	for trial := range 5000 {
		rs := make([]stores.Reason, rng.IntN(4))
		for k := range rs {
			rs[k] = stores.Reason{Feature: texts[rng.IntN(len(texts))], Text: texts[rng.IntN(len(texts))], Contribution: nums[rng.IntN(len(nums))]}
			if rng.IntN(2) == 0 {
				rs[k].Contribution = math.Round(rng.NormFloat64()*1e6) / 1e6
			}
		}
		r := stores.RiskRow{Reasons: rs}
		got, ok := reasonsJSON(nil, rs)
		if !ok {
			continue
		}
		plain++
		if want := r.ReasonsJSON(); string(got) != want {
			t.Fatalf("trial %d: %s, ReasonsJSON %s", trial, got, want)
		}
	}
	if plain < 500 {
		t.Fatalf("only %d of 5000 lists took the direct path", plain)
	}
	if _, ok := reasonsJSON(nil, []stores.Reason{{Feature: "recency_days", Contribution: 2.859462, Text: "no order for 447 days, 54.3× the usual gap"}}); !ok {
		t.Fatal("a usual reason did not take the direct path")
	}
}
