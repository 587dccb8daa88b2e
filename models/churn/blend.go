package churn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
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

// blendPart is one member of the blend: a model family and a seed offset
// (bagging several boosted ensembles that differ only in their row and
// column samples steadies the trees' ranking).
type blendPart struct {
	kind string
	seed uint64
}

// blendParts are the members of the default blend: three GBDTs with
// different sampling seeds and the logistic regression. Above
// blendBagRows rows a single GBDT is used (bagging costs a fit each).
func blendParts(n int) []blendPart {
	if n > blendBagRows {
		return []blendPart{{"gbdt", 0}, {"logreg", 0}}
	}
	return []blendPart{{"gbdt", 0}, {"gbdt", 1}, {"gbdt", 2}, {"logreg", 0}}
}

const blendBagRows = 100_000

// blendLogRegRows caps the rows the blend's logistic regression fits on.
const blendLogRegRows = 20_000

func (p blendPart) config(cfg Config) Config {
	c := cfg
	c.Kind = p.kind
	c.Seed = cfg.Seed + 7919*p.seed
	if p.kind == "logreg" && c.LogReg.MaxRows == 0 {
		// The linear member's wide hinge design is memory-bound (rows ×
		// columns per evaluation); in the blend it fits on a stratified
		// sample, which costs it little and the trees nothing.
		c.LogReg.MaxRows = blendLogRegRows
	}
	if c.GBDT.Seed != 0 {
		c.GBDT.Seed += 7919 * p.seed
	}
	return c
}

// fitBlend fits the parts on k inner folds, stacks their out-of-fold
// log-odds, and refits the parts on every row. It also returns the stacked
// out-of-fold probabilities, for an optional isotonic step on top.
func fitBlend(ctx context.Context, ds *Dataset, cfg Config, k int, rng *rand.Rand) (*Blend, []float64, error) {
	n := ds.Rows()
	parts := blendParts(n)
	folds := StratifiedFolds(ds.Y, max(k, 2), rng)
	oof := make([][]float64, len(parts))
	for q := range oof {
		oof[q] = make([]float64, n)
	}
	for f := 0; f < max(k, 2); f++ {
		tr, te := splitFold(folds, f)
		sub, td := ds.Subset(tr), ds.Subset(te)
		p := make([]float64, len(te))
		for q, part := range parts {
			m, err := fitBase(ctx, sub, part.config(cfg))
			if err != nil {
				return nil, nil, fmt.Errorf("blend fold %d, %s: %w", f+1, part.kind, err)
			}
			m.PredictProba(td.X, p)
			for i, r := range te {
				oof[q][r] = logit(p[i])
			}
		}
	}
	// The stack sees one input per family (members of a family averaged),
	// so bagged GBDTs share one weight and the stack stays a 3-parameter fit.
	var kinds []string
	group := make([]int, len(parts))
	for q, part := range parts {
		g := slices.Index(kinds, part.kind)
		if g < 0 {
			g = len(kinds)
			kinds = append(kinds, part.kind)
		}
		group[q] = g
	}
	size := make([]float64, len(kinds))
	in := make([][]float64, len(kinds))
	for g := range in {
		in[g] = make([]float64, n)
	}
	for q := range parts {
		size[group[q]]++
		for i, v := range oof[q] {
			in[group[q]][i] += v
		}
	}
	for g := range in {
		for i := range in[g] {
			in[g][i] /= size[g]
		}
	}
	stack := &Dataset{X: in, Names: kinds, Categorical: make([]bool, len(in)), Y: ds.Y, W: ds.W}
	if rows := ds.mainRows(); rows != nil {
		stack = stack.Subset(rows) // weighed on the rows like those scored
	}
	lr, err := FitLogReg(ctx, stack, LogRegConfig{C: 1e4, Knots: -1, NoLogSkewed: true})
	if err != nil {
		return nil, nil, fmt.Errorf("blend stacking: %w", err)
	}
	b := &Blend{Weights: make([]float64, len(parts)), Bias: lr.Intercept}
	for _, c := range lr.Cols {
		if c.Kind != colNumeric {
			continue
		}
		w := c.Coef / c.Scale
		b.Bias -= c.Coef * c.Mean / c.Scale
		for q := range parts {
			if group[q] == c.Feature {
				b.Weights[q] = w / size[c.Feature]
			}
		}
	}
	stacked := make([]float64, n)
	lr.PredictProba(in, stacked)
	for _, part := range parts {
		m, err := fitBase(ctx, ds, part.config(cfg))
		if err != nil {
			return nil, nil, fmt.Errorf("blend, %s: %w", part.kind, err)
		}
		b.Parts = append(b.Parts, m)
	}
	return b, stacked, nil
}
