package main

// The demo's steps after extract: features at the latest labelled cutoff,
// training (with its model report), the nightly run (features → score →
// publish through the run machinery), the reports, and the top of the risk
// list with the commands that serve it.

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/pipeline"
)

// scoringDate is the day of the last order in the snapshot: the date a
// nightly run would score "tonight" (its training backtest, one horizon
// earlier, then has fully observed labels).
func scoringDate(cfg *pipeline.Config) (time.Time, error) {
	snap, err := datasets.OpenSnapshot(datasets.SnapshotDir(cfg.DataDir))
	if err != nil {
		return time.Time{}, err
	}
	ts := snap.Manifest.Tables[datasets.Orders]
	if ts == nil || ts.MaxTime == nil {
		return time.Time{}, fmt.Errorf("the snapshot has no orders")
	}
	return ts.MaxTime.UTC().Truncate(24 * time.Hour), nil
}

// demoTrain fits the churn model for the scoring date (trained on the cutoffs
// whose horizon has ended, backtested one horizon earlier) and writes its
// model report.
func demoTrain(ctx context.Context, st *demoState) (string, error) {
	D, err := scoringDate(st.cfg)
	if err != nil {
		return "", err
	}
	// The demo trains one calibrated GBDT of 150 trees so the whole demo
	// takes about a minute; `retain train` without a model: section uses
	// the default, slower blend (docs/models.md).
	if st.cfg.Model.Kind == "" {
		st.cfg.Model.Kind = "gbdt"
		st.cfg.Model.CalibrationFolds = 2
		st.cfg.Model.GBDT.Trees = 150
		st.cfg.Model.GBDT.LearningRate = 0.1
		st.cfg.Model.GBDT.NoRefit = true
		st.pr.Printf("demo:   training a calibrated GBDT of 150 trees (the demo's quick setting; retain train defaults to the blend)")
	}
	s, err := pipeline.Train(ctx, st.cfg, pipeline.TrainOptions{AsOf: D, Progress: func(format string, args ...any) {
		st.pr.Printf("demo:   "+format, args...)
	}})
	if err != nil {
		return "", err
	}
	st.facts["train"] = s
	st.outputs["model"] = s.Artifact
	if s.EvalPath != "" {
		if path, err := writeTrainReport(ctx, st.cfg, s); err == nil {
			st.outputs["model_report"] = path
		} else {
			st.pr.Printf("demo:   model report not written: %v", err)
		}
	}
	return fmt.Sprintf("%s (%s): backtest at %s AUC %.3f, PR-AUC %.3f, ECE %.3f, lift@10%% %.2f; champion: %v",
		s.ModelID, s.Model, s.EvaluatedAt, float64(s.AUC), float64(s.PRAUC), float64(s.ECE), float64(s.LiftAt10), s.Champion), nil
}

// demoRun is one nightly run for the scoring date through the run machinery:
// extract (unchanged) → features → score → publish, each stage saved with a
// manifest under runs/<run-id>/ and recorded in the ledger.
func demoRun(ctx context.Context, st *demoState) (string, error) {
	D, err := scoringDate(st.cfg)
	if err != nil {
		return "", err
	}
	env, err := openRunEnv(ctx, st.configPath, st.pr)
	if err != nil {
		return "", err
	}
	defer env.close()
	env.ex.Logf = func(format string, args ...any) { st.pr.Printf("demo:   "+format, args...) }
	plan, err := pipeline.NewPlan(env.cfg, D, pipeline.KindManual)
	if err != nil {
		return "", err
	}
	rep, err := env.ex.Run(ctx, plan)
	if err != nil {
		return "", oneLineErr{err}
	}
	st.runID = rep.RunID
	st.outputs["run"] = rep.Dir
	st.facts["run"] = rep
	top, err := pipeline.TopAtRisk(ctx, st.cfg, 10)
	if err != nil {
		return "", err
	}
	st.top = top
	var stages []string
	for _, o := range rep.Stages {
		if o.Skipped {
			stages = append(stages, o.Stage+" (unchanged)")
		} else {
			stages = append(stages, fmt.Sprintf("%s %d rows %.1fs", o.Stage, o.Rows, o.Seconds))
		}
	}
	return fmt.Sprintf("run %s for %s: %s", rep.RunID, D.Format(time.DateOnly), strings.Join(stages, ", ")), nil
}

// demoReport writes the run's reports and the notebook exports.
func demoReport(ctx context.Context, st *demoState) (string, error) {
	sum, err := writeRunReports(ctx, st.cfg, st.runID, "", func(format string, args ...any) {
		st.pr.Printf("demo:   "+format, args...)
	})
	if err != nil {
		return "", err
	}
	st.outputs["report"] = sum.Index
	for _, e := range sum.Exports {
		st.outputs["export_"+e.Name] = e.Parquet
	}
	st.facts["report"] = sum
	return fmt.Sprintf("%d reports → %s; notebook exports in %s", len(sum.Reports), sum.Index, filepath.Join(st.cfg.DataDir, "exports")), nil
}
