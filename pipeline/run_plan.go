package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/features"
)

// Stage names of the nightly flow.
const (
	StageExtract  = "extract"
	StageFeatures = "features"
	StageTrain    = "train"
	StageScore    = "score"
	StagePublish  = "publish"
)

// NewPlan is the run of cfg for one as-of date: extract → features → score →
// publish for scoring runs, extract → features → train for retraining runs.
func NewPlan(cfg *Config, asOf time.Time, kind string) (*Plan, error) {
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, err
	}
	fp, err := ConfigFingerprint(cfg)
	if err != nil {
		return nil, err
	}
	if kind == "" {
		kind = KindManual
	}
	p := &Plan{RunID: RunID(asOf, fp, kind), AsOf: asOf, Kind: kind, ConfigFP: fp, Shards: cfg.Shards, Config: cfg}
	p.Stages = append(p.Stages, extractStage(cfg), featuresStage(cfg))
	if kind == KindRetrain {
		p.Stages = append(p.Stages, trainStage(cfg))
	} else {
		p.Stages = append(p.Stages, scoringStages(cfg)...)
	}
	return p, nil
}

// NewSharedPlan is NewPlan after making the local model registry follow the
// champion shared in the artifact store (Artifacts.PullModels), so every
// machine plans a run the same way and scores with the same model. Without a
// store it is NewPlan.
func NewSharedPlan(ctx context.Context, cfg *Config, arts Artifacts, asOf time.Time, kind string) (*Plan, error) {
	if err := arts.PullModels(ctx, ModelsDir(cfg)); err != nil {
		return nil, err
	}
	return NewPlan(cfg, asOf, kind)
}

// LedgerDatabase is where the ledger of cfg lives: schedule.database, or
// SQLite at <data_dir>/retain.db.
func LedgerDatabase(cfg *Config) string {
	db := cfg.Schedule.Database
	switch {
	case db == "":
		return LedgerPath(cfg.DataDir)
	case IsPostgres(db):
		return os.ExpandEnv(db)
	default:
		return cfg.Resolve(os.ExpandEnv(db))
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// sourcesFingerprint hashes each file source's size and modification time
// (database sources are fingerprinted by their query: they are re-read on
// every new run id anyway).
func sourcesFingerprint(cfg *Config) (string, error) {
	names := make([]string, 0, len(cfg.Sources))
	for t := range cfg.Sources {
		names = append(names, string(t))
	}
	sort.Strings(names)
	parts := []string{}
	for _, n := range names {
		src := cfg.Sources[datasets.Table(n)]
		parts = append(parts, n, src.Format, src.Query)
		if src.Path != "" {
			st, err := os.Stat(src.Path)
			if err != nil {
				return "", fmt.Errorf("sources.%s: %w", n, err)
			}
			parts = append(parts, fmt.Sprint(st.Size(), st.ModTime().UnixNano()))
		}
	}
	return fingerprint(parts...), nil
}

func extractStage(cfg *Config) Stage {
	return Stage{Name: StageExtract, Version: "1",
		Inputs: func(ctx context.Context, rc *RunContext) (string, error) { return sourcesFingerprint(cfg) },
		Run: func(ctx context.Context, rc *RunContext, out string) (StageResult, error) {
			sum, err := Extract(ctx, cfg, ExtractOptions{})
			if err != nil {
				return StageResult{}, err
			}
			// The snapshot is shared by runs; the stage folder records which one.
			b, err := os.ReadFile(filepath.Join(datasets.SnapshotDir(cfg.DataDir), "manifest.json"))
			if err != nil {
				return StageResult{}, fmt.Errorf("reading the snapshot manifest: %w", err)
			}
			if err := os.WriteFile(filepath.Join(out, "snapshot-manifest.json"), b, 0o644); err != nil {
				return StageResult{}, err
			}
			var rows int64
			for _, t := range sum.Tables {
				rows += int64(t.Kept)
			}
			return StageResult{Rows: rows}, writeJSON(filepath.Join(out, "summary.json"), sum)
		}}
}

func featuresStage(cfg *Config) Stage {
	return Stage{Name: StageFeatures, Version: "1",
		Run: func(ctx context.Context, rc *RunContext, out string) (StageResult, error) {
			sum, err := BuildFeatures(ctx, cfg, FeaturesOptions{Cutoffs: []time.Time{rc.AsOf},
				Out: filepath.Join(out, features.FileName([]time.Time{rc.AsOf}))})
			if err != nil {
				return StageResult{}, err
			}
			sum.Frame = nil
			return StageResult{Rows: int64(sum.Customers)}, writeJSON(filepath.Join(out, "summary.json"), sum)
		}}
}

func trainStage(cfg *Config) Stage {
	return Stage{Name: StageTrain, Version: "1",
		Run: func(ctx context.Context, rc *RunContext, out string) (StageResult, error) {
			sum, err := Train(ctx, cfg, TrainOptions{AsOf: rc.AsOf})
			if err != nil {
				return StageResult{}, err
			}
			// Other machines score with the champion shared in the store.
			if err := rc.arts.PushModels(ctx, ModelsDir(cfg)); err != nil {
				return StageResult{}, err
			}
			return StageResult{Rows: int64(sum.N)}, writeJSON(filepath.Join(out, "summary.json"), sum)
		}}
}
