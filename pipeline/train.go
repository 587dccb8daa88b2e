package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/models/churn"
	"github.com/retainlab/retain/models/eval"
)

// TrainOptions tunes `retain train --config`.
type TrainOptions struct {
	// AsOf is the date D the model is trained for.
	AsOf time.Time
	// Model overrides model.kind (gbdt, logreg or blend).
	Model string
	// CV > 1 cross-validates on the labelled customers at AsOf instead of
	// training and registering a model.
	CV int
	// Progress, when set, receives one line per step.
	Progress func(format string, args ...any)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// TrainSummary is what Train or Backtest did; its JSON is the --json object
// of `retain train` and `retain backtest`. The flat metrics are the CV mean
// (with --cv; ECE from the pooled out-of-fold predictions) or the backtest.
type TrainSummary struct {
	Model     string `json:"model"`
	AUC       Metric `json:"auc"`
	PRAUC     Metric `json:"pr_auc"`
	LogLoss   Metric `json:"logloss"`
	Brier     Metric `json:"brier"`
	ECE       Metric `json:"ece"`
	LiftAt10  Metric `json:"lift_at_10"`
	N         int    `json:"n"`
	Positives int    `json:"positives"`

	CaptureAt10 Metric      `json:"capture_at_10"`
	LiftQuality Metric      `json:"lift_quality"`
	Report      eval.Report `json:"report"`
	// Folds and FoldAUCs describe a cross-validation; ECEFoldMean is the
	// mean of the per-fold ECEs.
	Folds       int          `json:"folds,omitempty"`
	FoldAUCs    []float64    `json:"fold_aucs,omitempty"`
	ECEFoldMean Metric       `json:"ece_fold_mean,omitempty"`
	Pooled      *eval.Report `json:"pooled,omitempty"`

	AsOf string `json:"as_of"`
	// EvaluatedAt is the cutoff the backtest scored; TrainCutoffs the
	// cutoffs its model was fitted on.
	EvaluatedAt  string   `json:"evaluated_at,omitempty"`
	TrainCutoffs []string `json:"train_cutoffs,omitempty"`
	TrainRows    int      `json:"train_rows,omitempty"`
	Features     int      `json:"features"`
	// Artifact is the saved model file, Decision the champion/challenger
	// outcome (train without --cv).
	Artifact string          `json:"artifact,omitempty"`
	ModelID  string          `json:"model_id,omitempty"`
	Champion bool            `json:"champion"`
	Decision *churn.Decision `json:"decision,omitempty"`
	Curves   *eval.Curves    `json:"-"`
	// EvalPath is the evaluation data behind the model report (train without --cv).
	EvalPath string `json:"eval_path,omitempty"`
	// ReportHTML is the model report written by the CLI.
	ReportHTML string  `json:"report_html,omitempty"`
	Seconds    float64 `json:"seconds"`
}

// Metric is a float64 that encodes NaN (an undefined metric) as null.
type Metric float64

// MarshalJSON implements json.Marshaler.
func (m Metric) MarshalJSON() ([]byte, error) {
	f := float64(m)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func (s *TrainSummary) setReport(r eval.Report) {
	s.Report = r
	s.AUC, s.PRAUC, s.LogLoss, s.Brier, s.ECE, s.LiftAt10 = Metric(r.AUC), Metric(r.PRAUC), Metric(r.LogLoss), Metric(r.Brier), Metric(r.ECE), Metric(r.LiftAt10)
	s.N, s.Positives, s.CaptureAt10, s.LiftQuality = r.N, r.Positives, Metric(r.CaptureAt10), Metric(r.LiftQuality)
}

// ModelsDir is <data_dir>/models, the model registry.
func ModelsDir(cfg *Config) string { return filepath.Join(cfg.DataDir, "models") }

// ModelRegistry is the champion/challenger registry of cfg.
func ModelRegistry(cfg *Config) churn.Registry { return churn.Registry{Dir: ModelsDir(cfg)} }

// FeatureSchema converts a features registry into the models' schema.
func FeatureSchema(f *features.Frame) []churn.FeatureInfo {
	out := make([]churn.FeatureInfo, len(f.Names))
	for j, n := range f.Names {
		fi := churn.FeatureInfo{Name: n, Kind: features.Numeric}
		if j < len(f.Registry) {
			d := f.Registry[j]
			fi = churn.FeatureInfo{Name: n, Meaning: d.Meaning, Window: d.Window, Source: d.Source, Kind: d.Kind, Categories: d.Categories}
		}
		out[j] = fi
	}
	return out
}

// FrameDataset returns rows of the frame as a churn dataset (labels copied;
// NaN labels stay NaN, so pass labelled rows when training). rows nil means
// every row, sharing the frame's columns.
func FrameDataset(f *features.Frame, rows []int) *churn.Dataset {
	ds := &churn.Dataset{Names: f.Names, Categorical: f.Categorical(), X: f.X, Y: f.Labels}
	if rows == nil {
		return ds
	}
	return ds.Subset(rows)
}

// stackedDataset is FrameDataset for rows of several training cutoffs (cuts,
// the latest last): rows of the earlier cutoffs only train (churn.Dataset
// Aux), so early stopping and calibration are measured on the latest
// cutoff's rows, the closest to the customers the model will score.
func stackedDataset(f *features.Frame, rows []int, cuts []time.Time) *churn.Dataset {
	ds := FrameDataset(f, rows)
	if len(cuts) < 2 {
		return ds
	}
	latest := cuts[len(cuts)-1]
	ds.Aux = make([]bool, len(rows))
	for i, r := range rows {
		ds.Aux[i] = !f.Cutoffs[r].Equal(latest)
	}
	return ds
}

// labelledRows returns the rows of cutoff c (zero c: any cutoff) with a
// known label.
func labelledRows(f *features.Frame, cutoffs ...time.Time) []int {
	var rows []int
	for i, c := range f.Cutoffs {
		if math.IsNaN(f.Labels[i]) {
			continue
		}
		if len(cutoffs) > 0 && !slices.ContainsFunc(cutoffs, func(t time.Time) bool { return t.Equal(c) }) {
			continue
		}
		rows = append(rows, i)
	}
	return rows
}

func (o *TrainOptions) logf(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(format, args...)
	}
}

func (o *TrainOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func modelConfig(cfg *Config, kind string) churn.Config {
	mc := cfg.Model
	if kind != "" {
		mc.Kind = kind
	}
	return mc.WithDefaults()
}

// loadFrame returns the features at the cutoffs: read from the features
// file when `retain features` already wrote it, built from the snapshot
// otherwise.
func loadFrame(ctx context.Context, cfg *Config, cutoffs []time.Time, o *TrainOptions) (*features.Frame, error) {
	path := filepath.Join(cfg.DataDir, "features", features.FileName(cutoffs))
	if _, err := os.Stat(path); err == nil {
		o.logf("reading features %s", path)
		f, err := features.ReadFile(path)
		if err == nil && f.Horizon == cfg.Churn.HorizonDuration() {
			return f, nil
		}
		o.logf("%s does not match the config; rebuilding", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("train: %w", err)
	}
	o.logf("building features at %d cutoff(s) from the snapshot", len(cutoffs))
	return features.Build(ctx, datasets.SnapshotDir(cfg.DataDir), features.Options{Cutoffs: cutoffs, Churn: cfg.Churn})
}

// trainCutoffs are the cutoffs whose horizon ended by `until`: until −
// horizon and model.train_cutoffs − 1 earlier ones, model.cutoff_step apart.
func trainCutoffs(cfg *Config, mc churn.Config, until time.Time) []time.Time {
	h := cfg.Churn.HorizonDuration()
	step, _ := churn.ParseDays(mc.CutoffStep)
	var out []time.Time
	for k := mc.TrainCutoffs - 1; k >= 0; k-- {
		out = append(out, until.Add(-h).AddDate(0, 0, -k*step).UTC())
	}
	return out
}

func dates(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.UTC().Format(time.DateOnly)
	}
	return out
}

// Train is the train stage. With opts.CV it cross-validates on the
// labelled customers at the as-of date. Otherwise it fits the model on the
// cutoffs whose horizon ended by D, backtests the same recipe one horizon
// earlier (fit on cutoffs ending by D − horizon, score the cutoff D −
// horizon), saves a versioned artifact under <data_dir>/models/ and promotes
// it when its backtest AUC is not worse than the champion's on the same
// rows by more than model.champion_margin.
func Train(ctx context.Context, cfg *Config, opts TrainOptions) (*TrainSummary, error) {
	start := time.Now()
	mc := modelConfig(cfg, opts.Model)
	if err := mc.Validate(); err != nil {
		return nil, &ConfigError{File: cfg.Path(), Msg: err.Error()}
	}
	D := opts.AsOf.UTC()
	s := &TrainSummary{Model: mc.Kind, AsOf: D.Format(time.DateOnly)}
	if opts.CV > 1 || opts.CV == -1 {
		k := opts.CV
		if k < 0 {
			k = mc.CVFolds
		}
		// Earlier cutoffs whose horizon ended by D join every training fold
		// (model.train_cutoffs > 1), minus the test fold's own customers.
		var hist []time.Time
		if mc.TrainCutoffs > 1 {
			h := mc
			h.TrainCutoffs--
			hist = trainCutoffs(cfg, h, D)
		}
		f, err := loadFrame(ctx, cfg, append(slices.Clone(hist), D), &opts)
		if err != nil {
			return nil, err
		}
		// The CLV features' BG/NBD uses no label: fitting it on every row
		// leaks nothing into the folds.
		f = withCLVFeatures(f, fitCLVFeaturesLogged(ctx, f, nil, &opts))
		rows := labelledRows(f, D)
		if len(rows) == 0 {
			return nil, &ConfigError{File: cfg.Path(), Msg: fmt.Sprintf("train --cv: no customer at %s has a known label (the %s horizon after it ends after the data, %s)",
				s.AsOf, horizonText(cfg), f.ObservedUntil.Format(time.DateOnly))}
		}
		ds := FrameDataset(f, rows)
		cvo := churn.CVOptions{Folds: k, Progress: func(fold int, r eval.Report) {
			opts.logf("train: fold %d/%d: AUC %.4f", fold, k, r.AUC)
		}}
		if len(hist) > 0 {
			at := make(map[string]int, len(rows))
			for i, r := range rows {
				at[f.IDs[r]] = i
			}
			extra := labelledRows(f, hist...)
			cvo.Extra = FrameDataset(f, extra)
			cvo.ExtraGroup = make([]int, len(extra))
			for i, r := range extra {
				if g, ok := at[f.IDs[r]]; ok {
					cvo.ExtraGroup[i] = g
				} else {
					cvo.ExtraGroup[i] = -1
				}
			}
			s.TrainCutoffs = dates(hist)
			s.TrainRows = len(extra)
		}
		opts.logf("train: %d-fold CV of %s on %d customers × %d features (+%d rows from earlier cutoffs %v)", k, mc.Kind, len(rows), len(f.Names), s.TrainRows, s.TrainCutoffs)
		res, err := churn.CrossValidate(ctx, ds, mc, cvo)
		if err != nil {
			return nil, err
		}
		s.setReport(res.Mean)
		s.ECEFoldMean = Metric(res.Mean.ECE)
		s.ECE = Metric(res.Pooled.ECE)
		s.Folds = k
		for _, r := range res.Folds {
			s.FoldAUCs = append(s.FoldAUCs, r.AUC)
		}
		p := res.Pooled
		s.Pooled = &p
		c := eval.ComputeCurves(ds.Y, res.OOF)
		s.Curves = &c
		s.Features = len(f.Names)
		s.Seconds = time.Since(start).Seconds()
		return s, nil
	}

	// Backtest one horizon back, then the final fit on the latest cutoffs.
	evalAt := D.Add(-cfg.Churn.HorizonDuration())
	bt, err := backtest(ctx, cfg, mc, evalAt, &opts)
	if err != nil {
		return nil, fmt.Errorf("train: backtest at %s: %w", evalAt.Format(time.DateOnly), err)
	}
	cuts := trainCutoffs(cfg, mc, D)
	f, err := loadFrame(ctx, cfg, cuts, &opts)
	if err != nil {
		return nil, err
	}
	rows := labelledRows(f, cuts...)
	if len(rows) == 0 {
		return nil, &ConfigError{File: cfg.Path(), Msg: fmt.Sprintf("train: no labelled customers at cutoffs %v", dates(cuts))}
	}
	clvm := fitCLVFeaturesLogged(ctx, f, rows, &opts)
	f = withCLVFeatures(f, clvm)
	ds := stackedDataset(f, rows, cuts)
	opts.logf("train: fitting %s on %d customer-cutoffs × %d features (cutoffs %v)", mc.Kind, len(rows), len(f.Names), dates(cuts))
	m, err := churn.Fit(ctx, ds, mc)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	schema := FeatureSchema(f)
	art, err := churn.NewArtifact(m, ds, schema, mc, s.AsOf, opts.now())
	if err != nil {
		return nil, err
	}
	art.TrainCutoffs = dates(cuts)
	art.CLVFeatures = clvm
	art.Metrics["backtest"] = bt.rep
	reg := ModelRegistry(cfg)
	path, err := reg.Save(art)
	if err != nil {
		return nil, err
	}
	// Champion/challenger on the same backtest: the champion's recipe (its
	// saved parameters) is refitted on the same training cutoffs and scored
	// on the same customers. Scoring the stored champion itself would be
	// unfair: it was trained on labels that overlap the backtest.
	championAUC, championID := math.NaN(), ""
	ch, err := reg.Champion()
	if err != nil {
		return nil, err
	}
	var d churn.Decision
	switch {
	case ch != nil && ch.ID == art.ID:
		d = churn.Decision{Promote: true, Reason: "same model as the champion", Challenger: bt.rep.AUC, Margin: *mc.ChampionMargin}
	case ch != nil:
		championID = ch.ID
		ca, err := churn.LoadArtifact(filepath.Join(reg.Dir, ch.File))
		switch {
		case err != nil:
			opts.logf("train: champion %s unreadable (%v); the challenger wins", ch.ID, err)
		case sameParams(ca.Params, mc):
			championAUC = bt.rep.AUC
		default:
			opts.logf("train: backtesting the champion's recipe (%s) on the same cutoffs", ca.Params.Kind)
			cbt, err := backtest(ctx, cfg, ca.Params, evalAt, &opts)
			if err != nil {
				opts.logf("train: champion's backtest failed (%v); the challenger wins", err)
			} else {
				championAUC = cbt.rep.AUC
			}
		}
		fallthrough
	default:
		d = churn.Decide(bt.rep.AUC, championAUC, *mc.ChampionMargin, championID)
	}
	if d.Promote {
		if err := reg.Promote(art, bt.rep.AUC, d.Reason, opts.now()); err != nil {
			return nil, err
		}
	}
	// The model report's data: the backtest's customers scored by the
	// backtest model, explained by the final model.
	ed := newEvalData(m, bt.ds, bt.p, ds.Names, mc.Seed)
	ed.ModelID, ed.Model, ed.AsOf, ed.EvaluatedAt = art.ID, mc.Kind, s.AsOf, evalAt.Format(time.DateOnly)
	if championID != "" && !math.IsNaN(championAUC) {
		ed.ChampionID, ed.ChampionAUC = championID, &championAUC
	}
	if err := writeEvalData(EvalPath(cfg, art.ID), ed); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	s.EvalPath = EvalPath(cfg, art.ID)
	opts.logf("train: %s saved to %s; champion: %v (%s)", art.ID, path, d.Promote, d.Reason)
	s.setReport(bt.rep)
	s.EvaluatedAt = evalAt.Format(time.DateOnly)
	s.TrainCutoffs = dates(cuts)
	s.TrainRows = len(rows)
	s.Features = len(f.Names)
	s.Artifact, s.ModelID, s.Champion, s.Decision = path, art.ID, d.Promote, &d
	s.Curves = bt.curves
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}

func horizonText(cfg *Config) string {
	return fmt.Sprintf("%dd", int(cfg.Churn.HorizonDuration()/features.Day))
}

func sameParams(a, b churn.Config) bool {
	ja, err1 := json.Marshal(a.WithDefaults())
	jb, err2 := json.Marshal(b.WithDefaults())
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// BacktestOptions tunes `retain backtest`.
type BacktestOptions = TrainOptions

type backtestResult struct {
	rep    eval.Report
	ds     *churn.Dataset // evaluation rows
	schema []churn.FeatureInfo
	cuts   []time.Time
	rows   int
	curves *eval.Curves
	p      []float64 // the evaluated customers' probabilities
	model  churn.Model
	names  []string
}

// backtest fits mc on the cutoffs whose horizon ended by evalAt and scores
// the labelled customers at evalAt.
func backtest(ctx context.Context, cfg *Config, mc churn.Config, evalAt time.Time, o *TrainOptions) (*backtestResult, error) {
	cuts := trainCutoffs(cfg, mc, evalAt)
	all := append(slices.Clone(cuts), evalAt)
	f, err := loadFrame(ctx, cfg, all, o)
	if err != nil {
		return nil, err
	}
	trRows := labelledRows(f, cuts...)
	teRows := labelledRows(f, evalAt)
	if len(teRows) == 0 {
		return nil, &ConfigError{File: cfg.Path(), Msg: fmt.Sprintf("backtest: no customer at %s has a known label (its %s horizon ends after the data, %s)",
			evalAt.Format(time.DateOnly), horizonText(cfg), f.ObservedUntil.Format(time.DateOnly))}
	}
	if len(trRows) == 0 {
		return nil, &ConfigError{File: cfg.Path(), Msg: fmt.Sprintf("backtest: no labelled customers at the training cutoffs %v (data too short before %s)", dates(cuts), evalAt.Format(time.DateOnly))}
	}
	f = withCLVFeatures(f, fitCLVFeaturesLogged(ctx, f, trRows, o))
	train, test := stackedDataset(f, trRows, cuts), FrameDataset(f, teRows)
	o.logf("backtest: fitting %s on %d customer-cutoffs (%v), scoring %d customers at %s", mc.Kind, len(trRows), dates(cuts), len(teRows), evalAt.Format(time.DateOnly))
	m, err := churn.Fit(ctx, train, mc)
	if err != nil {
		return nil, err
	}
	p := make([]float64, test.Rows())
	m.PredictProba(test.X, p)
	c := eval.ComputeCurves(test.Y, p)
	return &backtestResult{rep: eval.Evaluate(test.Y, p), ds: test, schema: FeatureSchema(f), cuts: cuts, rows: len(trRows), curves: &c, p: p, model: m, names: f.Names}, nil
}

// Backtest is `retain backtest`: fit the configured model on the cutoffs
// whose horizon ended by D and evaluate it on the customers at D (whose
// labels must be observable).
func Backtest(ctx context.Context, cfg *Config, opts BacktestOptions) (*TrainSummary, error) {
	start := time.Now()
	mc := modelConfig(cfg, opts.Model)
	if err := mc.Validate(); err != nil {
		return nil, &ConfigError{File: cfg.Path(), Msg: err.Error()}
	}
	D := opts.AsOf.UTC()
	bt, err := backtest(ctx, cfg, mc, D, &opts)
	if err != nil {
		return nil, err
	}
	s := &TrainSummary{Model: mc.Kind, AsOf: D.Format(time.DateOnly), EvaluatedAt: D.Format(time.DateOnly),
		TrainCutoffs: dates(bt.cuts), TrainRows: bt.rows, Features: len(bt.schema), Curves: bt.curves}
	s.setReport(bt.rep)
	// The backtest's own model report data (the backtest model explains itself).
	ed := newEvalData(bt.model, bt.ds, bt.p, bt.names, mc.Seed)
	s.ModelID = fmt.Sprintf("backtest-%s-%s", s.EvaluatedAt, mc.Kind)
	ed.ModelID, ed.Model, ed.AsOf, ed.EvaluatedAt = s.ModelID, mc.Kind, s.AsOf, s.EvaluatedAt
	if err := writeEvalData(EvalPath(cfg, s.ModelID), ed); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	s.EvalPath = EvalPath(cfg, s.ModelID)
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}
