package churn

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// Blend stacks several models fitted on the same features: its log-odds are
// Bias + Σ Weights[k]·logit(p_k), with weights fitted by logistic regression
// on the parts' out-of-fold predictions (so the blend is also Platt-style
// calibrated).
type Blend struct {
	Parts   []Model
	Weights []float64
	Bias    float64
}

// Kind implements Model.
func (b *Blend) Kind() string { return "blend" }

// Features implements Model.
func (b *Blend) Features() []string { return b.Parts[0].Features() }

// PredictProba implements Model.
func (b *Blend) PredictProba(X [][]float64, dst []float64) {
	tmp := make([]float64, len(dst))
	for i := range dst {
		dst[i] = b.Bias
	}
	for k, p := range b.Parts {
		p.PredictProba(X, tmp)
		w := b.Weights[k]
		for i, v := range tmp {
			dst[i] += w * logit(v)
		}
	}
	for i, v := range dst {
		dst[i] = sigmoid(v)
	}
}

// Explain implements Model: the weighted sum of the parts' contributions.
// It is exact for parts whose PredictProba is σ(base + Σ contributions)
// (uncalibrated logreg and GBDT).
func (b *Blend) Explain(X [][]float64, row int, dst []float64) float64 {
	clear(dst)
	tmp := make([]float64, len(dst))
	base := b.Bias
	for k, p := range b.Parts {
		base += b.Weights[k] * p.Explain(X, row, tmp)
		for j, v := range tmp {
			dst[j] += b.Weights[k] * v
		}
	}
	return base
}

// blendKinds are the parts of the default blend.
var blendKinds = [...]string{"gbdt", "logreg"}

// fitBlend fits the parts on k inner folds, stacks their out-of-fold
// log-odds, and refits the parts on every row. It also returns the stacked
// out-of-fold probabilities, for an optional isotonic step on top.
func fitBlend(ctx context.Context, ds *Dataset, cfg Config, k int, rng *rand.Rand) (*Blend, []float64, error) {
	n := ds.Rows()
	folds := StratifiedFolds(ds.Y, max(k, 2), rng)
	oof := make([][]float64, len(blendKinds))
	for q := range oof {
		oof[q] = make([]float64, n)
	}
	for f := 0; f < max(k, 2); f++ {
		tr, te := splitFold(folds, f)
		sub, td := ds.Subset(tr), ds.Subset(te)
		p := make([]float64, len(te))
		for q, kind := range blendKinds {
			c := cfg
			c.Kind = kind
			m, err := fitBase(ctx, sub, c)
			if err != nil {
				return nil, nil, fmt.Errorf("blend fold %d, %s: %w", f+1, kind, err)
			}
			m.PredictProba(td.X, p)
			for i, r := range te {
				oof[q][r] = logit(p[i])
			}
		}
	}
	stack := &Dataset{X: oof, Names: blendKinds[:], Categorical: make([]bool, len(oof)), Y: ds.Y, W: ds.W}
	lr, err := FitLogReg(ctx, stack, LogRegConfig{C: 1e4, Knots: -1, NoLogSkewed: true})
	if err != nil {
		return nil, nil, fmt.Errorf("blend stacking: %w", err)
	}
	b := &Blend{Weights: make([]float64, len(oof)), Bias: lr.Intercept}
	for _, c := range lr.Cols {
		if c.Kind == colNumeric {
			b.Weights[c.Feature] = c.Coef / c.Scale
			b.Bias -= c.Coef * c.Mean / c.Scale
		}
	}
	stacked := make([]float64, n)
	lr.PredictProba(oof, stacked)
	for _, kind := range blendKinds {
		c := cfg
		c.Kind = kind
		m, err := fitBase(ctx, ds, c)
		if err != nil {
			return nil, nil, fmt.Errorf("blend, %s: %w", kind, err)
		}
		b.Parts = append(b.Parts, m)
	}
	return b, stacked, nil
}
