package churn

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func schemaOf(ds *Dataset) []FeatureInfo {
	out := make([]FeatureInfo, len(ds.Names))
	for j, n := range ds.Names {
		out[j] = FeatureInfo{Name: n, Kind: "numeric"}
		if ds.Categorical[j] {
			out[j] = FeatureInfo{Name: n, Kind: "categorical", Categories: []string{"a", "b", "c"}}
		}
	}
	return out
}

// A saved and reloaded model predicts exactly what the fitted one did.
// fitArtifact fits cfg on ds and wraps the model as an artifact dated
// 2024-01-31.
func fitArtifact(t *testing.T, ds *Dataset, cfg Config) (*Artifact, Model) {
	t.Helper()
	m, err := Fit(context.Background(), ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewArtifact(m, ds, schemaOf(ds), cfg, "2024-01-31", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return a, m
}

func TestArtifactRoundTrip(t *testing.T) {
	ds := synth(1500, 11)
	for _, kind := range []string{"logreg", "gbdt", "blend"} {
		t.Run(kind, func(t *testing.T) {
			a, m := fitArtifact(t, ds, Config{Kind: kind, GBDT: GBDTConfig{Trees: 30, Threads: 1}})
			reg := Registry{Dir: t.TempDir()}
			path, err := reg.Save(a)
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.Promote(a, 0.8, "test", time.Unix(0, 0)); err != nil {
				t.Fatal(err)
			}
			b, m2, err := reg.LoadChampion()
			if err != nil {
				t.Fatal(err)
			}
			if b.ID != a.ID || filepath.Base(path) != a.ID+".json" || !strings.HasPrefix(a.ID, kind+"-20240131-") {
				t.Errorf("ids %s %s, path %s", a.ID, b.ID, path)
			}
			p1, p2 := make([]float64, ds.Rows()), make([]float64, ds.Rows())
			m.PredictProba(ds.X, p1)
			m2.PredictProba(ds.X, p2)
			for i := range p1 {
				if p1[i] != p2[i] {
					t.Fatalf("row %d: %v before saving, %v after", i, p1[i], p2[i])
				}
			}
			if err := b.CheckSchema(schemaOf(ds)); err != nil {
				t.Errorf("same schema refused: %v", err)
			}
			// Explanations add up to the uncalibrated log-odds.
			base := m2
			if c, ok := m2.(*Calibrated); ok {
				base = c.Base
			}
			raw := make([]float64, ds.Rows())
			base.PredictProba(ds.X, raw)
			dst := make([]float64, len(ds.Names))
			for _, i := range []int{0, 7, 99} {
				z := base.Explain(ds.X, i, dst)
				for _, v := range dst {
					z += v
				}
				if math.Abs(sigmoid(z)-raw[i]) > 1e-9 {
					t.Errorf("row %d: explained %v, predicted %v", i, sigmoid(z), raw[i])
				}
			}
			if rs := NewExplainer(m2, schemaOf(ds)).Reasons(ds.X, 0, 3); len(rs) == 0 || rs[0].Text == "" {
				t.Errorf("reasons %+v", rs)
			}
		})
	}
}

func TestArtifactSchemaMismatch(t *testing.T) {
	ds := synth(300, 2)
	m, err := FitLogReg(context.Background(), ds, LogRegConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewArtifact(m, ds, schemaOf(ds), Config{}, "2024-01-31", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	have := schemaOf(ds)[:2] // feature c gone
	have[1].Kind = "categorical"
	err = a.CheckSchema(have)
	var se *SchemaError
	if !errors.As(err, &se) || !se.BadInput() || !strings.Contains(err.Error(), "missing features: c") || !strings.Contains(err.Error(), "changed: x1") {
		t.Fatalf("err = %v", err)
	}
	// a damaged file is refused when loaded
	path := filepath.Join(t.TempDir(), "m.json")
	a.Schema[0].Name = "renamed"
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadArtifact(path); err == nil || !strings.Contains(err.Error(), "schema hash") {
		t.Fatalf("damaged artifact: err = %v", err)
	}
}

func TestDecide(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name              string
		chal, champ, marg float64
		id                string
		promote           bool
	}{
		{"no champion", 0.7, nan, 0.005, "", true},
		{"better", 0.8, 0.75, 0.005, "m1", true},
		{"within margin", 0.747, 0.75, 0.005, "m1", true},
		{"worse", 0.74, 0.75, 0.005, "m1", false},
		{"champion not evaluable", 0.6, nan, 0.005, "m1", true},
		{"challenger undefined", nan, 0.7, 0.005, "m1", false},
	}
	for _, c := range cases {
		d := Decide(c.chal, c.champ, c.marg, c.id)
		if d.Promote != c.promote || d.Reason == "" {
			t.Errorf("%s: %+v", c.name, d)
		}
	}
}

func TestReasons(t *testing.T) {
	names := []string{"recency_days", "gap_mean_days", "frequency_90d", "main_channel", "trend_frequency_90d", "tenure"}
	X := [][]float64{{142}, {47}, {0}, {1}, {-3}, {math.NaN()}}
	info := []FeatureInfo{
		{Name: "recency_days", Kind: "numeric", Window: "lifetime"},
		{Name: "gap_mean_days", Kind: "numeric"},
		{Name: "frequency_90d", Kind: "numeric", Window: "90d"},
		{Name: "main_channel", Kind: "categorical", Meaning: "the sales channel used most", Categories: []string{"web", "store"}},
		{Name: "trend_frequency_90d", Kind: "numeric"},
		{Name: "tenure", Kind: "numeric", Meaning: "months as a customer (null when unknown)"},
	}
	// a model whose contributions are fixed: 6, 5, 4, … for the features
	m := fixedModel{names: names, contrib: []float64{6, -1, 4, 3, 2, 1}}
	e := NewExplainer(m, info)
	got := e.Reasons(X, 0, 10)
	want := []string{
		"no order for 142 days, 3× the usual gap",
		// "0 orders in the last 90 days" is said by the recency
		"the sales channel used most: store",
		"3 fewer orders than in the 90 days before",
		"months as a customer: not recorded",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d reasons %+v", len(got), got)
	}
	for i := range want {
		if got[i].Text != want[i] {
			t.Errorf("reason %d = %q, want %q", i, got[i].Text, want[i])
		}
	}
	if got := e.Reasons(X, 0, 2); len(got) != 2 || got[0].Feature != "recency_days" || got[0].Contribution != 6 {
		t.Errorf("top 2: %+v", got)
	}
}

type fixedModel struct {
	names   []string
	contrib []float64
}

func (f fixedModel) Kind() string                            { return "fixed" }
func (f fixedModel) Features() []string                      { return f.names }
func (f fixedModel) PredictProba(X [][]float64, d []float64) {}
func (f fixedModel) Explain(X [][]float64, row int, dst []float64) float64 {
	copy(dst, f.contrib)
	return 0
}

func TestReasonPhrases(t *testing.T) {
	tests := []struct {
		info FeatureInfo
		v    float64
		want string
	}{
		{FeatureInfo{Name: "clv_p_alive", Kind: "numeric"}, 0.234, "purchase pattern says 23% likely still a customer"},
		{FeatureInfo{Name: "clv_expected_purchases", Kind: "numeric"}, 0.4449, "about 0.4 orders expected in the coming horizon"},
		{FeatureInfo{Name: "clv_expected_purchases", Kind: "numeric"}, 1.02, "about 1 order expected in the coming horizon"},
		{FeatureInfo{Name: "clv_p_alive", Kind: "numeric", Meaning: "BG/NBD probability (null without orders)"}, math.NaN(), "no order so far"},
		{FeatureInfo{Name: "overdue_ratio", Kind: "numeric"}, 2.5, "2.5× overdue against the usual gap between orders"},
		{FeatureInfo{Name: "days_since_sub_end", Kind: "numeric"}, 3.4, "subscription ended 3 days ago"},
		{FeatureInfo{Name: "sub_failed_payments", Kind: "numeric"}, 2, "2 failed payments on ended subscriptions"},
		{FeatureInfo{Name: "sub_failed_payments", Kind: "numeric"}, 0, "no failed payments on ended subscriptions"},
		{FeatureInfo{Name: "sub_ended_count", Kind: "numeric"}, 1, "a subscription has ended"},
		{FeatureInfo{Name: "sub_active", Kind: "numeric"}, 0, "no active subscription"},
		{FeatureInfo{Name: "events_login_90d", Kind: "numeric", Window: "90d"}, 0, `no "login" events in the last 90 days`},
		{FeatureInfo{Name: "events_login_30d", Kind: "numeric", Window: "30d"}, 1, `1 "login" event in the last 30 days`},
		{FeatureInfo{Name: "events_page_view_30d", Kind: "numeric", Window: "30d"}, 12, `12 "page_view" events in the last 30 days`},
		{FeatureInfo{Name: "events_90d", Kind: "numeric", Window: "90d"}, 4, "4 engagement events in the last 90 days"},
		{FeatureInfo{Name: "days_since_last_event", Kind: "numeric"}, 72.8, "no activity for 73 days"},
		{FeatureInfo{Name: "trend_events_30d", Kind: "numeric", Window: "60d"}, -5, "5 fewer events in the last 30 days than in the 30 days before"},
		{FeatureInfo{Name: "event_active_days_30d", Kind: "numeric", Window: "30d"}, 0, "not active on any day of the last 30"},
		{FeatureInfo{Name: "tickets_unresolved", Kind: "numeric"}, 1, "1 open support ticket"},
		{FeatureInfo{Name: "tickets_spike_30d", Kind: "numeric", Window: "120d"}, 2.5, "2.5 more tickets in the last 30 days than in an average month before"},
		{FeatureInfo{Name: "nps_last", Kind: "numeric"}, 1, "latest NPS answer 1 of 10"},
		{FeatureInfo{Name: "nps_change", Kind: "numeric"}, -4, "NPS fell by 4 since the answer before"},
		{FeatureInfo{Name: "days_since_last_survey", Kind: "numeric"}, 115, "last survey answer 115 days ago"},
		{FeatureInfo{Name: "aov_90d", Kind: "numeric", Window: "90d"}, 42.5, "average order value 42.5 in the last 90 days"},
		{FeatureInfo{Name: "tenure_days", Kind: "numeric"}, 400, "customer for 400 days"},
		{FeatureInfo{Name: "days_since_last_ticket", Kind: "numeric"}, 0.3, "last support ticket less than a day ago"},
		{FeatureInfo{Name: "days_since_signup", Kind: "numeric"}, 1.2, "signed up 1 day ago"},
		// anything else keeps the registry's words
		{FeatureInfo{Name: "sub_plan_x", Kind: "numeric", Meaning: "something new"}, 2, "something new: 2"},
		{FeatureInfo{Name: "events_x", Kind: "numeric", Window: "lifetime", Meaning: "x events"}, 2, "x events: 2"},
	}
	for _, tc := range tests {
		e := NewExplainer(fixedModel{names: []string{tc.info.Name}, contrib: []float64{1}}, []FeatureInfo{tc.info})
		if got := e.phrase([][]float64{{tc.v}}, 0, 0); got != tc.want {
			t.Errorf("%s = %v: %q, want %q", tc.info.Name, tc.v, got, tc.want)
		}
	}
}

// TestReasonsSkipTheSameFact: a reason that repeats one already given
// (a subscription has ended, after "subscription ended 3 days ago") is
// skipped and the next one takes its place; without the first, it stays.
func TestReasonsSkipTheSameFact(t *testing.T) {
	names := []string{"days_since_sub_end", "sub_ended_count", "nps_last", "recency_days", "overdue_ratio"}
	info := make([]FeatureInfo, len(names))
	for j, n := range names {
		info[j] = FeatureInfo{Name: n, Kind: "numeric"}
	}
	X := [][]float64{{3.4}, {1}, {2}, {40}, {2.5}}
	tests := []struct {
		contrib []float64
		want    []string
	}{
		{[]float64{5, 4, 3, 2, 1}, []string{"days_since_sub_end", "nps_last", "recency_days"}},
		{[]float64{-1, 4, 3, 2, 1}, []string{"sub_ended_count", "nps_last", "recency_days"}},
		{[]float64{0, 0, 0, 2, 3}, []string{"overdue_ratio", "recency_days"}}, // only after
	}
	// a zero count over a window inside a longer one already said to be zero
	wn := []string{"events_login_90d", "events_login_30d", "frequency_90d", "frequency_30d", "events_30d", "events_90d"}
	winfo := make([]FeatureInfo, len(wn))
	for j, n := range wn {
		winfo[j] = FeatureInfo{Name: n, Kind: "numeric", Window: n[strings.LastIndexByte(n, '_')+1:]}
	}
	WX := [][]float64{{0}, {0}, {0}, {0}, {0}, {0}}
	var wgot []string
	for _, r := range NewExplainer(fixedModel{names: wn, contrib: []float64{6, 5, 4, 3, 2, 1}}, winfo).Reasons(WX, 0, 4) {
		wgot = append(wgot, r.Text)
	}
	wwant := []string{`no "login" events in the last 90 days`, "0 orders in the last 90 days", "0 engagement events in the last 30 days", "0 engagement events in the last 90 days"}
	if !slices.Equal(wgot, wwant) {
		t.Errorf("window reasons %q, want %q", wgot, wwant)
	}
	WX[1][0] = 2 // not zero: it says something new
	if rs := NewExplainer(fixedModel{names: wn, contrib: []float64{6, 5, 4, 3, 2, 1}}, winfo).Reasons(WX, 0, 2); len(rs) != 2 || rs[1].Feature != "events_login_30d" {
		t.Errorf("non-zero 30-day count: %+v", rs)
	}
	// 0 failed payments and a null age of the active subscription ("no
	// active subscription") after "subscription ended …": skipped; a
	// non-zero count, or either without the ended-subscription reason,
	// stays
	for _, sc := range []struct {
		second  string // the feature beside days_since_sub_end and nps_last
		x       []float64
		contrib []float64
		want    []string
	}{
		{"sub_failed_payments", []float64{43, 0, 2}, []float64{3, 2, 1}, []string{"subscription ended 43 days ago", "latest NPS answer 2 of 10"}},
		{"sub_failed_payments", []float64{43, 2, 2}, []float64{3, 2, 1}, []string{"subscription ended 43 days ago", "2 failed payments on ended subscriptions"}},
		{"sub_failed_payments", []float64{43, 0, 2}, []float64{-1, 2, 1}, []string{"no failed payments on ended subscriptions", "latest NPS answer 2 of 10"}},
		{"sub_current_months", []float64{21, math.NaN(), 2}, []float64{3, 2, 1}, []string{"subscription ended 21 days ago", "latest NPS answer 2 of 10"}},
		{"sub_current_months", []float64{math.NaN(), math.NaN(), 2}, []float64{0, 2, 1}, []string{"no active subscription", "latest NPS answer 2 of 10"}},
	} {
		sn := []string{"days_since_sub_end", sc.second, "nps_last"}
		sinfo := []FeatureInfo{{Name: sn[0], Kind: "numeric"}, {Name: sn[1], Kind: "numeric"}, {Name: sn[2], Kind: "numeric"}}
		var got []string
		for _, r := range NewExplainer(fixedModel{names: sn, contrib: sc.contrib}, sinfo).Reasons([][]float64{{sc.x[0]}, {sc.x[1]}, {sc.x[2]}}, 0, 2) {
			got = append(got, r.Text)
		}
		if !slices.Equal(got, sc.want) {
			t.Errorf("%s = %v, contributions %v: reasons %q, want %q", sc.second, sc.x, sc.contrib, got, sc.want)
		}
	}
	for _, tc := range tests {
		got := NewExplainer(fixedModel{names: names, contrib: tc.contrib}, info).Reasons(X, 0, 3)
		var feats []string
		for _, r := range got {
			feats = append(feats, r.Feature)
		}
		if !slices.Equal(feats, tc.want) {
			t.Errorf("contributions %v: reasons %v, want %v", tc.contrib, feats, tc.want)
		}
	}
}

// TestArtifactObliviousRecipe: the saved recipe (after defaults) says the
// trees are oblivious, and a file written before the option existed (no
// key) loads as greedy trees, the recipe it was trained with, not today's
// default.
func TestArtifactObliviousRecipe(t *testing.T) {
	ds := synth(800, 3)
	a, _ := fitArtifact(t, ds, Config{Kind: "gbdt", GBDT: GBDTConfig{Trees: 10, Threads: 1}}.WithDefaults())
	path, err := (&Registry{Dir: t.TempDir()}).Save(a)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadArtifact(path)
	if err != nil {
		t.Fatal(err)
	}
	if o := b.Params.GBDT.Oblivious; o == nil || !*o {
		t.Fatalf("saved recipe: oblivious %v, want true", o != nil && *o)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	gbdt := doc["params"].(map[string]any)["gbdt"].(map[string]any)
	if gbdt["oblivious"] != true {
		t.Fatalf("saved gbdt params %v: no oblivious: true", gbdt)
	}
	delete(gbdt, "oblivious")
	old, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err = LoadArtifact(path)
	if err != nil {
		t.Fatal(err)
	}
	if o := b.Params.WithDefaults().GBDT.Oblivious; o == nil || *o {
		t.Fatalf("recipe without the key: oblivious %v (set %v), want false", o != nil && *o, o != nil)
	}
}
