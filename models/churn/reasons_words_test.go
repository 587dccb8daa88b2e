package churn

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReasonsSayEachFactOnce: reasons with the same words, a "none" over a
// window already said by one over a wider window or by "none so far", and
// the pairs sameFact lists are given once; the next reason takes their
// place.
func TestReasonsSayEachFactOnce(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name  string
		feats []string
		vals  []float64
		cats  map[string][]string
		want  []string
	}{
		{"a customer without orders",
			[]string{"recency_days", "clv_p_alive", "frequency_90d", "monetary_30d", "frequency_lifetime", "days_since_last_survey", "nps_last", "sub_active"},
			[]float64{nan, nan, 0, 0, 0, nan, nan, 1}, nil,
			[]string{"no order so far", "no survey answer so far", "subscription active"}},
		{"a single order",
			[]string{"frequency_lifetime", "gap_mean_days", "gap_std_days", "overdue_ratio", "clv_frequency", "days_since_first_order", "clv_T_weeks", "tenure_days", "nps_last"},
			[]float64{1, nan, nan, nan, 0, 400, 57, 400, 2}, nil,
			[]string{"1 order in total", "first order 400 days ago", "latest NPS answer 2 of 10"}},
		{"a gap without the count",
			[]string{"gap_mean_days", "overdue_ratio", "gap_last_days", "nps_last"},
			[]float64{nan, nan, nan, 2}, nil,
			[]string{"only one order so far", "latest NPS answer 2 of 10"}},
		{"no activity for longer than the windows",
			[]string{"days_since_last_event", "events_login_90d", "events_90d", "event_active_days_30d", "events_login_30d", "tickets_30d"},
			[]float64{120, 0, 0, 0, 0, 0}, nil,
			[]string{"no activity for 120 days", "0 support tickets in the last 30 days"}},
		{"no activity for less than the window",
			[]string{"days_since_last_event", "events_login_90d", "events_login_30d"},
			[]float64{45, 0, 0}, nil,
			[]string{"no activity for 45 days", `no "login" events in the last 90 days`}},
		{"nothing spent, no orders in the window",
			[]string{"monetary_365d", "frequency_90d", "aov_90d", "monetary_90d", "frequency_365d"},
			[]float64{0, 0, nan, 0, 0}, nil,
			[]string{"spent nothing in the last 365 days"}},
		{"an active subscription said by its plan",
			[]string{"sub_plan", "sub_active", "days_since_sub_end", "nps_last"},
			[]float64{1, 1, nan, 2}, map[string][]string{"sub_plan": {"basic", "pro"}},
			[]string{"on the pro plan", "latest NPS answer 2 of 10"}},
		{"no survey answer, no NPS answer",
			[]string{"surveys_lifetime", "nps_last", "nps_change", "csat_last", "tickets_lifetime", "days_since_last_ticket", "ticket_resolution_days_mean", "tickets_unresolved"},
			[]float64{0, nan, nan, nan, 0, nan, nan, 0}, nil,
			[]string{"no survey answer so far", "no support ticket so far"}},
	}
	for _, tc := range tests {
		info := make([]FeatureInfo, len(tc.feats))
		X := make([][]float64, len(tc.feats))
		contrib := make([]float64, len(tc.feats))
		for j, n := range tc.feats {
			info[j] = FeatureInfo{Name: n, Kind: "numeric", Window: windowOf(n)}
			if c, ok := tc.cats[n]; ok {
				info[j].Kind, info[j].Categories = "categorical", c
			}
			X[j] = []float64{tc.vals[j]}
			contrib[j] = float64(len(tc.feats) - j)
		}
		var got []string
		for _, r := range NewExplainer(fixedModel{names: tc.feats, contrib: contrib}, info).Reasons(X, 0, 3) {
			got = append(got, r.Text)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: reasons %q, want %q", tc.name, got, tc.want)
		}
	}
}

// windowOf is the registry window of a test feature: "90d" for
// frequency_90d, "lifetime" for the others.
func windowOf(n string) string {
	if _, d, ok := countWindow(n); ok {
		return strconv.Itoa(d) + "d"
	}
	if strings.HasSuffix(n, "_30d") {
		return "30d"
	}
	return "lifetime"
}
