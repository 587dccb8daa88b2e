package pipeline

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/models/churn"
)

func TestWithCLVFeatures(t *testing.T) {
	ctx := context.Background()
	f, _, _, _ := scoreFixture(t, 400)
	// One customer without an order summary.
	for _, c := range []string{"clv_frequency", "clv_recency_weeks", "clv_T_weeks"} {
		f.Column(c)[3] = math.NaN()
	}
	m, err := fitCLVFeatures(ctx, f, nil)
	if err != nil || m == nil {
		t.Fatalf("fit: %v, %v", m, err)
	}
	names := slices.Clone(f.Names)
	g := withCLVFeatures(f, m)
	if !slices.Equal(f.Names, names) {
		t.Fatalf("the input frame changed: %v", f.Names)
	}
	pa, ex := g.Column(featPAlive), g.Column(featExpected)
	if pa == nil || ex == nil || len(g.Registry) != len(g.Names) {
		t.Fatalf("columns %v", g.Names)
	}
	if !math.IsNaN(pa[3]) || !math.IsNaN(ex[3]) {
		t.Errorf("a customer without orders gets %v, %v; want null", pa[3], ex[3])
	}
	freq, rec, T := f.Column("clv_frequency"), f.Column("clv_recency_weeks"), f.Column("clv_T_weeks")
	h := 90.0 / 7
	for _, i := range []int{0, 1, 2, 10, 200} {
		r := math.Min(rec[i], T[i])
		if freq[i] == 0 {
			r = 0
		}
		if want := m.PAlive(freq[i], r, T[i]); pa[i] != want || !(pa[i] > 0 && pa[i] <= 1) {
			t.Errorf("row %d: p_alive %v, want %v in (0, 1]", i, pa[i], want)
		}
		if want := m.ExpectedPurchases(h, freq[i], r, T[i]); ex[i] != want || ex[i] < 0 {
			t.Errorf("row %d: expected purchases %v, want %v ≥ 0", i, ex[i], want)
		}
	}
	// Applying again replaces the columns instead of adding more.
	if again := withCLVFeatures(g, m); len(again.Names) != len(g.Names) {
		t.Errorf("second application: %d columns, want %d", len(again.Names), len(g.Names))
	}
	// No order summary (e.g. a subscription business): no columns.
	plain := subsetFrame(f, []int{0, 1})
	plain.Names, plain.X, plain.Registry = plain.Names[:2], plain.X[:2], plain.Registry[:2]
	if m, err := fitCLVFeatures(ctx, plain, nil); m != nil || err != nil {
		t.Errorf("fit without clv columns: %v, %v", m, err)
	}
}

// The trained artifact carries the BG/NBD fit of its CLV features, and
// scoring derives them from it: a customer's probability does not depend
// on which other customers are scored with it (so shards agree with the
// whole run).
func TestCLVFeaturesTrainAndScore(t *testing.T) {
	ctx := context.Background()
	cfg := trainConfig(t, "")
	end := time.Date(2024, 12, 29, 0, 0, 0, 0, time.UTC)
	s, err := Train(ctx, cfg, TrainOptions{AsOf: end})
	if err != nil {
		t.Fatal(err)
	}
	art, err := churn.LoadArtifact(s.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	if art.CLVFeatures == nil || !(art.CLVFeatures.R > 0) {
		t.Fatalf("artifact CLV features %+v", art.CLVFeatures)
	}
	var in []string
	for _, c := range art.Schema {
		in = append(in, c.Name)
	}
	if !slices.Contains(in, featPAlive) || !slices.Contains(in, featExpected) {
		t.Fatalf("schema %v lacks the CLV features", in)
	}
	fs, err := BuildFeatures(ctx, cfg, FeaturesOptions{Cutoffs: []time.Time{end}})
	if err != nil {
		t.Fatal(err)
	}
	if fs.Frame.Column(featPAlive) != nil {
		t.Errorf("the features file holds %s; it belongs to the model", featPAlive)
	}
	m, err := art.DecodeModel()
	if err != nil {
		t.Fatal(err)
	}
	score := func(f *features.Frame) map[string]float64 {
		_, aligned, err := scoringFrames(f, art, end)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]float64, aligned.Rows())
		m.PredictProba(aligned.X, p)
		out := map[string]float64{}
		for i, id := range aligned.IDs {
			out[id] = p[i]
		}
		return out
	}
	all := score(fs.Frame)
	var half []int
	for i := 0; i < fs.Frame.Rows(); i += 2 {
		half = append(half, i)
	}
	part := score(subsetFrame(fs.Frame, half))
	if len(part) == 0 {
		t.Fatal("nothing scored")
	}
	for id, p := range part {
		if all[id] != p {
			t.Fatalf("customer %s: %v scored with everyone, %v with half", id, all[id], p)
		}
	}
}
