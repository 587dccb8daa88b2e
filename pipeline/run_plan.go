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
//
// A scoring run gets a train stage only while no champion exists, so the
// night that trained the first champion would be planned without it by any
// process planning it afterwards, and its later stages' inputs would no
// longer match: NewSharedPlan keeps the train stage in a scoring run that
// has a completed one.
func NewSharedPlan(ctx context.Context, cfg *Config, arts Artifacts, asOf time.Time, kind string) (*Plan, error) {
	if err := arts.PullModels(ctx, ModelsDir(cfg)); err != nil {
		return nil, err
	}
	p, err := NewPlan(cfg, asOf, kind)
	if err != nil {
		return nil, err
	}
	if i := p.StageIndex(StageScore); i >= 0 && p.StageIndex(StageTrain) < 0 {
		m, err := arts.Manifest(ctx, arts.StageDir(p.RunID, StageTrain))
		if err != nil {
			return nil, err
		}
		if m != nil {
			p.Stages = append(p.Stages[:i], append([]Stage{trainStage(cfg)}, p.Stages[i:]...)...)
		}
	}
	return p, nil
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

// sameSnapshot reports whether two snapshot manifests describe the same
// snapshot: same layout and sources, and per table the same source
// fingerprint and rows per shard (creation times and quarantine paths may
// differ between machines).
func sameSnapshot(a, b *datasets.Manifest) bool {
	if a.SchemaVersion != b.SchemaVersion || a.Shards != b.Shards || a.ConfigHash != b.ConfigHash || len(a.Tables) != len(b.Tables) {
		return false
	}
	for t, x := range a.Tables {
		y, ok := b.Tables[t]
		if !ok || x.Fingerprint != y.Fingerprint || x.Rows != y.Rows || fmt.Sprint(x.ShardRows) != fmt.Sprint(y.ShardRows) {
			return false
		}
	}
	return true
}

func readSnapshotManifest(path string) (*datasets.Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m datasets.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return &m, nil
}

// ensureSnapshot makes sure the snapshot under this machine's data_dir is the
// one the run's extract stage recorded. It is not when extract ran on another
// machine (runs shared through an object store; the snapshot itself stays in
// each machine's data_dir) or the snapshot was replaced since: then the
// sources are extracted here again, which must give the recorded snapshot.
func ensureSnapshot(ctx context.Context, cfg *Config, rc *RunContext) error {
	want, err := readSnapshotManifest(filepath.Join(rc.StageDir(StageExtract), "snapshot-manifest.json"))
	if err != nil {
		return fmt.Errorf("the run's extract stage: %w", err)
	}
	local := filepath.Join(datasets.SnapshotDir(cfg.DataDir), "manifest.json")
	if have, err := readSnapshotManifest(local); err == nil && sameSnapshot(want, have) {
		return nil
	}
	if _, err := Extract(ctx, cfg, ExtractOptions{Force: true}); err != nil {
		return fmt.Errorf("extracting again (this machine's snapshot is not the run's): %w", err)
	}
	have, err := readSnapshotManifest(local)
	if err != nil {
		return err
	}
	if !sameSnapshot(want, have) {
		return fmt.Errorf("the snapshot under %s is not the one the run's extract stage recorded, and extracting again did not give it: the sources changed since (their size and modification time are what the extract stage fingerprints)", datasets.SnapshotDir(cfg.DataDir))
	}
	return nil
}

func featuresStage(cfg *Config) Stage {
	return Stage{Name: StageFeatures, Version: "1", Reads: []string{StageExtract},
		Run: func(ctx context.Context, rc *RunContext, out string) (StageResult, error) {
			if err := ensureSnapshot(ctx, cfg, rc); err != nil {
				return StageResult{}, fmt.Errorf("features: %w", err)
			}
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
