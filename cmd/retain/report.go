package main

// Owned by the reports work (issue 8): retain report, and the helpers that
// train, run and demo call to leave a report behind.

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/models/eval"
	reports "github.com/retainlab/retain/notebooks-exports"
	"github.com/retainlab/retain/pipeline"
	"github.com/retainlab/retain/stores"
)

// reportSummary is the --json object of `retain report`.
type reportSummary struct {
	RunID     string            `json:"run_id"`
	AsOf      string            `json:"as_of"`
	Dir       string            `json:"dir"`
	Index     string            `json:"index"`
	Reports   map[string]string `json:"reports"` // kind → report.html
	Notebooks map[string]string `json:"notebooks"`
	Exports   []reports.Export  `json:"exports"`
	Notes     []string          `json:"notes,omitempty"`
	// Uploaded is where the reports were copied when schedule.artifacts is
	// an object store (reports/<run-id>/ there).
	Uploaded string `json:"uploaded,omitempty"`
}

func newReportCmd() *cobra.Command {
	var cfgPath, runID, out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "report --config FILE [--run RUN_ID]",
		Short: "Regenerate a run's model, retention and campaign reports (HTML + .ipynb) and the notebook exports",
		Long: `Writes, for one run (default: the latest that has scores):

  <data_dir>/reports/<run-id>/index.html              links to the reports below
  <data_dir>/reports/<run-id>/{model,retention,campaign}/report.html, report.ipynb, data/*.parquet
  <data_dir>/exports/{features,scores,clv}.{parquet,arrow}   for pandas / polars

The model report shows the champion model's evaluation (ROC, PR, lift, gains,
calibration, tiers, importance, SHAP summary, champion comparison, backtests);
the retention report cohorts, repeat rate, CLV distribution, value at risk by
segment and the BG/NBD calibration/holdout check; the campaign report
treatment against control per campaign once outcomes are recorded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return usagef("report: --config is required")
			}
			cfg, err := pipeline.Load(cfgPath)
			if err != nil {
				return err
			}
			pr := newProgress()
			sum, err := writeRunReports(cmd.Context(), cfg, runID, out, pr.Printf)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), sum)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reports for run %s (as of %s): %s\n", sum.RunID, sum.AsOf, sum.Index)
			kinds := make([]string, 0, len(sum.Reports))
			for k := range sum.Reports {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			for _, k := range kinds {
				fmt.Fprintf(cmd.OutOrStdout(), "  %-9s %s\n", k, sum.Reports[k])
			}
			for _, e := range sum.Exports {
				fmt.Fprintf(cmd.OutOrStdout(), "  export    %s (%d rows) and %s\n", e.Parquet, e.Rows, filepath.Base(e.IPC))
			}
			for _, n := range sum.Notes {
				fmt.Fprintf(cmd.OutOrStdout(), "  note: %s\n", n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().StringVar(&runID, "run", "", "run id (default: the latest run with scores)")
	cmd.Flags().StringVar(&out, "out", "", "output folder (default <data_dir>/reports/<run-id>)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	return cmd
}

// runScores finds the scores of a run (the latest run with scores when id is
// empty), fetching them from the artifact store when schedule.artifacts is one.
func runScores(ctx context.Context, cfg *pipeline.Config, id string) (runID, path string, err error) {
	if id == "" {
		p, err := pipeline.LatestScores(cfg)
		if err != nil {
			return "", "", err
		}
		return filepath.Base(filepath.Dir(filepath.Dir(p))), p, nil
	}
	if strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return "", "", usagef("--run: %q is not a run id", id)
	}
	p, err := pipeline.RunScores(ctx, cfg, id)
	if err != nil {
		return "", "", fmt.Errorf("--run %s: %w", id, err)
	}
	if _, err := os.Stat(p); err != nil {
		return "", "", usagef("--run %s: no scores at %s (see `retain runs`)", id, p)
	}
	return id, p, nil
}

// writeRunReports writes a run's reports and the notebook exports.
func writeRunReports(ctx context.Context, cfg *pipeline.Config, id, out string, logf func(string, ...any)) (*reportSummary, error) {
	runID, scoresPath, err := runScores(ctx, cfg, id)
	if err != nil {
		return nil, err
	}
	asOf, err := reports.ScoresAsOf(ctx, scoresPath)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	if out == "" {
		out = filepath.Join(cfg.DataDir, "reports", runID)
	}
	sum := &reportSummary{RunID: runID, AsOf: asOf.Format(time.DateOnly), Dir: out, Reports: map[string]string{}, Notebooks: map[string]string{}}
	currency := ""
	if s, ok := cfg.Sources[datasets.Orders]; ok {
		currency = s.Currency
	}
	var built []*reports.Report

	// Retention: cohorts and the holdout check from the snapshot, value from the scores.
	logf("report: retention (cohorts from the snapshot, value from %s)", scoresPath)
	in := reports.RetentionInput{AsOf: asOf, RunID: runID, Currency: currency}
	if sc, err := reports.ReadScores(ctx, scoresPath); err != nil {
		return nil, err
	} else {
		in.Scores = sc
	}
	if h, err := reports.FromSnapshot(ctx, datasets.SnapshotDir(cfg.DataDir), asOf, cfg.Churn.HorizonDuration()); err != nil {
		sum.Notes = append(sum.Notes, "retention: no cohorts: "+err.Error())
	} else {
		in.Cohorts, in.Holdout, in.HoldoutNote = h.Cohorts, h.Holdout, h.HoldoutNote
	}
	built = append(built, reports.Retention(in))

	// Model: the champion's evaluation data, written by `retain train`.
	if mr, note := championModelReport(cfg, asOf, runID); mr != nil {
		built = append(built, mr)
	} else {
		sum.Notes = append(sum.Notes, note)
	}

	// Campaigns: queue rows with outcomes, from the primary store.
	if cr, note := campaignReport(ctx, cfg, asOf, runID, currency); cr != nil {
		built = append(built, cr)
		if note != "" {
			sum.Notes = append(sum.Notes, note)
		}
	}

	for _, r := range built {
		dir := filepath.Join(out, r.Kind)
		r.Generated = time.Now()
		html, err := r.Write(ctx, dir)
		if err != nil {
			return nil, fmt.Errorf("report %s: %w", r.Kind, err)
		}
		sum.Reports[r.Kind] = html
		sum.Notebooks[r.Kind] = filepath.Join(dir, "report.ipynb")
		logf("report: %s → %s", r.Kind, html)
	}
	sum.Index = filepath.Join(out, "index.html")
	if err := reports.WriteIndex(sum.Index, "retain run "+runID, built); err != nil {
		return nil, err
	}

	// Exports for notebooks.
	exDir := filepath.Join(cfg.DataDir, "exports")
	ex, err := reports.ExportForNotebooks(ctx, scoresPath, exDir, "scores")
	if err != nil {
		return nil, err
	}
	sum.Exports = append(sum.Exports, ex)
	ff := filepath.Join(cfg.DataDir, "features", features.FileName([]time.Time{asOf}))
	if _, err := os.Stat(ff); err == nil {
		ex, err := reports.ExportForNotebooks(ctx, ff, exDir, "features")
		if err != nil {
			return nil, err
		}
		sum.Exports = append(sum.Exports, ex)
	} else {
		sum.Notes = append(sum.Notes, "no features file for "+sum.AsOf+" to export")
	}
	if ex, err := reports.ExportCLV(ctx, scoresPath, exDir); err != nil {
		return nil, err
	} else {
		sum.Exports = append(sum.Exports, ex)
	}
	// with an object store the reports go where the runs are: a worker's
	// data_dir may be scratch space
	if sum.Uploaded, err = pipeline.PushReports(ctx, cfg, runID, out); err != nil {
		return nil, err
	}
	if sum.Uploaded != "" {
		logf("report: copied to %s", sum.Uploaded)
	}
	return sum, nil
}

// championModelReport builds the model report of the current champion, or
// says why there is none.
func championModelReport(cfg *pipeline.Config, asOf time.Time, runID string) (*reports.Report, string) {
	reg := pipeline.ModelRegistry(cfg)
	ch, err := reg.Champion()
	if err != nil || ch == nil {
		return nil, "model: no champion model yet (run `retain train`)"
	}
	ed, err := pipeline.ReadEvalData(pipeline.EvalPath(cfg, ch.ID))
	if err != nil {
		return nil, fmt.Sprintf("model: no evaluation data for champion %s (%v); retrain to get a model report", ch.ID, err)
	}
	return modelReport(ed, asOf, runID, cfg.Scoring), ""
}

func modelReport(ed *pipeline.EvalData, asOf time.Time, runID string, sc pipeline.ScoreConfig) *reports.Report {
	in := reports.ModelInput{Model: ed.Model, Version: ed.ModelID, AsOf: asOf, RunID: runID, Y: ed.Y, P: ed.P}
	if sc.TiersBy == "" || sc.TiersBy == "probability" {
		in.HighCut, in.MediumCut = sc.High, sc.Medium
	}
	if len(ed.Names) > 0 && len(ed.Contrib) == len(ed.Names) {
		in.SHAP = &reports.SHAPSample{Names: ed.Names, Contrib: ed.Contrib, Value: ed.Value}
		for j, n := range ed.Names {
			var s float64
			for _, v := range ed.Contrib[j] {
				if !math.IsNaN(v) {
					s += math.Abs(v)
				}
			}
			in.Importance = append(in.Importance, reports.FeatureImportance{Name: n, MeanAbsSHAP: s / math.Max(1, float64(len(ed.Contrib[j])))})
		}
	}
	if ed.ChampionAUC != nil {
		c := eval.Report{AUC: *ed.ChampionAUC, PRAUC: math.NaN(), LogLoss: math.NaN(), Brier: math.NaN(), ECE: math.NaN(), LiftAt10: math.NaN()}
		in.Champion, in.ChampionID = &c, ed.ChampionID+" (backtest AUC of its recipe on the same customers)"
	}
	if d, err := time.Parse(time.DateOnly, ed.EvaluatedAt); err == nil {
		in.Backtests = []reports.BacktestPoint{{Cutoff: d, Report: ed.Report}}
	}
	r := reports.Model(in)
	r.Subtitle += " · evaluated on the backtest at " + ed.EvaluatedAt
	return r
}

// campaignReport reads the queue's outcomes from the primary store.
func campaignReport(ctx context.Context, cfg *pipeline.Config, asOf time.Time, runID, currency string) (*reports.Report, string) {
	if len(cfg.Policy.Campaigns) == 0 {
		return nil, ""
	}
	db, err := cfg.Stores.Resolved(cfg.DataDir).OpenPrimary(ctx)
	if err != nil {
		return nil, "campaign: store: " + err.Error()
	}
	defer db.Close()
	rows, err := db.QueueRows(ctx, time.Time{})
	if err != nil {
		return nil, "campaign: " + err.Error()
	}
	cost := map[string]float64{}
	for _, c := range cfg.Policy.Campaigns {
		cost[c.Name] = c.CostPerContact
	}
	var outs []reports.Outcome
	for _, q := range rows {
		if q.Outcome == "" || q.Status == stores.StatusSuppressed {
			continue
		}
		ok := successOutcome(q.Outcome)
		o := reports.Outcome{Campaign: q.Campaign, Control: q.Treatment == stores.Control, Retained: ok, Success: ok, Revenue: q.OutcomeValue}
		if !o.Control {
			o.Cost = cost[q.Campaign]
		}
		outs = append(outs, o)
	}
	return reports.Campaign(reports.CampaignInput{AsOf: asOf, RunID: runID, Outcomes: outs, Currency: currency}), ""
}

// successOutcome says whether a recorded outcome counts as the customer kept.
func successOutcome(o string) bool {
	switch strings.ToLower(o) {
	case "retained", "converted", "purchased", "renewed", "saved", "accepted", "success", "reactivated":
		return true
	}
	return false
}

// writeTrainReport writes the model report of a freshly trained model to
// <data_dir>/reports/<model id>/ and returns the HTML path.
func writeTrainReport(ctx context.Context, cfg *pipeline.Config, s *pipeline.TrainSummary) (string, error) {
	ed, err := pipeline.ReadEvalData(s.EvalPath)
	if err != nil {
		return "", err
	}
	asOf, _ := pipeline.ParseAsOf(s.AsOf)
	r := modelReport(ed, asOf, "", cfg.Scoring)
	r.Generated = time.Now()
	return r.Write(ctx, filepath.Join(cfg.DataDir, "reports", s.ModelID, "model"))
}
