package churn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/retainlab/retain/models/eval"
)

// StratifiedFolds assigns each row to one of k folds so that every fold
// holds the same share of positives (±1 row); the shuffle uses rng.
func StratifiedFolds(y []float64, k int, rng *rand.Rand) []int {
	var pos, neg []int
	for i, v := range y {
		if v > 0.5 {
			pos = append(pos, i)
		} else {
			neg = append(neg, i)
		}
	}
	rng.Shuffle(len(pos), func(a, b int) { pos[a], pos[b] = pos[b], pos[a] })
	rng.Shuffle(len(neg), func(a, b int) { neg[a], neg[b] = neg[b], neg[a] })
	folds := make([]int, len(y))
	for j, i := range pos {
		folds[i] = j % k
	}
	// continue the round-robin where the positives stopped so fold sizes
	// stay within one row of each other
	for j, i := range neg {
		folds[i] = (j + len(pos)) % k
	}
	return folds
}

func splitFold(folds []int, f int) (train, test []int) {
	for i, g := range folds {
		if g == f {
			test = append(test, i)
		} else {
			train = append(train, i)
		}
	}
	return train, test
}

// Subset returns the rows idx of d as a new dataset (columns copied).
func (d *Dataset) Subset(idx []int) *Dataset {
	out := &Dataset{Names: d.Names, Categorical: d.Categorical, X: make([][]float64, len(d.X))}
	for j, col := range d.X {
		c := make([]float64, len(idx))
		for k, i := range idx {
			c[k] = col[i]
		}
		out.X[j] = c
	}
	if d.Y != nil {
		out.Y = make([]float64, len(idx))
		for k, i := range idx {
			out.Y[k] = d.Y[i]
		}
	}
	if d.W != nil {
		out.W = make([]float64, len(idx))
		for k, i := range idx {
			out.W[k] = d.W[i]
		}
	}
	if d.Aux != nil {
		out.Aux = make([]bool, len(idx))
		for k, i := range idx {
			out.Aux[k] = d.Aux[i]
		}
	}
	return out
}

// CVResult is the outcome of a k-fold cross-validation.
type CVResult struct {
	Folds []eval.Report // one per fold, on its held-out rows
	Mean  eval.Report   // field-wise mean of Folds (N, Positives summed)
	// OOF holds every row's held-out probability; Pooled evaluates all of
	// them together (the steadier estimate of calibration on small data).
	OOF    []float64
	Pooled eval.Report
	// Fold is each row's test fold (0-based).
	Fold []int
}

// CVOptions tunes CrossValidate.
type CVOptions struct {
	// Folds is k (at least 2).
	Folds int
	// Extra rows join every training fold, never a test fold: e.g. the same
	// customers at earlier cutoffs whose horizon ended by the evaluated one.
	// They train only (Dataset.Aux): early stopping and calibration use the
	// fold's rows of the evaluated dataset.
	// ExtraGroup[i] is the row of the evaluated dataset whose test fold
	// must not see extra row i in training (the same customer), or −1.
	Extra      *Dataset
	ExtraGroup []int
	// Progress, when set, is called after each fold.
	Progress func(fold int, r eval.Report)
}

// CrossValidate runs stratified k-fold cross-validation of Fit (calibration
// included, fitted inside each training fold) with the folds drawn from
// cfg.Seed.
func CrossValidate(ctx context.Context, ds *Dataset, cfg Config, opts CVOptions) (*CVResult, error) {
	cfg = cfg.WithDefaults()
	k := opts.Folds
	if k < 2 {
		return nil, fmt.Errorf("cross-validation needs at least 2 folds, got %d", k)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6376_666f_6c64_7321))
	folds := StratifiedFolds(ds.Y, k, rng)
	res := &CVResult{OOF: make([]float64, ds.Rows()), Fold: folds}
	for f := 0; f < k; f++ {
		tr, te := splitFold(folds, f)
		train := ds.Subset(tr)
		if opts.Extra != nil {
			var ex []int
			for i, g := range opts.ExtraGroup {
				if g < 0 || folds[g] != f {
					ex = append(ex, i)
				}
			}
			extra := opts.Extra.Subset(ex)
			extra.Aux = make([]bool, extra.Rows())
			for i := range extra.Aux {
				extra.Aux[i] = true
			}
			train = Concat(train, extra)
		}
		m, err := Fit(ctx, train, cfg)
		if err != nil {
			return nil, fmt.Errorf("fold %d of %d: %w", f+1, k, err)
		}
		td := ds.Subset(te)
		p := make([]float64, len(te))
		m.PredictProba(td.X, p)
		for i, r := range te {
			res.OOF[r] = p[i]
		}
		rep := eval.Evaluate(td.Y, p)
		res.Folds = append(res.Folds, rep)
		if opts.Progress != nil {
			opts.Progress(f+1, rep)
		}
	}
	res.Mean = eval.Mean(res.Folds)
	res.Pooled = eval.Evaluate(ds.Y, res.OOF)
	return res, nil
}

// Concat stacks the rows of b under those of a (same features).
func Concat(a, b *Dataset) *Dataset {
	out := &Dataset{Names: a.Names, Categorical: a.Categorical, X: make([][]float64, len(a.X))}
	for j := range a.X {
		out.X[j] = append(slices.Clone(a.X[j]), b.X[j]...)
	}
	out.Y = append(slices.Clone(a.Y), b.Y...)
	if a.W != nil || b.W != nil {
		out.W = append(weightsOr1(a), weightsOr1(b)...)
	}
	if a.Aux != nil || b.Aux != nil {
		out.Aux = append(auxOrNone(a), auxOrNone(b)...)
	}
	return out
}

func auxOrNone(d *Dataset) []bool {
	if d.Aux != nil {
		return slices.Clone(d.Aux)
	}
	return make([]bool, d.Rows())
}

func weightsOr1(d *Dataset) []float64 {
	if d.W != nil {
		return slices.Clone(d.W)
	}
	w := make([]float64, d.Rows())
	for i := range w {
		w[i] = 1
	}
	return w
}
