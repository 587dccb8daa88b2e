package pipeline

import (
	"math"
	"strings"
	"testing"

	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/models/churn"
)

// The reasons' words are in models/churn, which may not import features
// (layers_test.go): the registry walk lives here.

// registrySchema is the schema of every feature of the registry and the
// pipeline's CLV columns, families instantiated ("events_page_view_30d",
// "channel_share_web"), categorical features given categories, and every
// meaning replaced by a marker: a phrase that falls back to the meaning
// ("<meaning>: 7", "<meaning>: not recorded") contains it.
func registrySchema() []churn.FeatureInfo {
	cats := map[string][]string{
		"main_channel": {"web", "store"}, "sub_plan": {"basic", "pro"}, "country": {"DE", "FR"},
		"segment": {"smb", "enterprise"}, "acquisition_channel": {"paid_search", "referral"}, "gender": {"f", "m"},
	}
	defs := append(features.Registry(), clvFeatureDefs[:]...)
	out := make([]churn.FeatureInfo, len(defs))
	for j, d := range defs {
		name := strings.NewReplacer("<type>", "page_view", "<channel>", "web").Replace(d.Name)
		c := d.Categories
		if d.Kind == features.Categorical {
			c = cats[d.Name]
			if c == nil {
				c = []string{"a", "b"}
			}
		}
		out[j] = churn.FeatureInfo{Name: name, Meaning: "MEANING OF " + name, Window: d.Window, Source: d.Source, Kind: d.Kind, Categories: c}
	}
	return out
}

// typical is a plausible value of every feature (a share 0.4, a category
// code 1, anything else 3): a customer with orders, a subscription, events,
// tickets and surveys.
func typical(f churn.FeatureInfo) float64 {
	switch {
	case f.Kind == features.Categorical:
		return 1
	case strings.Contains(f.Name, "share") || f.Name == "clv_p_alive":
		return 0.4
	case f.Name == "sub_active":
		return 1
	case f.Name == "trend_frequency_ratio_180d":
		return 0.5
	}
	return 3
}

// onlyModel gives feature j a contribution of 1 and the others none.
type onlyModel struct {
	names []string
	j     int
}

func (m onlyModel) Kind() string                            { return "only" }
func (m onlyModel) Features() []string                      { return m.names }
func (m onlyModel) PredictProba(_ [][]float64, _ []float64) {}
func (m onlyModel) Explain(_ [][]float64, _ int, dst []float64) float64 {
	for i := range dst {
		dst[i] = 0
	}
	dst[m.j] = 1
	return 0
}

// reasonText is the words of feature name's reason in row 0 of X.
func reasonText(t *testing.T, info []churn.FeatureInfo, X [][]float64, name string) string {
	t.Helper()
	names := make([]string, len(info))
	j := -1
	for i, f := range info {
		names[i] = f.Name
		if f.Name == name {
			j = i
		}
	}
	if j < 0 {
		t.Fatalf("no feature %s in the registry", name)
	}
	rs := churn.NewExplainer(onlyModel{names: names, j: j}, info).Reasons(X, 0, 1)
	if len(rs) != 1 || rs[0].Feature != name {
		t.Fatalf("%s: reasons %+v", name, rs)
	}
	return rs[0].Text
}

func typicalRow(info []churn.FeatureInfo, set map[string]float64) [][]float64 {
	X := make([][]float64, len(info))
	for j, f := range info {
		v, ok := set[f.Name]
		if !ok {
			v = typical(f)
		}
		X[j] = []float64{v}
	}
	return X
}

// Every feature of the registry has its own words for a typical value and
// for null (with the other features typical): none falls back to its
// registry meaning, and no two features say the same of a typical value.
func TestEveryRegistryFeatureHasWords(t *testing.T) {
	info := registrySchema()
	if len(info) < 80 {
		t.Fatalf("registry of %d features", len(info))
	}
	said := map[string]string{}
	for _, f := range info {
		for _, null := range []bool{false, true} {
			set := map[string]float64{}
			if null {
				set[f.Name] = math.NaN()
			}
			text := reasonText(t, info, typicalRow(info, set), f.Name)
			if strings.Contains(text, "MEANING") || strings.Contains(text, "NaN") || strings.Contains(text, "Inf") || text == "" {
				t.Errorf("%s (null %v): %q falls back to the registry meaning", f.Name, null, text)
			}
			if null {
				continue
			}
			if other, ok := said[text]; ok {
				t.Errorf("%s and %s both read %q", f.Name, other, text)
			}
			said[text] = f.Name
		}
	}
}

