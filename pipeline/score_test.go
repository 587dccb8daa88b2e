package pipeline

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/models/churn"
	"github.com/retainlab/retain/stores"
)

// scoreFixture builds a small features frame with the CLV columns and fits a
// logistic regression on it.
func scoreFixture(t *testing.T, n int) (*features.Frame, *churn.Artifact, churn.Model, time.Time) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	asOf := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	names := []string{"recency_days", "monetary_lifetime", "clv_frequency", "clv_recency_weeks", "clv_T_weeks", "clv_monetary"}
	f := &features.Frame{Names: names, Horizon: 90 * 24 * time.Hour, Kind: "orders", X: make([][]float64, len(names))}
	for j := range names {
		f.X[j] = make([]float64, n)
		f.Registry = append(f.Registry, features.Def{Name: names[j], Meaning: names[j], Window: "lifetime", Source: "orders", Kind: features.Numeric})
	}
	for i := range n {
		T := 20 + rng.Float64()*80
		freq := math.Floor(rng.ExpFloat64() * 4)
		rec := T * rng.Float64()
		if freq == 0 {
			rec = 0
		}
		mon := 20 + rng.ExpFloat64()*40
		f.IDs = append(f.IDs, fmt.Sprintf("c%05d", i))
		f.Cutoffs = append(f.Cutoffs, asOf)
		recDays := (T - rec) * 7
		churned := 0.0
		if rng.Float64() < 1/(1+math.Exp(-(recDays/100-1.5))) {
			churned = 1
		}
		f.Labels = append(f.Labels, churned)
		for j, v := range []float64{recDays, mon * (freq + 1), freq, rec, T, mon} {
			if j == 5 && freq == 0 {
				v = math.NaN()
			}
			f.X[j][i] = v
		}
	}
	ds := FrameDataset(f, nil)
	cfg := churn.Config{Kind: "logreg"}.WithDefaults()
	m, err := churn.Fit(context.Background(), ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	art, err := churn.NewArtifact(m, ds, FeatureSchema(f), cfg, asOf.Format(time.DateOnly), asOf)
	if err != nil {
		t.Fatal(err)
	}
	return f, art, m, asOf
}

func TestScoreFrameAndPublish(t *testing.T) {
	ctx := context.Background()
	f, art, m, asOf := scoreFixture(t, 3000)
	share := 0.25
	pol := &stores.Policy{Campaigns: []stores.Campaign{{Name: "save", Tiers: []string{"high", "medium"}, DailyCapacity: 200, ControlShare: &share}}}
	meta := ScoreMeta{AsOf: asOf, ScoredAt: asOf.Add(2 * time.Hour), RunID: "run-test"}
	rows, err := ScoreFrame(ctx, f, art, m, ScoreConfig{}, pol, meta)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ScoreFrame(ctx, f, art, m, ScoreConfig{}, pol, meta)
	tiers, segs := map[string]int{}, map[string]int{}
	explained := 0
	for i, r := range rows {
		if r.Hash() != again[i].Hash() {
			t.Fatalf("row %d differs between two scorings of the same inputs", i)
		}
		tiers[r.RiskTier]++
		segs[r.Segment]++
		if r.ChurnProbability < 0 || r.ChurnProbability > 1 || r.ChurnPercentile < 0 || r.ChurnPercentile > 100 {
			t.Fatalf("row %d: %+v", i, r)
		}
		want := stores.TierLow
		if r.ChurnProbability >= 0.66 {
			want = stores.TierHigh
		} else if r.ChurnProbability >= 0.33 {
			want = stores.TierMedium
		}
		if r.RiskTier != want {
			t.Fatalf("row %d: p=%g tier %s", i, r.ChurnProbability, r.RiskTier)
		}
		if math.IsNaN(r.PAlive) || math.IsNaN(r.PredictedCLV) || math.Abs(r.ValueAtRisk-r.ChurnProbability*r.PredictedCLV) > 1e-9 {
			t.Fatalf("row %d lacks CLV: %+v", i, r)
		}
		if r.RiskTier == stores.TierHigh && len(r.Reasons) > 0 {
			explained++
		}
		if r.RiskTier == stores.TierLow && len(r.Reasons) > 0 {
			t.Fatalf("row %d is low risk but was explained", i)
		}
	}
	if tiers["high"] == 0 || tiers["low"] == 0 || len(segs) < 4 || explained < tiers["high"]*9/10 {
		t.Fatalf("tiers %v segments %v", tiers, segs)
	}
	t.Logf("tiers %v segments %v", tiers, segs)

	// publish to SQLite and files
	dir := t.TempDir()
	cfg := &Config{DataDir: dir, Policy: *pol}
	s, err := Publish(ctx, cfg, PublishOptions{Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Stores) != 2 || s.Campaigns["save"].Treatment != 200 || s.Campaigns["save"].Control == 0 {
		t.Fatalf("publish: %+v", s)
	}
	back, err := stores.ReadRiskParquet(filepath.Join(dir, "exports", "risk_current.parquet"))
	if err == nil && len(back) == len(rows) && back[10].Hash() != rows[10].Hash() {
		t.Fatalf("round trip:\n%+v\n%+v", back[10], rows[10])
	}
	if err != nil || len(back) != len(rows) {
		t.Fatalf("exported Parquet: %d rows, %v", len(back), err)
	}
	s2, err := Publish(ctx, cfg, PublishOptions{Rows: rows})
	if err != nil || !s2.Stores[0].Skipped {
		t.Fatalf("second publish: %+v %v", s2, err)
	}
	top, err := TopAtRisk(ctx, cfg, 10)
	if err != nil || len(top) != 10 || top[0].ValueAtRisk < top[9].ValueAtRisk || len(top[0].Reasons) == 0 {
		t.Fatalf("top at risk: %v %v", len(top), err)
	}
	t.Logf("top: %s p=%.2f var=%.1f %s", top[0].CustomerID, top[0].ChurnProbability, top[0].ValueAtRisk, top[0].Reasons[0].Text)
}

func TestScoreConfigValidate(t *testing.T) {
	bad := -0.1
	for _, tc := range []struct {
		c    ScoreConfig
		want string
	}{
		{ScoreConfig{TiersBy: "vibes"}, "scoring.tiers_by"},
		{ScoreConfig{High: 0.2, Medium: 0.5}, "scoring.high/medium"},
		{ScoreConfig{ReasonsFor: []string{"extreme"}}, "scoring.reasons_for"},
		{ScoreConfig{DiscountRate: &bad}, "scoring.discount_rate"},
		{ScoreConfig{}, ""},
	} {
		err := tc.c.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && err.Error()[:len(tc.want)] != tc.want) {
			t.Errorf("%+v: %v", tc.c, err)
		}
	}
}

