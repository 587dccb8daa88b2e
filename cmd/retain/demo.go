package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/datasets/synth"
)

// demo and generate.

func newGenerateCmd() *cobra.Command {
	var (
		cfg        synth.Config
		out        string
		start, end string
		tables     string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write synthetic customer histories with known ground truth",
		Long: `Write synthetic customers, orders, events, subscriptions, tickets and surveys
(canonical columns) into --out, with a ready-to-use retain.yaml, the true
parameters (truth.json) and each customer's truth (truth.csv or truth.parquet):
true purchase rate, dropout probability, death time and mean spend.

Purchases follow a BG/NBD process (lambda ~ Gamma(r, alpha) per week; after
each repeat purchase the customer dies with probability p ~ Beta(a, b)); order
values follow the Gamma-Gamma model. Tickets spike, NPS falls and logins thin
out in the --signal-weeks before a customer dies. The same flags and seed give
byte-identical files. --orders-per-customer 20 solves alpha for about 20 orders
per customer (the 20M-order / 1M-customer benchmark set).`,
		Example: `  retain generate --customers 50000 --seed 1 --out ./synthetic
  retain generate --customers 1000000 --orders-per-customer 20 --format parquet --out bench/out/synth-1m-parquet`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("generate: --out DIR is required")
			}
			var err error
			if cfg.Start, err = parseDateFlag("--start", start); err != nil {
				return err
			}
			if cfg.End, err = parseDateFlag("--end", end); err != nil {
				return err
			}
			if tables != "" {
				for _, t := range strings.Split(tables, ",") {
					cfg.Tables = append(cfg.Tables, datasets.Table(strings.TrimSpace(t)))
				}
			}
			if cmd.Flags().Changed("signal") && cfg.Signal == 0 {
				cfg.Signal = -1 // explicit 0: no pre-churn shift
			}
			if err := cfg.Defaults().Validate(); err != nil {
				return synth.InputError{Err: err}
			}
			pr := newProgress()
			pr.Printf("generate: %d customers (seed %d, %s) into %s", cfg.Customers, cfg.Seed, orDefault(cfg.Format, "csv"), out)
			began := time.Now()
			sum, err := synth.Generate(cmd.Context(), cfg, out, func(done int) {
				pr.Update("generate: %d / %d customers (%.0fs)", done, cfg.Customers, time.Since(began).Seconds())
			})
			pr.Done()
			if err != nil {
				return err
			}
			printGenerateSummary(pr, sum)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), sum)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Customers, "customers", 0, "number of customers (required)")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed and flags give byte-identical files")
	f.StringVar(&out, "out", "", "output folder (created)")
	f.StringVar(&cfg.Format, "format", "csv", "csv or parquet (zstd)")
	f.StringVar(&start, "start", "2023-01-01", "start of the observation window (YYYY-MM-DD)")
	f.StringVar(&end, "end", "2025-01-01", "end of the window, exclusive (YYYY-MM-DD)")
	f.Float64Var(&cfg.AcquisitionShare, "acquisition-share", 0.75, "customers sign up uniformly over this first share of the window")
	f.StringVar(&tables, "tables", "", "comma-separated tables to write (default all: customers,orders,events,subscriptions,tickets,surveys)")
	f.Float64Var(&cfg.R, "r", 0.9, "BG/NBD r: shape of the purchase-rate Gamma")
	f.Float64Var(&cfg.Alpha, "alpha", 6, "BG/NBD alpha: rate of the purchase-rate Gamma (weeks)")
	f.Float64Var(&cfg.A, "a", 0.8, "BG/NBD a of the dropout Beta")
	f.Float64Var(&cfg.B, "b", 4, "BG/NBD b of the dropout Beta")
	f.Float64Var(&cfg.OrdersPerCustomer, "orders-per-customer", 0, "solve alpha for this expected number of orders per customer (overrides --alpha)")
	f.Float64Var(&cfg.P, "p", 6.25, "Gamma-Gamma p: shape of each order's value")
	f.Float64Var(&cfg.Q, "q", 3.74, "Gamma-Gamma q: shape of the customer's spend rate")
	f.Float64Var(&cfg.Gamma, "gamma", 15.44, "Gamma-Gamma gamma: rate of the customer's spend rate")
	f.Float64Var(&cfg.EventsPerWeek, "events-per-week", 0.5, "mean engagement events per week of an active customer")
	f.Float64Var(&cfg.Signal, "signal", 1, "strength of the pre-churn shift in tickets, NPS, logins, subscriptions (0 = none)")
	f.Float64Var(&cfg.SignalWeeks, "signal-weeks", 8, "weeks before death over which behaviour shifts")
	f.Float64Var(&cfg.ReturnRate, "return-rate", 0.02, "share of orders marked returned")
	f.BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	return cmd
}

func printGenerateSummary(pr *progress, sum *synth.Summary) {
	var parts []string
	for _, t := range synth.Generated {
		if n, ok := sum.Rows[t]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", t, n))
		}
	}
	pr.Printf("generate: wrote %s (%.1f MB) in %.1fs", strings.Join(parts, ", "), float64(sum.Bytes)/1e6, sum.Seconds)
	pr.Printf("generate: %.2f orders per customer (BG/NBD expects %.2f), %.1f%% died within the window",
		sum.ObservedOrdersPerCustomer, sum.ExpectedOrdersPerCustomer, 100*sum.ChurnedShare)
	pr.Printf("generate: config %s; truth %s and %s", sum.Config, sum.Truth, sum.TruthRows)
}

func parseDateFlag(flag, v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, usagef("%s: %q is not a date like 2024-01-31", flag, v)
	}
	return t, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func newDemoCmd() *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Generate sample data and run the whole flow", RunE: func(cmd *cobra.Command, _ []string) error {
		return usagef("demo: not built yet")
	}}
}
