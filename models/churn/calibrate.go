package churn

import (
	"fmt"
	"math"
	"sort"
)

// Calibration maps a model's raw probability to a calibrated one. It is
// fitted on held-out predictions (out-of-fold or a holdout split), never on
// the rows the model was trained on.
type Calibration struct {
	// Method is "isotonic" or "platt".
	Method string `json:"method"`
	// Platt: p' = σ(A·logit(p) + B).
	A float64 `json:"a,omitempty"`
	B float64 `json:"b,omitempty"`
	// Isotonic: a non-decreasing step function through (X[k], Y[k]) (block
	// means of the pool-adjacent-violators fit), linearly interpolated
	// between points and flat beyond the ends.
	X []float64 `json:"x,omitempty"`
	Y []float64 `json:"y,omitempty"`
}

// Apply returns the calibrated probability of raw probability p.
func (c *Calibration) Apply(p float64) float64 {
	switch c.Method {
	case "platt":
		return sigmoid(c.A*logit(p) + c.B)
	case "isotonic":
		n := len(c.X)
		if n == 0 {
			return p
		}
		if p <= c.X[0] {
			return c.Y[0]
		}
		if p >= c.X[n-1] {
			return c.Y[n-1]
		}
		k := sort.SearchFloat64s(c.X, p) // X[k-1] < p ≤ X[k]
		x0, x1 := c.X[k-1], c.X[k]
		t := (p - x0) / (x1 - x0)
		return c.Y[k-1] + t*(c.Y[k]-c.Y[k-1])
	}
	return p
}

// FitCalibration fits method ("isotonic" or "platt") on held-out raw
// probabilities p and labels y.
func FitCalibration(method string, p, y []float64) (*Calibration, error) {
	if len(p) != len(y) || len(p) == 0 {
		return nil, fmt.Errorf("calibration: %d predictions and %d labels", len(p), len(y))
	}
	switch method {
	case "isotonic":
		return FitIsotonic(p, y), nil
	case "platt":
		return FitPlatt(p, y), nil
	}
	return nil, fmt.Errorf("calibration: unknown method %q (isotonic or platt)", method)
}

// FitIsotonic fits a non-decreasing map from p to P(y=1) by pool adjacent
// violators. Equal p values are pooled first.
func FitIsotonic(p, y []float64) *Calibration {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	// blocks: sum of x, sum of y, weight
	type block struct{ sx, sy, w float64 }
	var st []block
	for k := 0; k < len(idx); {
		j := k
		var b block
		for j < len(idx) && p[idx[j]] == p[idx[k]] {
			b.sx += p[idx[j]]
			b.sy += y[idx[j]]
			b.w++
			j++
		}
		k = j
		st = append(st, b)
		for len(st) > 1 {
			a, c := st[len(st)-2], st[len(st)-1]
			if a.sy/a.w < c.sy/c.w {
				break
			}
			st = st[:len(st)-2]
			st = append(st, block{a.sx + c.sx, a.sy + c.sy, a.w + c.w})
		}
	}
	c := &Calibration{Method: "isotonic", X: make([]float64, len(st)), Y: make([]float64, len(st))}
	for k, b := range st {
		c.X[k] = b.sx / b.w
		c.Y[k] = b.sy / b.w
	}
	return c
}

// FitPlatt fits p' = σ(A·logit(p) + B) by Newton's method on the log loss,
// with Platt's smoothed targets to avoid infinite weights on separable data.
func FitPlatt(p, y []float64) *Calibration {
	var npos, nneg float64
	for _, v := range y {
		if v > 0.5 {
			npos++
		} else {
			nneg++
		}
	}
	hi := (npos + 1) / (npos + 2)
	lo := 1 / (nneg + 2)
	f := make([]float64, len(p))
	t := make([]float64, len(p))
	for i := range p {
		f[i] = logit(p[i])
		if y[i] > 0.5 {
			t[i] = hi
		} else {
			t[i] = lo
		}
	}
	a, b := 1.0, 0.0
	for iter := 0; iter < 100; iter++ {
		var g1, g2, h11, h12, h22 float64
		for i := range f {
			q := sigmoid(a*f[i] + b)
			d := q - t[i]
			w := q * (1 - q)
			g1 += d * f[i]
			g2 += d
			h11 += w * f[i] * f[i]
			h12 += w * f[i]
			h22 += w
		}
		h11 += 1e-9
		h22 += 1e-9
		det := h11*h22 - h12*h12
		if det <= 0 {
			break
		}
		da := (h22*g1 - h12*g2) / det
		db := (h11*g2 - h12*g1) / det
		a -= da
		b -= db
		if math.Abs(da) < 1e-10 && math.Abs(db) < 1e-10 {
			break
		}
	}
	return &Calibration{Method: "platt", A: a, B: b}
}

// Calibrated wraps a model so PredictProba returns calibrated
// probabilities. Explain still reports the base model's raw log-odds
// contributions (calibration is monotone, so the ranking of reasons holds).
type Calibrated struct {
	Base Model
	Cal  *Calibration
}

// Kind implements Model.
func (c *Calibrated) Kind() string { return c.Base.Kind() }

// Features implements Model.
func (c *Calibrated) Features() []string { return c.Base.Features() }

// PredictProba implements Model.
func (c *Calibrated) PredictProba(X [][]float64, dst []float64) {
	c.Base.PredictProba(X, dst)
	for i, v := range dst {
		dst[i] = c.Cal.Apply(v)
	}
}

// Explain implements Model.
func (c *Calibrated) Explain(X [][]float64, row int, dst []float64) float64 {
	return c.Base.Explain(X, row, dst)
}
