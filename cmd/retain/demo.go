package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/datasets/sample"
	"github.com/retainlab/retain/datasets/synth"
	"github.com/retainlab/retain/pipeline"
	"github.com/retainlab/retain/stores"
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
			sum, err := synth.Generate(cmd.Context(), cfg, out, generateProgress(pr, "generate", cfg.Customers))
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

// generateProgress reports generation progress: an updating line on a
// terminal, a plain line every 10% otherwise.
func generateProgress(pr *progress, what string, total int) func(done int) {
	began := time.Now()
	next := total / 10
	return func(done int) {
		pr.Update("%s: %d / %d customers (%.0fs)", what, done, total, time.Since(began).Seconds())
		if !pr.tty && total >= 100000 && done >= next && done < total {
			pr.Printf("%s: %d / %d customers (%.0fs)", what, done, total, time.Since(began).Seconds())
			next += total / 10
		}
	}
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

// demoState is what the demo's steps share: each step reads what earlier
// steps left and records its outputs and its part of the JSON summary.
type demoState struct {
	dataset   string // synthetic or cdnow
	dir       string // where the data and its config live
	customers int
	seed      uint64
	format    string
	fresh     bool

	configPath string
	cfg        *pipeline.Config
	asOf       string // a sensible --as-of for the next commands

	runID string              // the nightly run's id
	top   []stores.RiskRecord // the top of the published risk list

	pr      *progress
	steps   []demoStepReport
	outputs map[string]string // name → path, printed at the end
	facts   map[string]any    // extra summary values (rows, truth, …)
}

// demoStepReport is one step's entry in the JSON summary.
type demoStepReport struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Note    string  `json:"note,omitempty"`
}

// demoStep is one step of the demo. Later issues extend the demo by adding
// steps to demoSteps (features, train, score, publish, report), each
// reading st.cfg and adding to st.outputs / st.facts.
type demoStep struct {
	name string
	run  func(ctx context.Context, st *demoState) (note string, err error)
}

func demoSteps() []demoStep {
	return []demoStep{
		{"data", demoData},
		{"config", demoConfig},
		{"extract", demoExtract},
		{"features", demoFeatures},
		{"train", demoTrain},
		{"nightly run", demoRun},
		{"report", demoReport},
	}
}

// demoData writes the data set and its retain.yaml into st.dir.
func demoData(ctx context.Context, st *demoState) (string, error) {
	if st.dataset == "cdnow" {
		path, err := sample.WriteCDNOW(st.dir)
		if err != nil {
			return "", err
		}
		st.configPath = path
		st.outputs["data"] = filepath.Join(st.dir, sample.CDNOWData)
		st.facts["customers"] = sample.CDNOWCustomers
		st.facts["rows"] = map[string]int{"orders": sample.CDNOWRows}
		st.asOf = "1997-09-30" // end of the standard 39-week calibration period
		return fmt.Sprintf("CDNOW 1/10 sample (%d customers, %d purchases, 1997-1998) written to %s", sample.CDNOWCustomers, sample.CDNOWRows, st.dir), nil
	}
	st.configPath = filepath.Join(st.dir, synth.ConfigFile)
	st.asOf = "2024-09-01" // the default window ends 2025-01-01: a 90-day horizon after this is observable
	st.outputs["data"] = st.dir
	st.outputs["truth"] = filepath.Join(st.dir, "truth.json")
	if !st.fresh && sameSynthetic(st) {
		st.facts["customers"] = st.customers
		return fmt.Sprintf("reusing %d synthetic customers (seed %d) already in %s (--fresh regenerates)", st.customers, st.seed, st.dir), nil
	}
	sum, err := synth.Generate(ctx, synth.Config{Customers: st.customers, Seed: st.seed, Format: st.format}, st.dir, generateProgress(st.pr, "demo: generating", st.customers))
	st.pr.Done()
	if err != nil {
		return "", err
	}
	st.facts["customers"] = sum.Customers
	st.facts["rows"] = sum.Rows
	st.facts["expected_orders_per_customer"] = sum.ExpectedOrdersPerCustomer
	st.facts["churned_share"] = sum.ChurnedShare
	st.outputs["truth_rows"] = sum.TruthRows
	var parts []string
	for _, t := range synth.Generated {
		if n, ok := sum.Rows[t]; ok {
			parts = append(parts, fmt.Sprintf("%d %s", n, t))
		}
	}
	return fmt.Sprintf("generated %s; %.1f%% of customers died within the window (ground truth in truth.json)",
		strings.Join(parts, ", "), 100*sum.ChurnedShare), nil
}

// sameSynthetic reports whether st.dir already holds the synthetic data the
// demo would generate (same customers, seed and format), so a second demo
// reuses it and extract finds its sources unchanged.
func sameSynthetic(st *demoState) bool {
	b, err := os.ReadFile(filepath.Join(st.dir, "truth.json"))
	if err != nil {
		return false
	}
	var tj struct {
		Seed      uint64            `json:"seed"`
		Customers int               `json:"customers"`
		Files     map[string]string `json:"files"`
	}
	if json.Unmarshal(b, &tj) != nil || tj.Seed != st.seed || tj.Customers != st.customers || len(tj.Files) == 0 {
		return false
	}
	for _, f := range tj.Files {
		if filepath.Ext(f) != "."+st.format {
			return false
		}
		if _, err := os.Stat(filepath.Join(st.dir, f)); err != nil {
			return false
		}
	}
	_, err = os.Stat(st.configPath)
	return err == nil
}

