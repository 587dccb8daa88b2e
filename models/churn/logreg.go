package churn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
)

// LogRegConfig tunes the L2-regularised logistic regression. Zero values
// mean the defaults.
type LogRegConfig struct {
	// C is the inverse L2 strength on standardised inputs, as in
	// scikit-learn: the penalty is ‖w‖²/(2C) added to the summed log loss
	// (default 1).
	C float64 `yaml:"c,omitempty" json:"c,omitempty"`
	// MaxIter bounds the L-BFGS iterations (default 500).
	MaxIter int `yaml:"max_iter,omitempty" json:"max_iter,omitempty"`
	// MaxRows fits on a seeded stratified sample of about this many rows
	// (0 = every row; the blend's member defaults to 20,000).
	MaxRows int `yaml:"max_rows,omitempty" json:"max_rows,omitempty"`
	// NoLogSkewed turns off the log1p transform of non-negative, strongly
	// right-skewed numeric features (skewness > 2, e.g. spend and counts),
	// which is on by default.
	NoLogSkewed bool `yaml:"no_log_skewed,omitempty" json:"no_log_skewed,omitempty"`
	// Knots is the number of hinge columns max(0, x − q) added per numeric
	// feature with more than 10 distinct values, at evenly spaced quantiles
	// q, so the fit can bend (a piecewise-linear spline; default 8, −1 for
	// none; fewer when rows × features would make the design matrix exceed
	// about 500 MB). Numeric features with 3 to 10 distinct values also get one
	// indicator column per value.
	Knots int `yaml:"knots,omitempty" json:"knots,omitempty"`
	// BendPenalty multiplies the L2 strength of the hinge and per-value
	// columns, so bends are taken only where the data insist. Default
	// (0): chosen among 1, 10 and 100 by 3-fold log loss on the training
	// rows when a model is fitted through Fit (10 above 200,000 rows or
	// when FitLogReg is called directly).
	BendPenalty float64 `yaml:"bend_penalty,omitempty" json:"bend_penalty,omitempty"`
}

// Validate checks the section; key is the YAML path used in messages.
func (c LogRegConfig) Validate(key string) error {
	if c.C < 0 || math.IsNaN(c.C) || math.IsInf(c.C, 0) {
		return fmt.Errorf("%s.c: %v must be a positive number", key, c.C)
	}
	if c.Knots < -1 || c.Knots > 20 {
		return fmt.Errorf("%s.knots: %d is not between -1 and 20", key, c.Knots)
	}
	if c.BendPenalty < 0 || math.IsNaN(c.BendPenalty) || math.IsInf(c.BendPenalty, 0) {
		return fmt.Errorf("%s.bend_penalty: %v must be a positive number", key, c.BendPenalty)
	}
	if c.MaxIter < 0 {
		return fmt.Errorf("%s.max_iter: %d must be positive", key, c.MaxIter)
	}
	return nil
}

func (c LogRegConfig) withDefaults() LogRegConfig {
	if c.C == 0 {
		c.C = 1
	}
	if c.MaxIter == 0 {
		c.MaxIter = 500
	}
	if c.Knots == 0 {
		c.Knots = 8
	}
	if c.BendPenalty == 0 {
		c.BendPenalty = 10 // Fit chooses it on the data first
	}
	return c
}

// Column kinds of the logistic regression's expanded design.
const (
	colNumeric = "numeric" // the (possibly log1p'd) value, missing → training mean
	colMissing = "missing" // 1 when the feature is missing
	colOneHot  = "onehot"  // 1 when the categorical feature equals Cat
	colLevel   = "level"   // 1 when the numeric feature equals Cat
	colHinge   = "hinge"   // max(0, t(x) − Cat), t the numeric transform; missing → Fill
)

// LRColumn is one column of the expanded, standardised design: a source
// feature's value, its missing indicator or one of its categories.
type LRColumn struct {
	Feature int     `json:"feature"` // index into Features
	Kind    string  `json:"kind"`    // numeric | missing | onehot
	Cat     float64 `json:"cat,omitempty"`
	Log     bool    `json:"log,omitempty"`  // numeric: log1p(max(x,0)) before standardising
	Fill    float64 `json:"fill,omitempty"` // numeric: value used when missing (transformed scale)
	// Lo and Hi clamp numeric and hinge values to their training range, so
	// scoring never extrapolates the line beyond the data it was fitted on.
	Lo    float64 `json:"lo,omitempty"`
	Hi    float64 `json:"hi,omitempty"`
	Mean  float64 `json:"mean"`
	Scale float64 `json:"scale"`
	Coef  float64 `json:"coef"`
}

