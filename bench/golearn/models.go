package main

import (
	"fmt"
	"math"

	"github.com/sjwhitworth/golearn/base"
	"github.com/sjwhitworth/golearn/ensemble"
	"github.com/sjwhitworth/golearn/knn"
	"github.com/sjwhitworth/golearn/linear_models"
	"github.com/sjwhitworth/golearn/trees"

	"github.com/retainlab/retain/models/churn"
)

const missingCat = "(missing)"

// prep turns the table's columns into golearn inputs fitted on the training
// rows only: missing numbers become the training mean; numeric columns are
// optionally rescaled (min-max to [0,1], or standardised); categorical
// columns are either kept as golearn categorical attributes or one-hot
// encoded as 0/1 floats.
type prep struct {
	t        *churn.Table
	scale    string // "", "minmax", "std"
	onehot   bool
	mean     []float64
	lo, hi   []float64 // minmax: min and max; std: mean and sd
	attrs    []base.Attribute
	columns  []func(row int) []byte // value of attribute j for a table row
	class    base.Attribute
	floatCls bool
}

func newPrep(t *churn.Table, tr *fold, scale string, onehot, floatClass bool) *prep {
	p := &prep{t: t, scale: scale, onehot: onehot, floatCls: floatClass}
	for j, col := range t.X {
		name := t.Names[j]
		if t.Categorical[j] {
			cats := t.Categories[name]
			if onehot {
				for c, cname := range cats {
					a := base.NewFloatAttribute(name + "=" + cname)
					code := float64(c)
					col := col
					p.attrs = append(p.attrs, a)
					p.columns = append(p.columns, func(r int) []byte {
						if col[r] == code {
							return base.PackFloatToBytes(1)
						}
						return base.PackFloatToBytes(0)
					})
				}
				continue
			}
			a := base.NewCategoricalAttribute()
			a.SetName(name)
			for _, c := range cats {
				a.GetSysValFromString(c)
			}
			a.GetSysValFromString(missingCat)
			col := col
			p.attrs = append(p.attrs, a)
			p.columns = append(p.columns, func(r int) []byte {
				if math.IsNaN(col[r]) {
					return a.GetSysValFromString(missingCat)
				}
				return a.GetSysValFromString(cats[int(col[r])])
			})
			continue
		}
		// numeric: training mean for missing, then the scaling
		var s, n float64
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range tr.rows {
			if v := col[r]; !math.IsNaN(v) {
				s += v
				n++
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		m := s / max(n, 1)
		var ss float64
		for _, r := range tr.rows {
			if v := col[r]; !math.IsNaN(v) {
				ss += (v - m) * (v - m)
			}
		}
		sd := math.Sqrt(ss / max(n, 1))
		a := base.NewFloatAttribute(name)
		col := col
		p.attrs = append(p.attrs, a)
		p.columns = append(p.columns, func(r int) []byte {
			v := col[r]
			if math.IsNaN(v) {
				v = m
			}
			switch scale {
			case "minmax":
				if hi > lo {
					v = min(1, max(0, (v-lo)/(hi-lo)))
				} else {
					v = 0
				}
			case "std":
				if sd > 0 {
					v = (v - m) / sd
				} else {
					v = 0
				}
			}
			return base.PackFloatToBytes(v)
		})
	}
	if floatClass {
		p.class = base.NewFloatAttribute("label")
	} else {
		c := base.NewCategoricalAttribute()
		c.SetName("label")
		c.GetSysValFromString("0")
		c.GetSysValFromString("1")
		p.class = c
	}
	return p
}

// grid builds the golearn instances of the rows f (same attribute objects
// for every grid, as golearn's prediction code looks attributes up by them).
func (p *prep) grid(f *fold) (*base.DenseInstances, error) {
	g := base.NewDenseInstances()
	specs := make([]base.AttributeSpec, len(p.attrs))
	for j, a := range p.attrs {
		specs[j] = g.AddAttribute(a)
	}
	cs := g.AddAttribute(p.class)
	if err := g.AddClassAttribute(p.class); err != nil {
		return nil, fmt.Errorf("class attribute: %w", err)
	}
	if err := g.Extend(len(f.rows)); err != nil {
		return nil, fmt.Errorf("allocating %d rows: %w", len(f.rows), err)
	}
	for i, r := range f.rows {
		for j, col := range p.columns {
			g.Set(specs[j], i, col(r))
		}
		y := p.t.Y[r]
		if p.floatCls {
			g.Set(cs, i, base.PackFloatToBytes(y))
		} else if y > 0.5 {
			g.Set(cs, i, p.class.GetSysValFromString("1"))
		} else {
			g.Set(cs, i, p.class.GetSysValFromString("0"))
		}
	}
	return g, nil
}

func grids(t *churn.Table, tr, te *fold, scale string, onehot, floatClass bool) (*prep, *base.DenseInstances, *base.DenseInstances, error) {
	p := newPrep(t, tr, scale, onehot, floatClass)
	gtr, err := p.grid(tr)
	if err != nil {
		return nil, nil, nil, err
	}
	gte, err := p.grid(te)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, gtr, gte, nil
}

// labels reads a categorical prediction vector as 0/1.
func labels(pred base.FixedDataGrid, n int) ([]float64, error) {
	_, rows := pred.Size()
	if rows != n {
		return nil, fmt.Errorf("golearn returned %d predictions for %d rows", rows, n)
	}
	out := make([]float64, n)
	for i := range out {
		if base.GetClass(pred, i) == "1" {
			out[i] = 1
		}
	}
	return out, nil
}

// recovered turns a golearn panic into an error.
func recovered(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("golearn panicked: %v", r)
	}
}

// forest fits golearn's RandomForest (bagged ID3 trees on a random feature
// subset each). votes: score by the share of trees voting churn (each
// tree's own Predict); otherwise by RandomForest.Predict's majority label.
func forest(tr, te *fold, t *churn.Table, n, features int, votes bool) (p []float64, err error) {
	defer recovered(&err)
	_, gtr, gte, err := grids(t, tr, te, "", false, false)
	if err != nil {
		return nil, err
	}
	rf := ensemble.NewRandomForest(n, features)
	if err := rf.Fit(gtr); err != nil {
		return nil, fmt.Errorf("fit: %w", err)
	}
	if !votes {
		pred, err := rf.Predict(gte)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		return labels(pred, len(te.rows))
	}
	share := make([]float64, len(te.rows))
	for i, m := range rf.Model.Models {
		pred, err := m.Predict(gte)
		if err != nil {
			return nil, fmt.Errorf("tree %d predict: %w", i, err)
		}
		l, err := labels(pred, len(te.rows))
		if err != nil {
			return nil, err
		}
		for r, v := range l {
			share[r] += v / float64(len(rf.Model.Models))
		}
	}
	return share, nil
}

func id3(tr, te *fold, t *churn.Table) (p []float64, err error) {
	defer recovered(&err)
	_, gtr, gte, err := grids(t, tr, te, "", false, false)
	if err != nil {
		return nil, err
	}
	m := trees.NewID3DecisionTree(0.6)
	if err := m.Fit(gtr); err != nil {
		return nil, fmt.Errorf("fit: %w", err)
	}
	pred, err := m.Predict(gte)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	return labels(pred, len(te.rows))
}

// logreg fits golearn's liblinear L2 logistic regression (C = 1). Its
// prediction path passes only positive feature values to liblinear, so the
// features are min-max scaled into [0, 1] (zeros contribute nothing anyway).
// golearn exposes only the predicted label.
func logreg(tr, te *fold, t *churn.Table) (p []float64, err error) {
	defer recovered(&err)
	_, gtr, gte, err := grids(t, tr, te, "minmax", true, true)
	if err != nil {
		return nil, err
	}
	m, err := linear_models.NewLogisticRegression("l2", 1.0, 1e-4)
	if err != nil {
		return nil, fmt.Errorf("new: %w", err)
	}
	if err := m.Fit(gtr); err != nil {
		return nil, fmt.Errorf("fit: %w", err)
	}
	pred, err := m.Predict(gte)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	cs := base.ResolveAttributes(pred, pred.AllClassAttributes())
	out := make([]float64, len(te.rows))
	for i := range out {
		out[i] = base.UnpackBytesToFloat(pred.Get(cs[0], i))
	}
	return out, nil
}

func knnFit(tr, te *fold, t *churn.Table, k int) (p []float64, err error) {
	defer recovered(&err)
	_, gtr, gte, err := grids(t, tr, te, "std", true, false)
	if err != nil {
		return nil, err
	}
	m := knn.NewKnnClassifier("euclidean", "linear", k)
	if err := m.Fit(gtr); err != nil {
		return nil, fmt.Errorf("fit: %w", err)
	}
	pred, err := m.Predict(gte)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	return labels(pred, len(te.rows))
}
