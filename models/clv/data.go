package clv

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// InputError reports data that is malformed or cannot identify a model. It
// implements BadInput() so the CLI exits with status 2.
type InputError struct {
	Row int // 1-based customer row, 0 when the problem is not one row's
	Msg string
}

func (e *InputError) Error() string {
	if e.Row > 0 {
		return fmt.Sprintf("customer row %d: %s", e.Row, e.Msg)
	}
	return e.Msg
}

// BadInput marks the error as bad input (exit status 2).
func (*InputError) BadInput() bool { return true }

func inputErrorf(row int, format string, args ...any) error {
	return &InputError{Row: row, Msg: fmt.Sprintf(format, args...)}
}

// compressed holds distinct (frequency, recency, T) rows with their total
// weight, plus indices into the distinct values of x, T and t_x that the fast
// likelihoods use to precompute per-value terms once per evaluation.
type compressed struct {
	x, tx, T, w []float64
	total       float64 // Σ w (number of customers)

	xs, Ts, txs []float64 // distinct values, ascending
	xi, Ti, txi []int32   // per row index into xs, Ts, txs
	wx          []float64 // Σ w per distinct x
	w0T         []float64 // Σ w per distinct T over rows with x = 0
	maxX        float64
	repeaters   float64 // Σ w over rows with x > 0
}

type rowKey struct{ x, tx, T float64 }

// compressChunk is the number of input rows compressed per goroutine before
// the per-chunk tables are merged in chunk order (deterministic output).
const compressChunk = 1 << 18

// validateRFM checks one customer's (x, t_x, T) and returns a row error.
func validateRFM(i int, x, tx, T float64) error {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || x != math.Trunc(x):
		return inputErrorf(i+1, "frequency %v is not a non-negative whole number", x)
	case math.IsNaN(T) || math.IsInf(T, 0) || T < 0:
		return inputErrorf(i+1, "T %v is not a finite non-negative number", T)
	case math.IsNaN(tx) || math.IsInf(tx, 0) || tx < 0:
		return inputErrorf(i+1, "recency %v is not a finite non-negative number", tx)
	case tx > T*(1+1e-9)+1e-9:
		return inputErrorf(i+1, "recency %v is after T %v", tx, T)
	case x == 0 && tx != 0:
		return inputErrorf(i+1, "recency %v must be 0 when frequency is 0", tx)
	}
	return nil
}

// compressRFM validates and compresses customers. weights may be nil (each
// row one customer). Recency is clamped to T when it exceeds it only by
// rounding.
func compressRFM(freq, rec, T, weights []float64, workers int) (*compressed, error) {
	n := len(freq)
	if len(rec) != n || len(T) != n || (weights != nil && len(weights) != n) {
		return nil, inputErrorf(0, "frequency, recency, T (and weights) have different lengths %d, %d, %d", n, len(rec), len(T))
	}
	if n == 0 {
		return nil, inputErrorf(0, "no customers")
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nch := (n + compressChunk - 1) / compressChunk
	type part struct {
		keys []float64 // x, tx, T per distinct row
		w    []float64
		err  error
	}
	parts := make([]part, nch)
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for c := 0; c < nch; c++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(c int) {
			defer func() { <-sem; wg.Done() }()
			lo, hi := c*compressChunk, min((c+1)*compressChunk, n)
			tab := newRowTable(3, 4096)
			p := &parts[c]
			for i := lo; i < hi; i++ {
				x, tx, t := freq[i], rec[i], T[i]
				if err := validateRFM(i, x, tx, t); err != nil {
					p.err = err
					return
				}
				if tx > t {
					tx = t
				}
				w := 1.0
				if weights != nil {
					w = weights[i]
					if !(w >= 0) || math.IsInf(w, 0) {
						p.err = inputErrorf(i+1, "weight %v is not a finite non-negative number", w)
						return
					}
				}
				j, added := tab.find(x, tx, t)
				if added {
					p.w = append(p.w, 0)
				}
				p.w[j] += w
			}
			p.keys = tab.keys
		}(c)
	}
	wg.Wait()
	for c := range parts {
		if parts[c].err != nil {
			return nil, parts[c].err
		}
	}
	cp := &compressed{}
	if nch == 1 {
		k := parts[0].keys
		for j := range parts[0].w {
			cp.add(rowKey{k[3*j], k[3*j+1], k[3*j+2]}, parts[0].w[j])
		}
	} else {
		tab := newRowTable(3, len(parts[0].w)*2)
		for c := range parts {
			k := parts[c].keys
			for j, w := range parts[c].w {
				r, added := tab.find(k[3*j], k[3*j+1], k[3*j+2])
				if added {
					cp.add(rowKey{k[3*j], k[3*j+1], k[3*j+2]}, w)
				} else {
					cp.w[r] += w
				}
			}
		}
	}
	cp.index()
	return cp, nil
}

func (c *compressed) add(k rowKey, w float64) {
	c.x = append(c.x, k.x)
	c.tx = append(c.tx, k.tx)
	c.T = append(c.T, k.T)
	c.w = append(c.w, w)
}

// index builds the distinct-value tables and weight totals.
func (c *compressed) index() {
	c.xs, c.xi = distinct(c.x)
	c.Ts, c.Ti = distinct(c.T)
	c.txs, c.txi = distinct(c.tx)
	c.wx = make([]float64, len(c.xs))
	c.w0T = make([]float64, len(c.Ts))
	c.total, c.repeaters = 0, 0
	for i, w := range c.w {
		c.total += w
		c.wx[c.xi[i]] += w
		if c.x[i] == 0 {
			c.w0T[c.Ti[i]] += w
		} else {
			c.repeaters += w
		}
	}
	if len(c.xs) > 0 {
		c.maxX = c.xs[len(c.xs)-1]
	}
}

// distinct returns the sorted distinct values of v and each element's index.
func distinct(v []float64) ([]float64, []int32) {
	m := make(map[float64]int32, 64)
	var vals []float64
	for _, x := range v {
		if _, ok := m[x]; !ok {
			m[x] = 0
			vals = append(vals, x)
		}
	}
	slices.Sort(vals)
	for i, x := range vals {
		m[x] = int32(i)
	}
	idx := make([]int32, len(v))
	for i, x := range v {
		idx[i] = m[x]
	}
	return vals, idx
}

// subsample returns every step-th distinct row (weights kept): an unbiased
// estimate of the total likelihood on far fewer rows, used for warm starts.
func (c *compressed) subsample(step int) *compressed {
	s := &compressed{}
	for i := 0; i < len(c.x); i += step {
		s.add(rowKey{c.x[i], c.tx[i], c.T[i]}, c.w[i])
	}
	s.index()
	return s
}

// warmRows is the number of distinct rows above which a fit first runs on a
// subsample and starts the full fit from its estimate.
const warmRows = 60000
