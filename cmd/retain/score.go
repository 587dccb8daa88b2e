package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/retainlab/retain/pipeline"
	"github.com/retainlab/retain/stores"
)

func loadConfig(path string) (*pipeline.Config, error) {
	if path == "" {
		return nil, usagef("--config FILE is required")
	}
	return pipeline.Load(path)
}

func newScoreCmd() *cobra.Command {
	var cfgPath, asOf, runID, out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "score",
		Short: "Score every customer with the champion churn model and the CLV models → scores.parquet",
		Long: `Score every customer at the as-of date.

  retain score --config retain.yaml [--as-of 2011-09-09] [--run-id ID] [--out scores.parquet]

Applies the champion churn model (retain train) and BG/NBD + Gamma-Gamma to
the features at the as-of date (default: the newest features file) and writes
the risk list — probability, tier, percentile, P(alive), expected purchases,
predicted and historic CLV, value at risk, next order date, reasons, RFM
segment, value × risk cell, control flag — to
<data_dir>/runs/<run-id>/score/scores.parquet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			opts := pipeline.ScoreOptions{RunID: runID, Out: out, Progress: newProgress().Printf}
			if asOf != "" {
				if opts.AsOf, err = time.Parse(time.DateOnly, asOf); err != nil {
					return usagef("--as-of: %q is not a date like 2011-09-09", asOf)
				}
			}
			s, err := pipeline.Score(cmd.Context(), cfg, opts)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(os.Stdout, s)
			}
			fmt.Printf("scored %d customers as of %s with %s: %d high, %d medium, %d low risk\n%s\n",
				s.Customers, s.AsOf, s.ModelVersion, s.Tiers["high"], s.Tiers["medium"], s.Tiers["low"], s.Path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "config file (YAML)")
	f.StringVar(&asOf, "as-of", "", "scoring date YYYY-MM-DD (default: the newest features file)")
	f.StringVar(&runID, "run-id", "", "run id (default score-<as-of>-<time>)")
	f.StringVar(&out, "out", "", "scores file (default <data_dir>/runs/<run-id>/score/scores.parquet)")
	f.BoolVar(&asJSON, "json", false, "print one JSON summary on stdout")
	return cmd
}

func newPublishCmd() *cobra.Command {
	var cfgPath, scores string
	var asJSON bool
	var top int
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish the risk list and the intervention queue to every configured store",
		Long: `Publish the newest scores (or --scores FILE) to every configured store:

  retain publish --config retain.yaml [--scores runs/ID/score/scores.parquet] [--top 10]

SQLite (stores.sqlite, default <data_dir>/retain.db) and Postgres
(stores.postgres) get risk_current (replaced atomically, updated_at moves only
when a row's content changes), risk_history and the intervention queue the
policy: section makes; stores.files (default <data_dir>/exports) gets Parquet
and CSV exports. Publishing the same list twice changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			s, err := pipeline.Publish(cmd.Context(), cfg, pipeline.PublishOptions{Scores: scores, Progress: newProgress().Printf})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(os.Stdout, s)
			}
			for _, r := range s.Stores {
				state := fmt.Sprintf("%d risk rows, %d queue rows (%d new)", r.RiskRows, r.QueueRows, r.QueueInserted)
				if strings.HasPrefix(r.Store, "files:") {
					state = fmt.Sprintf("%d risk rows, %d queue rows exported", r.RiskRows, r.QueueRows)
				}
				if r.Skipped {
					state = "unchanged (this list is already current)"
				}
				fmt.Printf("%-40s %s\n", r.Store, state)
			}
			if top > 0 {
				rows, err := pipeline.TopAtRisk(cmd.Context(), cfg, top)
				if err != nil {
					return err
				}
				printTopAtRisk(rows, cfg.Scoring.ReasonsFor)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "config file (YAML)")
	f.StringVar(&scores, "scores", "", "scores.parquet to publish (default: the newest under <data_dir>/runs)")
	f.IntVar(&top, "top", 0, "then print the N customers with the most value at risk")
	f.BoolVar(&asJSON, "json", false, "print one JSON summary on stdout")
	return cmd
}

// printTopAtRisk prints customers with their value at risk and reasons;
// reasonsFor is scoring.reasons_for (nil: the default, high and medium).
func printTopAtRisk(rows []stores.RiskRecord, reasonsFor []string) {
	if reasonsFor == nil {
		reasonsFor = []string{stores.TierHigh, stores.TierMedium}
	}
	fmt.Printf("\n%-14s %6s %-7s %10s %-20s %s\n", "customer", "churn", "tier", "at risk", "segment", "top reasons")
	for _, r := range rows {
		var why []string
		for _, x := range r.Reasons {
			why = append(why, x.Text)
		}
		if len(why) == 0 {
			// reasons are computed for the tiers in scoring.reasons_for
			// and for customers a campaign may queue
			why = append(why, "(no feature raises the risk above the average customer's)")
			if !slices.Contains(reasonsFor, r.RiskTier) {
				why[0] = "(reasons are not computed for the " + r.RiskTier + " tier: scoring.reasons_for)"
			}
		}
		v := "-"
		if r.ValueAtRisk == r.ValueAtRisk {
			v = fmt.Sprintf("%.2f", r.ValueAtRisk)
		}
		fmt.Printf("%-14s %5.0f%% %-7s %10s %-20s %s\n", r.CustomerID, 100*r.ChurnProbability, r.RiskTier, v, r.Segment, strings.Join(why, "; "))
	}
}
