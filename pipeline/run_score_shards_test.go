package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/datasets/synth"
	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/stores"
)

// quickModel trains in about a second on a few thousand customers.
const quickModel = `
model:
  kind: gbdt
  calibration_folds: 2
  gbdt:
    trees: 40
    learning_rate: 0.2
    no_refit: true
`

// synthRun generates customers with `retain generate`'s generator, adds
// extra to its retain.yaml, extracts the snapshot and trains the champion
// once as of asOf; it returns the config file.
func synthRun(t *testing.T, customers int, extra string, asOf time.Time) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := synth.Generate(ctx, synth.Config{Customers: customers, Seed: 5,
		Tables: []datasets.Table{datasets.Customers, datasets.Orders, datasets.Events}}, dir, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, synth.ConfigFile)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(extra + quickModel); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Extract(ctx, cfg, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(ctx, cfg, TrainOptions{AsOf: asOf}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestShardedScoreMatchesWholeScoring: the score stage run as N shards
// (prepare once, explain per shard, merge) writes the same scores.parquet
// bytes as scoring the run's features in one piece (ScoreFrame).
func TestShardedScoreMatchesWholeScoring(t *testing.T) {
	ctx := context.Background()
	asOf := time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)
	cfgPath := synthRun(t, 3000, "shards: 4\n", asOf)
	now := time.Date(2024, 12, 1, 2, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		shards int
	}{{"one shard", 1}, {"four shards", 4}, {"seven shards", 7}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Shards = tc.shards // the plan's shards; the snapshot keeps its 4
			plan, err := NewPlan(cfg, asOf, KindManual)
			if err != nil {
				t.Fatal(err)
			}
			i := plan.StageIndex(StageScore)
			if i < 0 || !plan.Stages[i].Sharded() {
				t.Fatalf("score is not a per-shard stage (index %d)", i)
			}
			ex := &Executor{Artifacts: Artifacts{Root: t.TempDir()}, Now: func() time.Time { return now }, Parallel: 2}
			if _, err := ex.Run(ctx, plan); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(ex.Artifacts.StageDir(plan.RunID, StageScore), "scores.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			for sh := 0; sh < tc.shards; sh++ {
				if m, _ := ReadManifest(ex.Artifacts.PartDir(plan.RunID, StageScore, sh)); m == nil {
					t.Fatalf("shard %d has no part", sh)
				}
			}

			frame, err := features.ReadFile(filepath.Join(ex.Artifacts.StageDir(plan.RunID, StageFeatures), features.FileName([]time.Time{asOf})))
			if err != nil {
				t.Fatal(err)
			}
			art, model, err := ModelRegistry(cfg).LoadChampion()
			if err != nil {
				t.Fatal(err)
			}
			rows, err := ScoreFrame(ctx, frame, art, model, cfg.Scoring, &cfg.Policy, ScoreMeta{AsOf: asOf, ScoredAt: now, RunID: plan.RunID})
			if err != nil {
				t.Fatal(err)
			}
			explained := 0
			for i := range rows {
				if len(rows[i].Reasons) > 0 {
					explained++
				}
			}
			if explained == 0 || explained == len(rows) {
				t.Fatalf("%d of %d rows have reasons: the test needs both kinds", explained, len(rows))
			}
			want := filepath.Join(t.TempDir(), "scores.parquet")
			if err := stores.WriteRiskParquet(ctx, want, rows, scoresMeta(summarizeScores(want, plan.RunID, asOf, art.ID, rows))); err != nil {
				t.Fatal(err)
			}
			w, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, w) {
				t.Fatalf("the %d-shard score stage wrote %d bytes that differ from whole scoring's %d", tc.shards, len(got), len(w))
			}
		})
	}
}