// LogReg is a fitted L2-regularised logistic regression. Every expanded
// column is centred on its training mean and scaled by its standard
// deviation, so the contribution of a feature to a row's log-odds is
// Σ coef·(z − 0) over its columns and the base log-odds is the intercept.
type LogReg struct {
	Names     []string     `json:"features"`
	Cols      []LRColumn   `json:"columns"`
	Intercept float64      `json:"intercept"`
	Params    LogRegConfig `json:"params"`
}

// Kind implements Model.
func (m *LogReg) Kind() string { return "logreg" }

// Features implements Model.
func (m *LogReg) Features() []string { return m.Names }

func (c *LRColumn) value(x float64) float64 {
	t := x
	if c.Log && c.Kind != colMissing && c.Kind != colOneHot && c.Kind != colLevel && x == x {
		t = math.Log1p(maxF(x, 0))
	}
	return c.valueAt(x, t)
}

// logInput reports whether the column reads its feature through
// log1p(max(x, 0)) (valueAt's t).
func (c *LRColumn) logInput() bool {
	return c.Log && c.Kind != colMissing && c.Kind != colOneHot && c.Kind != colLevel
}

// valueAt is value given t, the feature's transform: log1p(max(x, 0)) for
// columns with Log (the same for every such column of a feature, so callers
// compute it once per feature), else x. t is only read when x is not NaN.
func (c *LRColumn) valueAt(x, t float64) float64 {
	var v float64
	switch c.Kind {
	case colMissing:
		if math.IsNaN(x) {
			v = 1
		}
	case colOneHot, colLevel:
		if x == c.Cat {
			v = 1
		}
	case colHinge:
		if math.IsNaN(x) {
			v = c.Fill
		} else {
			v = maxF(0, t-c.Cat)
		}
		if c.Lo < c.Hi { // c.clamp, inlined
			v = minF(maxF(v, c.Lo), c.Hi)
		}
	default:
		if math.IsNaN(x) {
			v = c.Fill
		} else {
			v = t
		}
		if c.Lo < c.Hi {
			v = minF(maxF(v, c.Lo), c.Hi)
		}
	}
	return (v - c.Mean) / c.Scale
}

func (c *LRColumn) clamp(v float64) float64 {
	if c.Lo < c.Hi {
		return minF(maxF(v, c.Lo), c.Hi)
	}
	return v
}

// maxF is math.Max (the same result for every input, signed zeros, NaN and
// infinities included) that the compiler inlines: the ordered cases are
// decided here, ties and NaNs go to math.Max.
func maxF(x, y float64) float64 {
	if x > y {
		return x
	}
	if x < y {
		return y
	}
	return math.Max(x, y)
}

// minF is math.Min as maxF is math.Max.
func minF(x, y float64) float64 {
	if x < y {
		return x
	}
	if x > y {
		return y
	}
	return math.Min(x, y)
}

// PredictProba implements Model.
func (m *LogReg) PredictProba(X [][]float64, dst []float64) {
	m.logits(X, dst)
	for i, v := range dst {
		dst[i] = sigmoid(v)
	}
}

