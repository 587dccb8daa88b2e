package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/retainlab/retain/models/churn"
	"github.com/retainlab/retain/models/eval"
	"github.com/retainlab/retain/pipeline"
)

// trainSummary is the --json object of `retain train` and `retain backtest`.
type trainSummary struct {
	Model     string  `json:"model"`
	AUC       float64 `json:"auc"`
	PRAUC     float64 `json:"pr_auc"`
	LogLoss   float64 `json:"logloss"`
	Brier     float64 `json:"brier"`
	ECE       float64 `json:"ece"`
	LiftAt10  float64 `json:"lift_at_10"`
	N         int     `json:"n"`
	Positives int     `json:"positives"`

	CaptureAt10 float64 `json:"capture_at_10"`
	LiftQuality float64 `json:"lift_quality"`
	// CV details: folds, per-fold reports and the pooled out-of-fold report.
	Folds    int          `json:"folds,omitempty"`
	FoldAUCs []float64    `json:"fold_aucs,omitempty"`
	ECEFolds float64      `json:"ece_fold_mean,omitempty"`
	Pooled   *eval.Report `json:"pooled,omitempty"`
	Features int          `json:"features"`
	Dropped  []string     `json:"dropped_columns,omitempty"`
	Seconds  float64      `json:"seconds"`
}

func summaryFrom(kind string, r eval.Report) trainSummary {
	return trainSummary{Model: kind, AUC: r.AUC, PRAUC: r.PRAUC, LogLoss: r.LogLoss, Brier: r.Brier, ECE: r.ECE,
		LiftAt10: r.LiftAt10, N: r.N, Positives: r.Positives, CaptureAt10: r.CaptureAt10, LiftQuality: r.LiftQuality}
}