// demoConfig loads and validates the data set's config.
func demoConfig(_ context.Context, st *demoState) (string, error) {
	cfg, err := pipeline.Load(st.configPath)
	if err != nil {
		return "", err
	}
	st.cfg = cfg
	st.outputs["config"] = st.configPath
	return fmt.Sprintf("%s: %d sources, data_dir %s", st.configPath, len(cfg.Sources), cfg.Resolve(cfg.DataDir)), nil
}

// demoExtract reads the sources into the sharded Parquet snapshot.
func demoExtract(ctx context.Context, st *demoState) (string, error) {
	sum, err := pipeline.Extract(ctx, st.cfg, pipeline.ExtractOptions{Progress: func(format string, args ...any) {
		st.pr.Printf("demo:   "+format, args...)
	}})
	if err != nil {
		return "", err
	}
	st.outputs["snapshot"] = sum.Snapshot
	st.facts["extract"] = sum
	var rows int64
	for _, ts := range sum.Tables {
		rows += ts.Rows
	}
	if sum.Unchanged {
		return fmt.Sprintf("sources unchanged: snapshot %s is current (%d rows), nothing written", sum.Snapshot, rows), nil
	}
	return fmt.Sprintf("%d rows in %d tables → %s (%d shards)", rows, len(sum.Tables), sum.Snapshot, sum.Shards), nil
}

func newDemoCmd() *cobra.Command {
	st := &demoState{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Generate sample data and run the whole flow",
		Long: `Run the whole product on sample data, printing each step on stderr and
where its outputs are. --dataset synthetic (default) generates customers with
known ground truth into --dir (default ./retain-demo); --dataset cdnow writes
the bundled CDNOW 1/10 sample (real purchases, 1997-1998) into --dir
(default ./retain-demo/cdnow). Each writes its retain.yaml there; every later
retain command can use it with --config.`,
		Example: `  retain demo
  retain demo --dataset cdnow
  retain demo --customers 200000 --dir /tmp/demo --json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch st.dataset {
			case "synthetic", "cdnow":
			default:
				return usagef("demo: --dataset %q is not synthetic or cdnow", st.dataset)
			}
			if !cmd.Flags().Changed("dir") && st.dataset == "cdnow" {
				st.dir = filepath.Join(st.dir, "cdnow")
			}
			if st.customers < 1 {
				return usagef("demo: --customers %d, want at least 1", st.customers)
			}
			if st.format != "csv" && st.format != "parquet" {
				return usagef("demo: --format %q is not csv or parquet", st.format)
			}
			st.pr = newProgress()
			st.outputs = map[string]string{}
			st.facts = map[string]any{}
			began := time.Now()
			steps := demoSteps()
			for i, step := range steps {
				st.pr.Printf("demo [%d/%d] %s", i+1, len(steps), step.name)
				t0 := time.Now()
				note, err := step.run(cmd.Context(), st)
				if err != nil {
					return fmt.Errorf("demo step %s: %w", step.name, err)
				}
				sec := time.Since(t0).Seconds()
				st.steps = append(st.steps, demoStepReport{Name: step.name, Seconds: sec, Note: note})
				st.pr.Printf("demo [%d/%d] %s: %s (%.1fs)", i+1, len(steps), step.name, note, sec)
			}
			total := time.Since(began).Seconds()
			st.pr.Printf("demo: done in %.1fs. Outputs:", total)
			names := make([]string, 0, len(st.outputs))
			for k := range st.outputs {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				st.pr.Printf("  %-10s %s", k, st.outputs[k])
			}
			if len(st.top) > 0 && !asJSON {
				st.pr.Printf("demo: the 10 customers with the most value at risk tonight:")
				printTopAtRisk(st.top, st.cfg.Scoring.ReasonsFor)
			}
			st.pr.Printf("next:")
			st.pr.Printf("  open %s", st.outputs["report"])
			st.pr.Printf("  retain tokens create --config %s --name crm --scopes read,claim", st.configPath)
			st.pr.Printf("  retain serve --config %s        # then GET /v1/risk-list with the token", st.configPath)
			st.pr.Printf("  retain runs --config %s         # the run ledger", st.configPath)
			if asJSON {
				out := map[string]any{"dataset": st.dataset, "dir": st.dir, "config": st.configPath, "as_of": st.asOf,
					"steps": st.steps, "outputs": st.outputs, "seconds": total}
				for k, v := range st.facts {
					out[k] = v
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&st.dataset, "dataset", "synthetic", "synthetic (generated, with ground truth) or cdnow (bundled real sample)")
	f.StringVar(&st.dir, "dir", "retain-demo", "folder for the data, its config and every output (cdnow: <dir>/cdnow)")
	f.IntVar(&st.customers, "customers", 50000, "synthetic customers to generate")
	f.Uint64Var(&st.seed, "seed", 1, "seed of the synthetic data")
	f.StringVar(&st.format, "format", "csv", "file format of the synthetic data: csv or parquet")
	f.BoolVar(&st.fresh, "fresh", false, "regenerate the synthetic data even when the same data is already in --dir")
	f.BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	return cmd
}
