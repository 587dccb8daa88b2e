package churn

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/retainlab/retain/models/eval"
)

// DefaultKind is the model family used when the config names none.
const DefaultKind = "blend"

// holdoutAbove is the row count above which calibration uses a holdout
// split instead of inner folds (refitting k+1 times gets expensive).
const holdoutAbove = 200_000

// Fit fits the configured model on ds and calibrates it on held-out
// predictions: with k inner folds, the out-of-fold predictions fit the
// calibration and the final model is refitted on every row; with a holdout,
// the model fitted on 80% is kept and the other 20% fit the calibration.
func Fit(ctx context.Context, ds *Dataset, cfg Config) (Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if cfg.Calibration == "none" && cfg.Kind == "gbdt" {
		return fitBase(ctx, ds, cfg)
	}
	n := ds.Rows()
	if (cfg.Kind == "logreg" || cfg.Kind == "blend") && cfg.LogReg.BendPenalty == 0 && n <= holdoutAbove {
		bp, err := chooseBendPenalty(ctx, ds, cfg)
		if err != nil {
			return nil, err
		}
		cfg.LogReg.BendPenalty = bp
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6361_6c69_6272_6174))
	if cfg.Kind == "blend" {
		b, stacked, err := fitBlend(ctx, ds, cfg, cfg.CalibrationFolds, rng)
		if err != nil {
			return nil, err
		}
		if cfg.Calibration != "isotonic" {
			return b, nil // the stacking regression is already a Platt-style calibration
		}
		main := ds.mainRows()
		return &Calibrated{Base: b, Cal: FitIsotonic(pick(stacked, main), pick(ds.Y, main))}, nil
	}
	if cfg.CalibrationFolds == 1 || n > holdoutAbove {
		folds := StratifiedFolds(ds.Y, 5, rng)
		auxOnly := ds.mainRows() != nil // auxiliary rows never calibrate
		var tr, ho []int
		for i, f := range folds {
			if f == 0 && !(auxOnly && ds.Aux[i]) {
				ho = append(ho, i)
			} else {
				tr = append(tr, i)
			}
		}
		m, err := fitBase(ctx, ds.Subset(tr), cfg)
		if err != nil {
			return nil, err
		}
		hd := ds.Subset(ho)
		p := make([]float64, len(ho))
		m.PredictProba(hd.X, p)
		cal, err := FitCalibration(cfg.Calibration, p, hd.Y)
		if err != nil {
			return nil, err
		}
		return &Calibrated{Base: m, Cal: cal}, nil
	}
	oof, err := outOfFold(ctx, ds, cfg, cfg.CalibrationFolds, rng)
	if err != nil {
		return nil, err
	}
	if cfg.Calibration == "none" {
		return fitBase(ctx, ds, cfg)
	}
	main := ds.mainRows()
	cal, err := FitCalibration(cfg.Calibration, pick(oof, main), pick(ds.Y, main))
	if err != nil {
		return nil, err
	}
	m, err := fitBase(ctx, ds, cfg)
	if err != nil {
		return nil, err
	}
	return &Calibrated{Base: m, Cal: cal}, nil
}

// pick returns v's values at rows (v itself when rows is nil).
func pick(v []float64, rows []int) []float64 {
	if rows == nil {
		return v
	}
	out := make([]float64, len(rows))
	for k, i := range rows {
		out[k] = v[i]
	}
	return out
}

// bendPenalties are the candidates of chooseBendPenalty.
var bendPenalties = [...]float64{1, 10, 100}

// maxBendRows bounds the rows used to choose the bend penalty.
const maxBendRows = 12000

// chooseBendPenalty picks the logistic regression's bend penalty with the
// lowest 3-fold out-of-fold log loss on ds (ties: the stronger penalty).
func chooseBendPenalty(ctx context.Context, ds *Dataset, cfg Config) (float64, error) {
	best, bestLoss := 10.0, math.Inf(1)
	c := cfg
	c.Kind = "logreg"
	// The choice needs the shape of the loss curve, not every row: above
	// maxBendRows it is made on a seeded stratified sample (small tables,
	// the usual case, use every row and are unaffected).
	ds = sampleRows(ds, maxBendRows, cfg.Seed, 0x73616d70)
	for k := len(bendPenalties) - 1; k >= 0; k-- {
		c.LogReg.BendPenalty = bendPenalties[k]
		oof, err := outOfFold(ctx, ds, c, 3, rand.New(rand.NewPCG(cfg.Seed, 0x62656e64)))
		if err != nil {
			return 0, fmt.Errorf("choosing model.logreg.bend_penalty: %w", err)
		}
		if l := eval.LogLoss(ds.Y, oof); l < bestLoss-1e-6 {
			best, bestLoss = bendPenalties[k], l
		}
	}
	return best, nil
}

// outOfFold returns every row's raw probability from a base model fitted on
// the other k−1 stratified folds.
func outOfFold(ctx context.Context, ds *Dataset, cfg Config, k int, rng *rand.Rand) ([]float64, error) {
	folds := StratifiedFolds(ds.Y, k, rng)
	oof := make([]float64, ds.Rows())
	for f := 0; f < k; f++ {
		tr, te := splitFold(folds, f)
		m, err := fitBase(ctx, ds.Subset(tr), cfg)
		if err != nil {
			return nil, fmt.Errorf("calibration fold %d: %w", f+1, err)
		}
		td := ds.Subset(te)
		p := make([]float64, len(te))
		m.PredictProba(td.X, p)
		for i, r := range te {
			oof[r] = p[i]
		}
	}
	return oof, nil
}

// fitBase fits the uncalibrated model of cfg.Kind.
func fitBase(ctx context.Context, ds *Dataset, cfg Config) (Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch cfg.Kind {
	case "logreg":
		return FitLogReg(ctx, sampleRows(ds, cfg.LogReg.MaxRows, cfg.Seed, 0x6c6f6772), cfg.LogReg)
	case "gbdt":
		g := cfg.GBDT
		if g.Seed == 0 {
			g.Seed = cfg.Seed
		}
		return FitGBDT(ctx, ds, g)
	}
	return nil, fmt.Errorf("model.kind: %q is not available in this build", cfg.Kind)
}

// decodeKind decodes the JSON body of a single (non-blend) model family.
func decodeKind(kind string, body []byte) (Model, error) {
	switch kind {
	case "gbdt":
		m := &GBDT{}
		if err := json.Unmarshal(body, m); err != nil {
			return nil, err
		}
		return m, nil
	}
	return nil, fmt.Errorf("unknown model kind %q", kind)
}

// sampleRows returns a seeded stratified sample of about max rows of ds (ds
// itself when max ≤ 0 or ds is no larger).
func sampleRows(ds *Dataset, max int, seed, salt uint64) *Dataset {
	n := ds.Rows()
	if max <= 0 || n <= max {
		return ds
	}
	folds := StratifiedFolds(ds.Y, (n+max-1)/max, rand.New(rand.NewPCG(seed, salt)))
	var idx []int
	for i, f := range folds {
		if f == 0 {
			idx = append(idx, i)
		}
	}
	return ds.Subset(idx)
}