func newTrainCmd() *cobra.Command {
	var (
		cfgPath, asOf, model, table, label, id string
		oofPath                                string
		cv                                     int
		seed                                   uint64
		asJSON                                 bool
	)
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train (and cross-validate) the churn model on features at an as-of date or on a plain table",
		Long: `Train the churn model.

  retain train --config retain.yaml --as-of 2011-09-09 [--model gbdt|logreg|blend] [--cv 5]
      trains on the features at the as-of date (and earlier cutoffs when
      model.train_cutoffs > 1), saves a versioned artifact under
      <data_dir>/models/ and promotes it to champion when its backtest is not
      worse than the champion's by more than model.champion_margin.
      With --cv K it cross-validates on the as-of date's labelled rows instead.

  retain train --table FILE.csv --label COL [--id COL] --cv 5 [--seed N]
      cross-validates on a plain one-row-per-customer CSV (numeric and
      categorical columns detected, blanks are missing, Yes/No labels);
      --seed picks other folds (model.seed, default 1).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model != "" && model != "gbdt" && model != "logreg" && model != "blend" {
				return usagef("--model: %q is not gbdt, logreg or blend", model)
			}
			if cv == 1 || cv < 0 {
				return usagef("--cv: need at least 2 folds, got %d", cv)
			}
			if table != "" {
				if cfgPath != "" {
					return usagef("--table and --config are exclusive")
				}
				if label == "" {
					return usagef("--table needs --label COL")
				}
				return trainTable(cmd, table, label, id, model, cv, seed, asJSON, oofPath)
			}
			if seed != 0 {
				return usagef("--seed is for --table; with --config set model.seed")
			}
			if cfgPath == "" || asOf == "" {
				return usagef("train needs --config FILE --as-of YYYY-MM-DD, or --table FILE.csv --label COL")
			}
			return trainConfig(cmd, cfgPath, asOf, model, cv, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "config file (YAML)")
	f.StringVar(&asOf, "as-of", "", "as-of date YYYY-MM-DD")
	f.StringVar(&model, "model", "", "model family: gbdt, logreg or blend (default: model.kind or "+churn.DefaultKind+")")
	f.IntVar(&cv, "cv", 0, "cross-validate with K stratified folds instead of saving a model")
	f.StringVar(&table, "table", "", "plain one-row-per-customer CSV to train on instead of a config")
	f.StringVar(&label, "label", "", "label column of --table (1/0, Yes/No, true/false)")
	f.StringVar(&id, "id", "", "customer id column of --table (left out of the features)")
	f.BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	f.StringVar(&oofPath, "oof", "", "with --table: write row, id, fold, label and out-of-fold probability to this CSV")
	f.Uint64Var(&seed, "seed", 0, "with --table: model.seed, which drives the CV folds and the models' sampling (default 1)")
	return cmd
}

func trainTable(cmd *cobra.Command, path, label, id, model string, cv int, seed uint64, asJSON bool, oofPath string) error {
	start := time.Now()
	pr := newProgress()
	fh, err := os.Open(path)
	if err != nil {
		return &churn.TableError{File: path, Msg: err.Error()}
	}
	defer fh.Close()
	t, err := churn.ReadTable(fh, path, label, id)
	if err != nil {
		return err
	}
	cfg := churn.Config{Kind: model, Seed: seed}.WithDefaults()
	if cv == 0 {
		cv = cfg.CVFolds
	}
	pr.Printf("table %s: %d rows, %d features (%d categorical), %d dropped", path, t.Rows(), len(t.Names), countTrue(t.Categorical), len(t.Dropped))
	res, err := churn.CrossValidate(cmd.Context(), &t.Dataset, cfg, churn.CVOptions{Folds: cv, Progress: func(fold int, r eval.Report) {
		pr.Printf("fold %d/%d: AUC %.4f  ECE %.4f", fold, cv, r.AUC, r.ECE)
	}})
	if err != nil {
		return err
	}
	if oofPath != "" {
		if err := writeOOF(oofPath, t, res); err != nil {
			return err
		}
	}
	s := cvSummary(cfg.Kind, res)
	s.Features = len(t.Names)
	s.Dropped = t.Dropped
	s.Seconds = time.Since(start).Seconds()
	pr.Printf("%s, %d-fold CV: AUC %.4f  PR-AUC %.4f  log loss %.4f  Brier %.4f  ECE %.4f (pooled out-of-fold; %.4f mean over folds)  lift@10%% %.2f",
		cfg.Kind, cv, s.AUC, s.PRAUC, s.LogLoss, s.Brier, s.ECE, s.ECEFolds, s.LiftAt10)
	if asJSON {
		return printJSON(cmd.OutOrStdout(), s)
	}
	return nil
}

// cvSummary reports the mean over folds, except ECE which comes from the
// pooled out-of-fold predictions (per-fold ECE on a few hundred rows is
// dominated by sampling noise); the fold mean is kept as ece_fold_mean.
func cvSummary(kind string, res *churn.CVResult) trainSummary {
	s := summaryFrom(kind, res.Mean)
	s.ECEFolds = res.Mean.ECE
	s.ECE = res.Pooled.ECE
	s.Folds = len(res.Folds)
	for _, f := range res.Folds {
		s.FoldAUCs = append(s.FoldAUCs, f.AUC)
	}
	p := res.Pooled
	s.Pooled = &p
	return s
}

// writeOOF writes the out-of-fold predictions (and the folds, so peers can
// be evaluated on the same ones).
func writeOOF(path string, t *churn.Table, res *churn.CVResult) error {
	var b strings.Builder
	b.WriteString("row,id,fold,label,p\n")
	for i, p := range res.OOF {
		id := ""
		if t.IDs != nil {
			id = t.IDs[i]
		}
		fmt.Fprintf(&b, "%d,%s,%d,%g,%.17g\n", i, strconv.Quote(id), res.Fold[i], t.Y[i], p)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("--oof: %w", err)
	}
	return nil
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

func parseAsOf(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, usagef("--as-of: %q is not a date like 2011-09-09", s)
	}
	return t.UTC(), nil
}

func trainConfig(cmd *cobra.Command, cfgPath, asOf, model string, cv int, asJSON bool) error {
	D, err := parseAsOf(asOf)
	if err != nil {
		return err
	}
	cfg, err := pipeline.Load(cfgPath)
	if err != nil {
		return err
	}
	pr := newProgress()
	s, err := pipeline.Train(cmd.Context(), cfg, pipeline.TrainOptions{AsOf: D, Model: model, CV: cv, Progress: pr.Printf})
	if err != nil {
		return err
	}
	if err := shareModels(cmd.Context(), cfgPath, cfg); err != nil {
		return err
	}
	if s.Folds > 0 {
		pr.Printf("%s, %d-fold CV at %s: AUC %.4f  PR-AUC %.4f  log loss %.4f  Brier %.4f  ECE %.4f (pooled out-of-fold)  lift@10%% %.2f  (%d customers, %d churned)",
			s.Model, s.Folds, s.AsOf, s.AUC, s.PRAUC, s.LogLoss, s.Brier, s.ECE, s.LiftAt10, s.N, s.Positives)
	} else {
		pr.Printf("%s trained for %s on cutoffs %v; backtest at %s: AUC %.4f  PR-AUC %.4f  ECE %.4f  lift@10%% %.2f; champion: %v",
			s.ModelID, s.AsOf, s.TrainCutoffs, s.EvaluatedAt, s.AUC, s.PRAUC, s.ECE, s.LiftAt10, s.Champion)
	}
	if s.EvalPath != "" {
		if path, err := writeTrainReport(cmd.Context(), cfg, s); err != nil {
			pr.Printf("train: model report not written: %v", err)
		} else {
			s.ReportHTML = path
			pr.Printf("model report: %s", path)
		}
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), s)
	}
	return nil
}

func newBacktestCmd() *cobra.Command {
	var (
		cfgPath, asOf, model string
		asJSON               bool
	)
	cmd := &cobra.Command{
		Use:   "backtest",
		Short: "Fit the churn model on cutoffs whose horizon ended before D and evaluate it at D",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" || asOf == "" {
				return usagef("backtest needs --config FILE --as-of YYYY-MM-DD")
			}
			if model != "" && model != "gbdt" && model != "logreg" && model != "blend" {
				return usagef("--model: %q is not gbdt, logreg or blend", model)
			}
			D, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			cfg, err := pipeline.Load(cfgPath)
			if err != nil {
				return err
			}
			pr := newProgress()
			s, err := pipeline.Backtest(cmd.Context(), cfg, pipeline.BacktestOptions{AsOf: D, Model: model, Progress: pr.Printf})
			if err != nil {
				return err
			}
			pr.Printf("%s backtest at %s (trained on %v, %d rows): AUC %.4f  PR-AUC %.4f  log loss %.4f  Brier %.4f  ECE %.4f  lift@10%% %.2f  (%d customers, %d churned)",
				s.Model, s.AsOf, s.TrainCutoffs, s.TrainRows, s.AUC, s.PRAUC, s.LogLoss, s.Brier, s.ECE, s.LiftAt10, s.N, s.Positives)
			if path, err := writeTrainReport(cmd.Context(), cfg, s); err != nil {
				pr.Printf("backtest: model report not written: %v", err)
			} else {
				s.ReportHTML = path
				pr.Printf("model report: %s", path)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), s)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "config file (YAML)")
	f.StringVar(&asOf, "as-of", "", "evaluation date D YYYY-MM-DD (labels at D must be observable)")
	f.StringVar(&model, "model", "", "model family: gbdt, logreg or blend (default: model.kind)")
	f.BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	return cmd
}

// shareModels uploads the model registry to the artifact store when
// schedule.artifacts is one (other machines pull the champion from there).
func shareModels(ctx context.Context, cfgPath string, cfg *pipeline.Config) error {
	if err := cfg.Schedule.Validate(); err != nil {
		return &pipeline.ConfigError{File: cfgPath, Msg: err.Error()}
	}
	arts, err := pipeline.OpenArtifacts(ctx, cfg)
	if err != nil {
		return &pipeline.ConfigError{File: cfgPath, Msg: err.Error()}
	}
	defer arts.Close()
	return arts.PushModels(ctx, pipeline.ModelsDir(cfg))
}