// TestCampaignRowsHaveReasons: a campaign may queue low-risk customers
// (here: the low tier with value at risk above a minimum); they get reasons
// even though scoring.reasons_for leaves the low tier out, through both the
// row scorer and the nightly run's column scorer. Other low-tier rows get
// none.
func TestCampaignRowsHaveReasons(t *testing.T) {
	ctx := context.Background()
	f, art, m, asOf := scoreFixture(t, 3000)
	meta := ScoreMeta{AsOf: asOf, ScoredAt: asOf.Add(time.Hour), RunID: "run-test"}
	rows, err := ScoreFrame(ctx, f, art, m, ScoreConfig{}, &stores.Policy{}, meta)
	if err != nil {
		t.Fatal(err)
	}
	var low []float64
	for _, r := range rows {
		if r.RiskTier == stores.TierLow && !math.IsNaN(r.ValueAtRisk) {
			low = append(low, r.ValueAtRisk)
		}
	}
	if len(low) < 20 {
		t.Fatalf("only %d low-tier rows", len(low))
	}
	slices.Sort(low)
	pol := &stores.Policy{Campaigns: []stores.Campaign{{Name: "thank-you", Tiers: []string{stores.TierLow}, MinValueAtRisk: low[len(low)/2]}}}
	rows, err = ScoreFrame(ctx, f, art, m, ScoreConfig{}, pol, meta)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := scoreColumns(ctx, f, art, m, ScoreConfig{}, pol, ScoreMeta{AsOf: asOf, ScoredAt: meta.ScoredAt, RunID: meta.RunID, NoReasons: true})
	if err != nil {
		t.Fatal(err)
	}
	cols := map[int]bool{}
	for _, i := range c.toExplain(ScoreConfig{}.withDefaults(), pol) {
		cols[i] = true
	}
	eligible, explained := 0, 0
	for i, r := range rows {
		if r.RiskTier != stores.TierLow {
			continue
		}
		if cols[i] != pol.Campaigns[0].Eligible(&r) {
			t.Fatalf("row %d: column scorer explains it %v, eligible %v", i, cols[i], pol.Campaigns[0].Eligible(&r))
		}
		if pol.Campaigns[0].Eligible(&r) {
			eligible++
			if len(r.Reasons) > 0 {
				explained++
			}
		} else if len(r.Reasons) > 0 {
			t.Fatalf("row %d: low tier, not eligible, yet explained", i)
		}
	}
	// a row whose risk nothing raises above the average has no reasons
	if eligible == 0 || explained < eligible*9/10 {
		t.Fatalf("%d eligible low-tier rows, %d with reasons", eligible, explained)
	}
}