// logits writes the raw log-odds of every row into dst. A feature's
// log1p(max(x, 0)) is computed once for all its columns (the columns of a
// feature are contiguous), not once per column: the same numbers, far fewer
// logarithms.
func (m *LogReg) logits(X [][]float64, dst []float64) {
	for i := range dst {
		dst[i] = m.Intercept
	}
	var tcol []float64 // log1p(max(x, 0)) of feature tFeature
	tFeature := -1
	for k := range m.Cols {
		c := &m.Cols[k]
		col := X[c.Feature]
		w := c.Coef / c.Scale
		off := c.Coef * c.Mean / c.Scale
		switch c.Kind {
		case colOneHot, colLevel:
			on, off0 := w-off, -off
			for i, x := range col {
				if x == c.Cat {
					dst[i] += on
				} else {
					dst[i] += off0
				}
			}
			continue
		case colMissing:
			for i, x := range col {
				if x != x {
					dst[i] += w - off
				} else {
					dst[i] -= off
				}
			}
			continue
		case colNumeric:
			if c.Log {
				break
			}
			fill := c.clamp(c.Fill)
			lo, hi := c.Lo, c.Hi
			clampOn := lo < hi
			for i, x := range col {
				if x != x {
					x = fill
				} else if clampOn {
					x = minF(maxF(x, lo), hi)
				}
				dst[i] += w*x - off
			}
			continue
		}
		t := col
		if c.logInput() {
			if tFeature != c.Feature {
				if tcol == nil {
					tcol = make([]float64, len(dst))
				}
				for i, x := range col {
					tcol[i] = math.Log1p(maxF(x, 0))
				}
				tFeature = c.Feature
			}
			t = tcol
		}
		coef, mean, scale, fill, cat := c.Coef, c.Mean, c.Scale, c.Fill, c.Cat
		lo, hi := c.Lo, c.Hi
		clampOn := lo < hi
		switch c.Kind {
		case colHinge:
			for i, x := range col {
				var v float64
				if x != x {
					v = fill
				} else {
					v = maxF(0, t[i]-cat)
				}
				if clampOn {
					v = minF(maxF(v, lo), hi)
				}
				dst[i] += coef * ((v - mean) / scale)
			}
		case colNumeric:
			for i, x := range col {
				v := t[i]
				if x != x {
					v = fill
				}
				if clampOn {
					v = minF(maxF(v, lo), hi)
				}
				dst[i] += coef * ((v - mean) / scale)
			}
		default:
			for i, x := range col {
				dst[i] += coef * c.valueAt(x, t[i])
			}
		}
	}
}

// Explain implements Model: coefficient × (x − mean) per feature, summed
// over the feature's expanded columns, in log-odds.
func (m *LogReg) Explain(X [][]float64, row int, dst []float64) float64 {
	clear(dst)
	tFeature, t := -1, 0.0
	for k := range m.Cols {
		c := &m.Cols[k]
		x := X[c.Feature][row]
		if !c.logInput() || x != x {
			dst[c.Feature] += c.Coef * c.valueAt(x, x)
			continue
		}
		if tFeature != c.Feature {
			t, tFeature = math.Log1p(maxF(x, 0)), c.Feature
		}
		dst[c.Feature] += c.Coef * c.valueAt(x, t)
	}
	return m.Intercept
}

// lrExplainPlan is a LogReg's columns for Explain row after row: kinds as
// small codes, the clamp decided once, so a row costs no string compares
// and no calls per column. explain gives LogReg.Explain's bits.
type lrExplainPlan struct {
	cols      []lrPlanCol
	intercept float64
}

type lrPlanCol struct {
	feature                              int
	kind                                 uint8
	log, clampOn                         bool
	cat, fill, lo, hi, mean, scale, coef float64
}

const (
	planNumeric uint8 = iota // numeric and any other kind (value's default)
	planMissing
	planOneHot // onehot and level
	planHinge
)

func newLRExplainPlan(m *LogReg) *lrExplainPlan {
	p := &lrExplainPlan{cols: make([]lrPlanCol, len(m.Cols)), intercept: m.Intercept}
	for k := range m.Cols {
		c := &m.Cols[k]
		kind := planNumeric
		switch c.Kind {
		case colMissing:
			kind = planMissing
		case colOneHot, colLevel:
			kind = planOneHot
		case colHinge:
			kind = planHinge
		}
		p.cols[k] = lrPlanCol{feature: c.Feature, kind: kind, log: c.logInput(), clampOn: c.Lo < c.Hi,
			cat: c.Cat, fill: c.Fill, lo: c.Lo, hi: c.Hi, mean: c.Mean, scale: c.Scale, coef: c.Coef}
	}
	return p
}

