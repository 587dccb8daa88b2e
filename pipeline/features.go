package pipeline

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/features"
)

// FeaturesOptions tunes one feature build.
type FeaturesOptions struct {
	// Cutoffs are the as-of dates D; several stack customer × cutoff rows.
	Cutoffs []time.Time
	// Out is the features file to write (default
	// <data_dir>/features/features-<D>.parquet, see features.FileName).
	Out string
	// SnapshotDir overrides <data_dir>/snapshot.
	SnapshotDir string
	// Workers is how many shards are built at once (default GOMAXPROCS).
	Workers int
	// Progress, when set, receives one line per step.
	Progress func(format string, args ...any)
}

// FeaturesSummary is what BuildFeatures did; its JSON is the
// `retain features --json` object.
type FeaturesSummary struct {
	Path      string   `json:"path"`
	Customers int      `json:"customers"` // rows (customer × cutoff)
	Positives *int     `json:"positives"` // churned rows among those with a known label; null without labels
	ChurnRate *float64 `json:"churn_rate"`
	Labeled   int      `json:"labeled"` // rows whose horizon is observable
	Features  int      `json:"features"`
	Cutoffs   []string `json:"cutoffs"`
	Kind      string   `json:"churn_kind"`
	Horizon   string   `json:"horizon"`
	// ObservedUntil is the latest record of the label table: labels exist for
	// cutoffs D with D + horizon <= ObservedUntil.
	ObservedUntil string  `json:"observed_until"`
	Seconds       float64 `json:"seconds"`
	// Frame is the built table (not serialised), for callers that go on to
	// train or score in the same process.
	Frame *features.Frame `json:"-"`
}

// BuildFeatures is the features stage: from the snapshot of cfg.DataDir it
// builds one row per eligible customer and cutoff with point-in-time
// features (records strictly before each cutoff) and churn labels, and
// writes the features file atomically.
func BuildFeatures(ctx context.Context, cfg *Config, opts FeaturesOptions) (*FeaturesSummary, error) {
	if len(opts.Cutoffs) == 0 {
		return nil, &ConfigError{File: cfg.Path(), Msg: "features: at least one cutoff (--as-of) is required"}
	}
	snap := opts.SnapshotDir
	if snap == "" {
		snap = datasets.SnapshotDir(cfg.DataDir)
	}
	out := opts.Out
	if out == "" {
		out = filepath.Join(cfg.DataDir, "features", features.FileName(opts.Cutoffs))
	}
	start := time.Now()
	logf := func(format string, args ...any) {
		if opts.Progress != nil {
			opts.Progress(format, args...)
		}
	}
	logf("features: building from %s at %d cutoff(s)", snap, len(opts.Cutoffs))
	f, err := features.Build(ctx, snap, features.Options{
		Cutoffs: opts.Cutoffs,
		Churn:   cfg.Churn,
		Workers: opts.Workers,
		Progress: func(done, total int) {
			logf("features: shard %d/%d done", done, total)
		},
	})
	if err != nil {
		return nil, err
	}
	logf("features: writing %d rows × %d features to %s", f.Rows(), len(f.Names), out)
	if err := features.WriteFile(ctx, out, f); err != nil {
		return nil, err
	}
	s := &FeaturesSummary{Path: out, Customers: f.Rows(), Features: len(f.Names), Kind: f.Kind,
		Horizon: fmt.Sprintf("%dd", int64(f.Horizon/features.Day)), Frame: f}
	if !f.ObservedUntil.IsZero() {
		s.ObservedUntil = f.ObservedUntil.Format(time.RFC3339)
	}
	for _, c := range opts.Cutoffs {
		s.Cutoffs = append(s.Cutoffs, c.UTC().Format(time.DateOnly))
	}
	pos := 0
	for _, l := range f.Labels {
		if !math.IsNaN(l) {
			s.Labeled++
			if l == 1 {
				pos++
			}
		}
	}
	if s.Labeled > 0 {
		rate := float64(pos) / float64(s.Labeled)
		s.Positives, s.ChurnRate = &pos, &rate
	}
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}

// CutoffsEvery returns the cutoffs from, from+every, … up to and including to.
func CutoffsEvery(from, to time.Time, every time.Duration) ([]time.Time, error) {
	if every <= 0 {
		return nil, fmt.Errorf("--every must be positive")
	}
	if to.Before(from) {
		return nil, fmt.Errorf("--to %s is before --from %s", to.Format(time.DateOnly), from.Format(time.DateOnly))
	}
	var out []time.Time
	for c := from; !c.After(to); c = c.Add(every) {
		out = append(out, c)
		if len(out) > 10000 {
			return nil, fmt.Errorf("more than 10000 cutoffs between %s and %s", from.Format(time.DateOnly), to.Format(time.DateOnly))
		}
	}
	return out, nil
}