// Golden words for a sample of the registry, some with context from other
// features of the row.
func TestRegistryGoldenWords(t *testing.T) {
	info := registrySchema()
	nan := math.NaN()
	tests := []struct {
		name string
		set  map[string]float64
		want string
	}{
		{"recency_days", map[string]float64{"recency_days": 142, "gap_mean_days": 47}, "no order for 142 days, 3× the usual gap"},
		{"recency_days", map[string]float64{"recency_days": nan, "frequency_lifetime": 0}, "no order so far"},
		{"overdue_ratio", map[string]float64{"overdue_ratio": 0.3}, "30% of the usual gap between orders has passed since the last order"},
		{"gap_mean_days", map[string]float64{"gap_mean_days": nan, "frequency_lifetime": 1}, "only one order so far"},
		{"gap_std_days", map[string]float64{"gap_std_days": nan, "frequency_lifetime": 2}, "only 2 orders so far"},
		{"gap_std_days", map[string]float64{"gap_std_days": 12.4}, "gaps between orders vary by about 12 days"},
		{"aov_90d", map[string]float64{"aov_90d": nan}, "no order in the last 90 days"},
		{"monetary_30d", map[string]float64{"monetary_30d": 0}, "spent nothing in the last 30 days"},
		{"trend_frequency_90d", map[string]float64{"trend_frequency_90d": -1}, "1 fewer order than in the 90 days before"},
		{"trend_frequency_ratio_180d", nil, "orders in the last 180 days down to 50% of the 180 days before"},
		{"trend_frequency_ratio_180d", map[string]float64{"trend_frequency_ratio_180d": nan}, "no order 180 to 360 days ago to compare with"},
		{"distinct_categories", map[string]float64{"distinct_categories": 1}, "1 product category bought"},
		{"returns_share", map[string]float64{"returns_share": 0.25}, "25% of orders returned or cancelled"},
		{"returns_count", map[string]float64{"returns_count": nan}, "returns not recorded"},
		{"discounted_orders_share", nil, "40% of orders with a discount"},
		{"discount_share", map[string]float64{"discount_share": 0}, "never used a discount"},
		{"main_channel", nil, "the sales channel used most: store"},
		{"main_channel_share", map[string]float64{"main_channel_share": 0.8, "main_channel": 0}, "80% of orders through web"},
		{"channel_share_web", map[string]float64{"channel_share_web": 0}, "no order through web"},
		{"clv_frequency", map[string]float64{"clv_frequency": 0}, "no repeat purchase after the first day"},
		{"clv_recency_weeks", map[string]float64{"clv_recency_weeks": 12.4}, "last order 12 weeks after the first"},
		{"clv_T_weeks", map[string]float64{"clv_T_weeks": 57}, "first order 57 weeks ago"},
		{"clv_monetary", nil, "spends 3 per repeat purchase day on average"},
		{"clv_expected_purchases", map[string]float64{"clv_expected_purchases": 0.02}, "almost no orders expected in the coming horizon"},
		{"clv_p_alive", map[string]float64{"clv_p_alive": nan, "frequency_lifetime": 0}, "no order so far"},
		{"events_page_view_30d", map[string]float64{"events_page_view_30d": nan}, "no engagement event so far"},
		{"days_since_last_event", map[string]float64{"days_since_last_event": nan}, "no engagement event so far"},
		{"trend_events_30d", map[string]float64{"trend_events_30d": 0}, "as many events in the last 30 days as in the 30 days before"},
		{"tickets_spike_30d", map[string]float64{"tickets_spike_30d": -1}, "1 fewer ticket in the last 30 days than in an average month before"},
		{"days_since_last_ticket", map[string]float64{"days_since_last_ticket": nan}, "no support ticket so far"},
		{"ticket_resolution_days_mean", map[string]float64{"ticket_resolution_days_mean": nan}, "no support ticket closed yet"},
		{"days_since_last_survey", map[string]float64{"days_since_last_survey": nan}, "no survey answer so far"},
		{"nps_last", map[string]float64{"nps_last": nan}, "no NPS answer"},
		{"csat_change", map[string]float64{"csat_change": nan}, "no earlier satisfaction score to compare with"},
		{"sub_plan", nil, "on the pro plan"},
		{"sub_plan", map[string]float64{"sub_active": 0}, "latest plan was pro"},
		{"sub_plan", map[string]float64{"sub_plan": nan, "sub_count": 0}, "no subscription so far"},
		{"sub_mrr", map[string]float64{"sub_mrr": nan}, "monthly plan value not recorded"},
		{"sub_current_months", map[string]float64{"sub_current_months": nan}, "no active subscription"},
		{"days_since_sub_end", map[string]float64{"days_since_sub_end": nan}, "subscription active"},
		{"days_since_sub_end", map[string]float64{"days_since_sub_end": nan, "sub_active": 0}, "no subscription has ended"},
		{"sub_failed_payments", map[string]float64{"sub_failed_payments": 2}, "2 failed payments on ended subscriptions"},
		{"tenure_days", map[string]float64{"tenure_days": 400}, "customer for 400 days"},
		{"days_since_signup", map[string]float64{"days_since_signup": nan}, "no sign-up date on record"},
		{"country", map[string]float64{"country": 0}, "based in DE"},
		{"segment", nil, "in the enterprise segment"},
		{"acquisition_channel", map[string]float64{"acquisition_channel": nan}, "acquisition channel not recorded"},
		{"gender", nil, "gender recorded as m"},
		{"age", map[string]float64{"age": 72}, "72 years old"},
	}
	for _, tc := range tests {
		if got := reasonText(t, info, typicalRow(info, tc.set), tc.name); got != tc.want {
			t.Errorf("%s with %v: %q, want %q", tc.name, tc.set, got, tc.want)
		}
	}
}
