package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strings"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/pipeline"
	"github.com/spf13/cobra"
)

// Owned by the foundation work (issue 2): init and extract.

func newInitCmd() *cobra.Command {
	var from, out, table string
	var force, asJSON bool
	cmd := &cobra.Command{
		Use:   "init --from FILE.csv [--out retain.yaml]",
		Short: "Write a starting config from a CSV file, guessing the column roles",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usagef("init: --from FILE.csv is required")
			}
			if !force {
				if _, err := os.Stat(out); err == nil {
					return usagef("init: %s exists; pass --force to overwrite it or --out another file", out)
				}
			}
			g, err := datasets.GuessConfig(cmd.Context(), from, out, datasets.Table(table))
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, []byte(g.YAML), 0o644); err != nil {
				return fmt.Errorf("init: writing %s: %w", out, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"config": out, "table": g.Table, "guesses": g.Guesses, "unmapped": g.Unmapped})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s (table %s from %s). Guessed:\n", out, g.Table, from)
			for _, gs := range g.Guesses {
				fmt.Fprintf(w, "  %-18s ← %-28s %s\n", gs.Canonical, gs.Source, gs.Why)
			}
			if len(g.Unmapped) > 0 {
				fmt.Fprintf(w, "  not used: %s\n", strings.Join(g.Unmapped, ", "))
			}
			fmt.Fprintf(w, "check it, then: retain extract --config %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "CSV file (or .csv.gz) to guess the config from")
	cmd.Flags().StringVar(&out, "out", "retain.yaml", "config file to write")
	cmd.Flags().StringVar(&table, "table", "", "canonical table the file holds (default: guessed, usually orders)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing config file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	return cmd
}

func newExtractCmd() *cobra.Command {
	var cfgPath, cpuProfile string
	var force, asJSON bool
	cmd := &cobra.Command{
		Use:   "extract --config FILE",
		Short: "Read the sources into a sharded Parquet snapshot",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return usagef("extract: --config FILE is required")
			}
			cfg, err := pipeline.Load(cfgPath)
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return usagef("extract: --cpuprofile: %v", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("extract: --cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			pr := newProgress()
			sum, err := pipeline.Extract(cmd.Context(), cfg, pipeline.ExtractOptions{Force: force, Progress: pr.Printf})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), sum)
			}
			printExtractSummary(cmd.OutOrStdout(), sum)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().BoolVar(&force, "force", false, "extract even when the sources are unchanged")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of the extract to this file (go tool pprof)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	return cmd
}

func printExtractSummary(w io.Writer, s *pipeline.ExtractSummary) {
	if s.Unchanged {
		fmt.Fprintf(w, "sources unchanged: snapshot %s is current, nothing written\n", s.Snapshot)
	} else {
		fmt.Fprintf(w, "snapshot %s (%d shards) in %.1fs\n", s.Snapshot, s.Shards, s.Seconds)
	}
	fmt.Fprintf(w, "%-14s %12s %12s %12s %12s %12s\n", "table", "read", "filtered", "quarantined", "kept", "rows")
	for _, t := range datasets.Tables {
		ts, ok := s.Tables[t]
		if !ok {
			continue
		}
		var filtered int64
		var rules []string
		for k, v := range ts.Filtered {
			filtered += v
			rules = append(rules, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(rules)
		fmt.Fprintf(w, "%-14s %12d %12d %12d %12d %12d\n", t, ts.Read, filtered, ts.Quarantined, ts.Kept, ts.Rows)
		if len(rules) > 0 {
			fmt.Fprintf(w, "  filtered by rule: %s\n", strings.Join(rules, ", "))
		}
		if ts.RolledUp {
			fmt.Fprintf(w, "  %d order lines rolled up into %d orders\n", ts.Kept, ts.Rows)
		}
		if ts.Duplicates > 0 {
			fmt.Fprintf(w, "  %d rows repeated a customer_id; the latest row of each customer is kept\n", ts.Duplicates)
		}
		if ts.Quarantine != "" {
			fmt.Fprintf(w, "  bad rows: %s\n", ts.Quarantine)
		}
		if ts.MinTime != nil {
			fmt.Fprintf(w, "  time range %s .. %s\n", ts.MinTime.Format("2006-01-02 15:04:05"), ts.MaxTime.Format("2006-01-02 15:04:05"))
		}
	}
}
