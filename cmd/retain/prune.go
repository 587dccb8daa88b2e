package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/retainlab/retain/pipeline"
)

// Owned by issue 7 (retention): prune.

func newPruneCmd() *cobra.Command {
	var cfgPath string
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "prune --config FILE [--dry-run] [--json]",
		Short: "Apply retention now: remove old runs' artifacts and old dated exports",
		Long: `Applies the config's retention: section (what every successful run does at its end):

  retention:
    runs: 14      # keep runs/<run-id>/ of the newest 14 succeeded runs (default 14; 0 or off: keep all)
    exports: 30   # keep the dated export files of the newest 30 dates (default 30; 0 or off: keep all)

Older runs lose their runs/<run-id>/ folder (and, with schedule.artifacts set to a
bucket, their objects under runs/<run-id>/ there) and the features file they shared under
<data_dir>/features/; the ledger keeps their rows, marked pruned. Running runs are kept;
failed runs are kept while their as-of date is within the kept window. Dated export
files (risk-<date>.parquet/.csv, queue-<date>.csv) of older dates are removed, never the
ones risk_current.* point at. --dry-run lists what would go and removes nothing.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pr := newProgress()
			env, err := openRunEnv(ctx, cfgPath, pr)
			if err != nil {
				return err
			}
			defer env.close()
			rep, perr := pipeline.Prune(ctx, env.cfg, env.ex.Artifacts, env.ex.Ledger, pipeline.PruneOptions{DryRun: dryRun})
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				printPrune(cmd, rep)
			}
			if perr != nil {
				return oneLineErr{fmt.Errorf("prune: %w", perr)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be removed; remove nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	return cmd
}

func printPrune(cmd *cobra.Command, rep *pipeline.PruneReport) {
	w := cmd.OutOrStdout()
	verb := "removed"
	if rep.DryRun {
		verb = "would remove"
	}
	keep := func(n int, what string) string {
		if n == 0 {
			return "all " + what
		}
		return fmt.Sprintf("newest %d %s", n, what)
	}
	fmt.Fprintf(w, "retention: keeping %s, %s of exports\n", keep(rep.KeepRuns, "succeeded runs"), keep(rep.KeepExports, "dates"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Runs) > 0 {
		fmt.Fprintln(tw, "RUN\tAS OF\tSTATUS\tLOCAL\tSTORE\tWHERE")
		for _, r := range rep.Runs {
			where := r.Local
			if r.Store != "" {
				if where != "" {
					where += ", "
				}
				where += fmt.Sprintf("%s (%d objects)", r.Store, r.StoreObjects)
			}
			if r.Features != nil {
				where += ", " + r.Features.Path
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.RunID, r.AsOf, r.Status, pipeline.HumanBytes(r.LocalBytes), pipeline.HumanBytes(r.StoreBytes), where)
		}
		tw.Flush()
	}
	for _, f := range rep.Exports {
		fmt.Fprintf(w, "%s %s (%s)\n", verb, f.Path, pipeline.HumanBytes(f.Bytes))
	}
	fmt.Fprintf(w, "%s %s and %s: %s (%s kept)\n", verb, count(len(rep.Runs), "run"), count(len(rep.Exports), "export file"),
		pipeline.HumanBytes(rep.Bytes), count(rep.KeptRuns, "run"))
}

// count is "1 run", "2 runs".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
