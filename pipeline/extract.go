package pipeline

import (
	"context"

	"github.com/retainlab/retain/datasets"
)

// ExtractOptions tunes one extract.
type ExtractOptions struct {
	// Force re-extracts even when the sources are unchanged.
	Force bool
	// Progress, when set, receives one line per step (the CLI prints them on stderr).
	Progress func(format string, args ...any)
}

// ExtractSummary is what Extract did (per table: read, kept, filtered by
// rule, quarantined, rows per shard, time range).
type ExtractSummary = datasets.ExtractSummary

// Extract is the extract stage: it reads every configured source into the
// sharded Parquet snapshot <data_dir>/snapshot (manifest.json plus
// <table>/part-NNNNN.parquet), quarantining bad rows under
// <data_dir>/quarantine. Unchanged sources make it a no-op (Unchanged is
// true). Bad input (missing columns, unreadable dates, too many bad rows)
// returns an error whose BadInput() is true.
func Extract(ctx context.Context, cfg *Config, opts ExtractOptions) (*ExtractSummary, error) {
	return datasets.Extract(ctx, datasets.ExtractConfig{
		DataDir:        cfg.DataDir,
		Shards:         cfg.Shards,
		MaxBadRowShare: cfg.MaxBadRowShare,
		MemoryBudget:   cfg.extractMemory,
		Sources:        cfg.Sources,
		Force:          opts.Force,
		Progress:       opts.Progress,
	})
}
