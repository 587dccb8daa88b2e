package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/pipeline"
	"github.com/spf13/cobra"
)

// Owned by issue 3: features.

func newFeaturesCmd() *cobra.Command {
	var cfgPath, asOf, every, from, to, out string
	var list, asJSON bool
	var workers int
	cmd := &cobra.Command{
		Use:   "features --config FILE --as-of D[,D2,…] | --every 30d --from A --to B",
		Short: "Build point-in-time features and churn labels from the snapshot",
		Long: `Builds one row per eligible customer and cutoff D. Every feature uses only
records dated strictly before D (a record at exactly D belongs to the
future); the label looks at [D, D+churn.horizon). Writes
<data_dir>/features/features-<D>.parquet. --list prints the feature registry.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if list {
				return printRegistry(cmd, asJSON)
			}
			if cfgPath == "" {
				return usagef("features: --config FILE is required")
			}
			cutoffs, err := parseCutoffs(asOf, every, from, to)
			if err != nil {
				return err
			}
			cfg, err := pipeline.Load(cfgPath)
			if err != nil {
				return err
			}
			pr := newProgress()
			sum, err := pipeline.BuildFeatures(cmd.Context(), cfg, pipeline.FeaturesOptions{Cutoffs: cutoffs, Out: out, Workers: workers, Progress: pr.Printf})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), sum)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d rows (customer × cutoff) × %d features at %s → %s\n", sum.Customers, sum.Features, strings.Join(sum.Cutoffs, ","), sum.Path)
			if sum.ChurnRate != nil {
				fmt.Fprintf(w, "churn (%s, %s horizon): %d of %d labeled rows = %.4f\n", sum.Kind, sum.Horizon, *sum.Positives, sum.Labeled, *sum.ChurnRate)
			} else {
				fmt.Fprintf(w, "no labels yet: the %s horizon after the cutoff reaches past the data (last record %s)\n", sum.Horizon, sum.ObservedUntil)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "config file (YAML)")
	f.StringVar(&asOf, "as-of", "", "cutoff date(s) D, comma-separated (YYYY-MM-DD or RFC 3339; a date means 00:00 UTC)")
	f.StringVar(&every, "every", "", "cutoff spacing for a series, e.g. 30d (with --from and --to)")
	f.StringVar(&from, "from", "", "first cutoff of a series")
	f.StringVar(&to, "to", "", "last possible cutoff of a series (inclusive)")
	f.StringVar(&out, "out", "", "features file to write (default <data_dir>/features/features-<D>.parquet)")
	f.IntVar(&workers, "workers", 0, "shards built at once (default: all cores)")
	f.BoolVar(&list, "list", false, "print the feature registry (name, window, source, meaning) and exit")
	f.BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	return cmd
}

func printRegistry(cmd *cobra.Command, asJSON bool) error {
	reg := features.Registry()
	if asJSON {
		return printJSON(cmd.OutOrStdout(), map[string]any{"features": reg})
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tWINDOW\tSOURCE\tKIND\tMEANING")
	for _, d := range reg {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Window, d.Source, d.Kind, d.Meaning)
	}
	return tw.Flush()
}

func parseDate(flag, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usagef("features: %s %q is not a date like 2011-09-09 (or RFC 3339)", flag, s)
}

func parseCutoffs(asOf, every, from, to string) ([]time.Time, error) {
	if asOf != "" && (every != "" || from != "" || to != "") {
		return nil, usagef("features: give either --as-of or --every/--from/--to, not both")
	}
	if asOf != "" {
		var out []time.Time
		for _, s := range strings.Split(asOf, ",") {
			t, err := parseDate("--as-of", s)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	}
	if every == "" || from == "" || to == "" {
		return nil, usagef("features: --as-of D, or --every 30d --from A --to B, is required")
	}
	step, err := features.ParseDuration(every)
	if err != nil || step <= 0 {
		return nil, usagef("features: --every %q is not a duration like 30d", every)
	}
	a, err := parseDate("--from", from)
	if err != nil {
		return nil, err
	}
	b, err := parseDate("--to", to)
	if err != nil {
		return nil, err
	}
	cuts, err := pipeline.CutoffsEvery(a, b, step)
	if err != nil {
		return nil, usagef("features: %v", err)
	}
	return cuts, nil
}

// demoFeatures is the demo's features step (issue 3): features and labels at
// the latest cutoff whose churn horizon is fully observed in the data (the
// label table's last record minus the horizon, at 00:00 UTC). It goes in
// demoSteps() right after extract.
func demoFeatures(ctx context.Context, st *demoState) (string, error) {
	D, err := latestLabeledCutoff(st.cfg)
	if err != nil {
		return "", err
	}
	sum, err := pipeline.BuildFeatures(ctx, st.cfg, pipeline.FeaturesOptions{Cutoffs: []time.Time{D},
		Progress: func(format string, args ...any) { st.pr.Printf("demo:   "+format, args...) }})
	if err != nil {
		return "", err
	}
	st.outputs["features"] = sum.Path
	st.facts["features"] = sum
	rate := "no labels"
	if sum.ChurnRate != nil {
		rate = fmt.Sprintf("churn rate %.3f over %s", *sum.ChurnRate, sum.Horizon)
	}
	return fmt.Sprintf("%d customers × %d features at %s, %s → %s", sum.Customers, sum.Features, D.Format(time.DateOnly), rate, sum.Path), nil
}

// latestLabeledCutoff is the label table's last record time minus the
// horizon, truncated to a day (from the snapshot manifest).
func latestLabeledCutoff(cfg *pipeline.Config) (time.Time, error) {
	snap, err := datasets.OpenSnapshot(datasets.SnapshotDir(cfg.DataDir))
	if err != nil {
		return time.Time{}, err
	}
	t := datasets.Orders
	if cfg.Churn.KindOrDefault() == features.KindSubscriptions {
		t = datasets.Subscriptions
	}
	ts := snap.Manifest.Tables[t]
	if ts == nil || ts.MaxTime == nil {
		return time.Time{}, fmt.Errorf("features: the snapshot has no %s to label churn with", t)
	}
	return ts.MaxTime.UTC().Add(-cfg.Churn.HorizonDuration()).Truncate(24 * time.Hour), nil
}