func (p *lrExplainPlan) explain(X [][]float64, row int, dst []float64) float64 {
	clear(dst)
	tFeature, t := -1, 0.0
	for k := range p.cols {
		c := &p.cols[k]
		x := X[c.feature][row]
		var v float64
		switch c.kind {
		case planMissing:
			if x != x {
				v = 1
			}
		case planOneHot:
			if x == c.cat {
				v = 1
			}
		default:
			if x != x {
				v = c.fill
			} else {
				tx := x
				if c.log {
					if tFeature != c.feature {
						t, tFeature = math.Log1p(maxF(x, 0)), c.feature
					}
					tx = t
				}
				v = tx
				if c.kind == planHinge {
					v = maxF(0, tx-c.cat)
				}
			}
			if c.clampOn {
				v = minF(maxF(v, c.lo), c.hi)
			}
		}
		dst[c.feature] += c.coef * ((v - c.mean) / c.scale)
	}
	return p.intercept
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func logit(p float64) float64 {
	const eps = 1e-12
	p = math.Min(math.Max(p, eps), 1-eps)
	return math.Log(p / (1 - p))
}

// ErrNoVariance is returned when the labels hold a single class.
var ErrNoVariance = errors.New("the labels hold a single class: need both churners and non-churners")

// FitLogReg fits an L2-regularised logistic regression on ds with L-BFGS and
// an analytic gradient. Missing numeric values are imputed with the training
// mean and get a missing-indicator column; categorical features are one-hot.
func FitLogReg(ctx context.Context, ds *Dataset, cfg LogRegConfig) (*LogReg, error) {
	if err := cfg.Validate("logreg"); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := ds.Rows()
	if n == 0 || len(ds.Y) != n {
		return nil, fmt.Errorf("logreg: %d rows and %d labels", n, len(ds.Y))
	}
	w := ds.W
	var pos, tot float64
	for i, y := range ds.Y {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		pos += wi * y
		tot += wi
	}
	if pos == 0 || pos == tot {
		return nil, fmt.Errorf("logreg: %w", ErrNoVariance)
	}
	m := &LogReg{Names: append([]string(nil), ds.Names...), Params: cfg}
	knots := cfg.Knots
	if budget := 60_000_000 / max(1, n*len(ds.X)); knots > budget-2 {
		knots = max(-1, budget-2)
	}
	for j, col := range ds.X {
		cat := j < len(ds.Categorical) && ds.Categorical[j]
		m.Cols = append(m.Cols, expandColumn(j, col, cat, !cfg.NoLogSkewed, knots)...)
	}
	// Design matrix Z (column-major, standardised); constant columns dropped.
	kept := m.Cols[:0]
	var Z [][]float64
	for _, c := range m.Cols {
		z := make([]float64, n)
		var s, s2 float64
		c.Mean, c.Scale = 0, 1
		if c.Kind == colNumeric || c.Kind == colHinge {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, x := range ds.X[c.Feature] {
				v := c.value(x)
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			c.Lo, c.Hi = lo, hi
		}
		for i, x := range ds.X[c.Feature] {
			v := c.value(x)
			z[i] = v
			s += v
			s2 += v * v
		}
		mean := s / float64(n)
		sd := math.Sqrt(math.Max(s2/float64(n)-mean*mean, 0))
		if sd < 1e-12 {
			continue
		}
		for i := range z {
			z[i] = (z[i] - mean) / sd
		}
		c.Mean, c.Scale = mean, sd
		kept = append(kept, c)
		Z = append(Z, z)
	}
	m.Cols = kept
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := len(Z)
	eta := make([]float64, n)
	last := make([]float64, p+1)
	lastF := math.NaN()
	grad := make([]float64, p+1)
	lam := 1 / cfg.C
	pen := make([]float64, p) // per-column L2 strength
	for c := range pen {
		pen[c] = lam
		if k := m.Cols[c].Kind; k == colHinge || k == colLevel {
			pen[c] = lam * cfg.BendPenalty
		}
	}
	eval := func(x []float64) {
		if !math.IsNaN(lastF) && equalSlices(x, last) {
			return
		}
		copy(last, x)
		b := x[p]
		for i := range eta {
			eta[i] = b
		}
		for c, z := range Z {
			if wc := x[c]; wc != 0 {
				floats.AddScaled(eta, wc, z) // SIMD axpy
			}
		}
		var f float64
		clear(grad)
		for i, e := range eta {
			wi := 1.0
			if w != nil {
				wi = w[i]
			}
			y := ds.Y[i]
			// log(1+exp(e)) − y·e, stably
			if e > 0 {
				f += wi * (e + math.Log1p(math.Exp(-e)) - y*e)
			} else {
				f += wi * (math.Log1p(math.Exp(e)) - y*e)
			}
			eta[i] = wi * (sigmoid(e) - y) // residual, reused below
		}
		for c, z := range Z {
			g := floats.Dot(eta, z) // SIMD dot
			grad[c] = g + pen[c]*x[c]
			f += 0.5 * pen[c] * x[c] * x[c]
		}
		var gb float64
		for _, r := range eta {
			gb += r
		}
		grad[p] = gb
		lastF = f
	}
	prob := optimize.Problem{
		Func: func(x []float64) float64 { eval(x); return lastF },
		Grad: func(g, x []float64) { eval(x); copy(g, grad) },
	}
	x0 := make([]float64, p+1)
	x0[p] = logit(pos / tot)
	settings := &optimize.Settings{
		MajorIterations:   cfg.MaxIter,
		GradientThreshold: 1e-6 * math.Max(1, tot),
		// Stop once the penalised log-loss has improved by less than a
		// relative 1e-6 over 5 iterations: on wide hinge designs L-BFGS
		// otherwise spends hundreds of iterations on digits that change no
		// probability that matters.
		Converger: &optimize.FunctionConverge{Relative: 1e-6, Iterations: 5},
	}
	res, err := optimize.Minimize(prob, x0, settings, &optimize.LBFGS{})
	if res == nil {
		return nil, fmt.Errorf("logreg: optimisation failed: %w", err)
	}
	// Iteration limits and line-search stalls near the optimum still leave a
	// usable solution; only a non-finite one is an error.
	for _, v := range res.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("logreg: optimisation diverged (%v)", err)
		}
	}
	for c := range m.Cols {
		m.Cols[c].Coef = res.X[c]
	}
	m.Intercept = res.X[p]
	return m, nil
}

