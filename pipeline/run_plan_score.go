package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// scoringStages are the stages after features in a scoring run: train
// (only while no champion model exists yet), score and publish.
func scoringStages(cfg *Config) []Stage {
	var st []Stage
	if c, err := ModelRegistry(cfg).Champion(); err != nil || c == nil {
		st = append(st, trainStage(cfg))
	}
	return append(st, scoreStage(cfg), publishStage(cfg))
}

// championInputs fingerprints the champion pointer: a new champion rescores.
func championInputs(cfg *Config) func(ctx context.Context, rc *RunContext) (string, error) {
	return func(ctx context.Context, rc *RunContext) (string, error) {
		b, err := os.ReadFile(filepath.Join(ModelsDir(cfg), "champion.json"))
		if err != nil && !os.IsNotExist(err) {
			return "", fmt.Errorf("reading the champion pointer: %w", err)
		}
		return fingerprint(string(b)), nil
	}
}

// shareFeatures makes the run's features file visible where the other
// stages look for it (<data_dir>/features/features-<D>.parquet): a hard
// link renamed into place, or a copy where links are not possible.
func shareFeatures(cfg *Config, src string) error {
	dst := filepath.Join(cfg.DataDir, "features", filepath.Base(src))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("features folder: %w", err)
	}
	tmp := dst + ".tmp-link"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err == nil {
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("sharing the features file: %w", err)
		}
		return syncDir(filepath.Dir(dst))
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("sharing the features file: %w", err)
	}
	return WriteFileAtomic(dst, b)
}

// scoreStage scores per customer shard. Prepare does what needs every
// customer at once, over the run's features: the churn probabilities with
// their percentiles and tiers, the CLV models (fitted on all customers),
// segments and the value × risk grid — every column but the reasons — and
// copies the champion model into the prep folder, so every shard uses the
// same model even if a new champion is promoted meanwhile. Each shard
// explains its own customers (exact TreeSHAP, the bulk of scoring's CPU
// time) and hashes the explained rows. Merge puts the reasons and hashes
// into the prepared columns and writes scores.parquet: the same bytes as
// scoring in one piece (Score). In one process the prepare leaves the
// aligned features, the model and the columns in memory for the shards
// and the merge (checked by the prep's nonce), so nothing is read back.
func scoreStage(cfg *Config) Stage {
	sh := &scoreShared{}
	return Stage{Name: StageScore, Version: "2", Inputs: championInputs(cfg), Reads: []string{StageFeatures},
		Prepare: func(ctx context.Context, rc *RunContext, out string) (StageResult, error) {
			n, err := scorePrepare(ctx, cfg, rc, sh, out)
			return StageResult{Rows: int64(n)}, err
		},
		RunShard: func(ctx context.Context, rc *RunContext, shard int, out string) (StageResult, error) {
			n, err := scoreShard(ctx, cfg, rc, sh, shard, out)
			return StageResult{Rows: int64(n)}, err
		},
		Merge: func(ctx context.Context, rc *RunContext, parts []string, out string) (StageResult, error) {
			defer sh.drop()
			sum, err := scoreMerge(ctx, rc, sh, parts, out)
			if err != nil {
				return StageResult{}, err
			}
			return StageResult{Rows: int64(sum.Customers)}, writeJSON(filepath.Join(out, "summary.json"), sum)
		}}
}

func publishStage(cfg *Config) Stage {
	return Stage{Name: StagePublish, Version: "1", Reads: []string{StageScore},
		Run: func(ctx context.Context, rc *RunContext, out string) (StageResult, error) {
			sum, err := Publish(ctx, cfg, PublishOptions{Scores: filepath.Join(rc.StageDir(StageScore), "scores.parquet")})
			if err != nil {
				return StageResult{}, err
			}
			return StageResult{Rows: int64(sum.RiskRows)}, writeJSON(filepath.Join(out, "summary.json"), sum)
		}}
}
