package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/models/churn"
)

// TestScorePublishTop runs the stage functions as the CLI does: champion from
// the registry, features from the features file, publish to SQLite and files.
func TestScorePublishTop(t *testing.T) {
	ctx := context.Background()
	f, _, _, asOf := scoreFixture(t, 1500)
	ds := FrameDataset(f, nil)
	mc := churn.Config{Kind: "logreg"}.WithDefaults()
	m, err := churn.Fit(ctx, ds, mc)
	if err != nil {
		t.Fatal(err)
	}
	art, err := churn.NewArtifact(m, ds, FeatureSchema(f), mc, asOf.Format(time.DateOnly), asOf)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := &Config{DataDir: dir}
	cfg.Churn.Horizon = "90d"
	reg := ModelRegistry(cfg)
	if _, err := reg.Save(art); err != nil {
		t.Fatal(err)
	}
	if err := reg.Promote(art, 0.8, "test", asOf); err != nil {
		t.Fatal(err)
	}
	if err := features.WriteFile(ctx, filepath.Join(dir, "features", features.FileName([]time.Time{asOf})), f); err != nil {
		t.Fatal(err)
	}
	s, p, top, err := ScorePublishTop(ctx, cfg, time.Time{}, 10, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if s.AsOf != "2026-11-01" || s.Customers != 1500 || s.ModelVersion != art.ID || !s.CLV {
		t.Fatalf("score: %+v", s)
	}
	if _, err := os.Stat(s.Path); err != nil {
		t.Fatal(err)
	}
	if len(p.Stores) != 2 || p.Stores[0].RiskRows != 1500 || len(top) != 10 {
		t.Fatalf("publish: %+v, %d top rows", p, len(top))
	}
	// publish again from the file: nothing changes
	p2, err := Publish(ctx, cfg, PublishOptions{})
	if err != nil || p2.Scores != s.Path || !p2.Stores[0].Skipped {
		t.Fatalf("republish: %+v %v", p2, err)
	}
}