func equalSlices(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// expandColumn returns the design columns of feature j (unstandardised).
func expandColumn(j int, col []float64, categorical, logSkewed bool, knots int) []LRColumn {
	var nMiss int
	for _, v := range col {
		if math.IsNaN(v) {
			nMiss++
		}
	}
	n := len(col)
	if nMiss == n {
		return nil
	}
	var out []LRColumn
	if categorical {
		seen := map[float64]bool{}
		var cats []float64
		for _, v := range col {
			if !math.IsNaN(v) && !seen[v] {
				seen[v] = true
				cats = append(cats, v)
			}
		}
		slices.Sort(cats)
		for _, v := range cats {
			out = append(out, LRColumn{Feature: j, Kind: colOneHot, Cat: v, Scale: 1})
		}
	} else {
		c := LRColumn{Feature: j, Kind: colNumeric, Scale: 1}
		if logSkewed && skewedNonNegative(col) {
			c.Log = true
		}
		var s float64
		for _, v := range col {
			if !math.IsNaN(v) {
				if c.Log {
					v = math.Log1p(math.Max(v, 0))
				}
				s += v
			}
		}
		c.Fill = s / float64(n-nMiss)
		out = append(out, c)
		vals := make([]float64, 0, n-nMiss)
		for _, v := range col {
			if !math.IsNaN(v) {
				if c.Log {
					v = math.Log1p(math.Max(v, 0))
				}
				vals = append(vals, v)
			}
		}
		slices.Sort(vals)
		distinct := slices.Compact(slices.Clone(vals))
		switch {
		case len(distinct) >= 3 && len(distinct) <= 10:
			for _, v := range distinct {
				raw := v
				if c.Log {
					raw = math.Expm1(v)
				}
				out = append(out, LRColumn{Feature: j, Kind: colLevel, Cat: raw, Scale: 1})
			}
		case len(distinct) > 10 && knots > 0:
			prev := math.Inf(-1)
			for k := 1; k <= knots; k++ {
				q := vals[k*len(vals)/(knots+1)]
				if q <= prev || q >= vals[len(vals)-1] {
					continue
				}
				prev = q
				// the hinge of a missing value is the hinge of the fill value
				out = append(out, LRColumn{Feature: j, Kind: colHinge, Cat: q, Log: c.Log, Fill: math.Max(0, c.Fill-q), Scale: 1})
			}
		}
	}
	if nMiss > 0 {
		out = append(out, LRColumn{Feature: j, Kind: colMissing, Scale: 1})
	}
	return out
}

// skewedNonNegative reports whether the non-missing values are ≥ 0 with a
// sample skewness above 2.
func skewedNonNegative(col []float64) bool {
	var n, s float64
	for _, v := range col {
		if math.IsNaN(v) {
			continue
		}
		if v < 0 {
			return false
		}
		n++
		s += v
	}
	if n < 3 {
		return false
	}
	mean := s / n
	var m2, m3 float64
	for _, v := range col {
		if math.IsNaN(v) {
			continue
		}
		d := v - mean
		m2 += d * d
		m3 += d * d * d
	}
	m2 /= n
	m3 /= n
	if m2 <= 0 {
		return false
	}
	return m3/math.Pow(m2, 1.5) > 2
}
