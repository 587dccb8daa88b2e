package clv

import (
	"context"
	"math"
)

// BGNBD is a fitted BG/NBD model (Fader, Hardie & Lee 2005): purchases while
// alive are Poisson with rate λ ~ Gamma(r, α); after each purchase the
// customer drops out with probability p ~ Beta(a, b). Times are in the unit of
// the data it was fitted on.
type BGNBD struct{ R, Alpha, A, B float64 }

// MBGNBD is a fitted MBG/NBD model (Batislam, Denizel & Filiztekin 2007): as
// BG/NBD, but a customer may also drop out right after the first purchase.
type MBGNBD struct{ R, Alpha, A, B float64 }

// BGNBDParams and the other …Params list parameter names in the order of
// Report.Params.
var (
	BGNBDParams  = []string{"r", "alpha", "a", "b"}
	MBGNBDParams = []string{"r", "alpha", "a", "b"}
)

// perXSums fills S[k] = Σ_{i<n} ln(v+i) and D[k] = Σ_{i<n} 1/(v+i) for
// n = xs[k]+off, xs ascending whole numbers.
func perXSums(xs []float64, off, v float64, S, D []float64) {
	maxN := 0.0
	if len(xs) > 0 {
		maxN = xs[len(xs)-1] + off
	}
	if maxN > 1e5 {
		lv, dv := lgamma(v), digamma(v)
		for k, x := range xs {
			S[k] = lgamma(v+x+off) - lv
			D[k] = digamma(v+x+off) - dv
		}
		return
	}
	var s, d float64
	i := 0.0
	for k, x := range xs {
		n := x + off
		for ; i < n; i++ {
			s += math.Log(v + i)
			d += 1 / (v + i)
		}
		S[k], D[k] = s, d
	}
}

// nbdLik is the fast (M)BG/NBD log-likelihood with analytic gradient over
// compressed rows.
type nbdLik struct {
	c        *compressed
	modified bool // MBG/NBD
	workers  int
	// row set evaluated one by one: repeaters (BG/NBD) or all rows (MBG/NBD)
	rx, rT, rtx []int32
	rw          []float64
	// per-evaluation tables
	lnAT, invAT, lnAtx, invAtx []float64
	Sr, Dr, Sb, Db, Sab, Dab   []float64
	A4c, rxk, invb             []float64
	part                       []float64
}

func newNBDLik(c *compressed, modified bool, workers int) *nbdLik {
	l := &nbdLik{c: c, modified: modified, workers: workers}
	for i := range c.x {
		if modified || c.x[i] > 0 {
			l.rx = append(l.rx, c.xi[i])
			l.rT = append(l.rT, c.Ti[i])
			l.rtx = append(l.rtx, c.txi[i])
			l.rw = append(l.rw, c.w[i])
		}
	}
	nx, nT, ntx := len(c.xs), len(c.Ts), len(c.txs)
	l.lnAT, l.invAT = make([]float64, nT), make([]float64, nT)
	l.lnAtx, l.invAtx = make([]float64, ntx), make([]float64, ntx)
	for _, p := range []*[]float64{&l.Sr, &l.Dr, &l.Sb, &l.Db, &l.Sab, &l.Dab, &l.A4c, &l.rxk, &l.invb} {
		*p = make([]float64, nx)
	}
	return l
}

func (l *nbdLik) eval(lp, grad []float64) float64 {
	c := l.c
	r, al, a, b := math.Exp(lp[0]), math.Exp(lp[1]), math.Exp(lp[2]), math.Exp(lp[3])
	lnal := math.Log(al)
	for j, T := range c.Ts {
		l.lnAT[j] = math.Log(al + T)
		l.invAT[j] = 1 / (al + T)
	}
	for j, t := range c.txs {
		l.lnAtx[j] = math.Log(al + t)
		l.invAtx[j] = 1 / (al + t)
	}
	off := 0.0
	if l.modified {
		off = 1
	}
	perXSums(c.xs, 0, r, l.Sr, l.Dr)
	perXSums(c.xs, off, b, l.Sb, l.Db)
	perXSums(c.xs, off, a+b, l.Sab, l.Dab)
	lna := math.Log(a)
	var ll, gr, gal, ga, gb float64
	for k, x := range c.xs {
		W := c.wx[k]
		ll += W * (l.Sr[k] + r*lnal + l.Sb[k] - l.Sab[k])
		gr += W * (l.Dr[k] + lnal)
		gal += W * r / al
		ga -= W * l.Dab[k]
		gb += W * (l.Db[k] - l.Dab[k])
		l.rxk[k] = r + x
		bx := b + x - 1 + off
		if bx > 0 {
			l.A4c[k] = lna - math.Log(bx)
			l.invb[k] = 1 / bx
		} else { // BG/NBD x = 0: no second term
			l.A4c[k] = math.Inf(-1)
		}
	}
	if !l.modified {
		// customers without repeat purchases: ℓ = A1 + A2 − r ln(α+T)
		for j, W := range c.w0T {
			if W == 0 {
				continue
			}
			ll -= W * r * l.lnAT[j]
			gr -= W * l.lnAT[j]
			gal -= W * r * l.invAT[j]
		}
	}
	var acc [5]float64
	chunkSum(len(l.rw), l.workers, 5, &l.part, acc[:], func(lo, hi int, out []float64) {
		var sl, sr, sal, s4, sb float64
		for i := lo; i < hi; i++ {
			k := l.rx[i]
			rx := l.rxk[k]
			lT, iT := l.lnAT[l.rT[i]], l.invAT[l.rT[i]]
			lt, it := l.lnAtx[l.rtx[i]], l.invAtx[l.rtx[i]]
			A3 := -rx * lT
			A4 := l.A4c[k] - rx*lt
			// log-sum-exp; log(1+e) for e ∈ [0, 1] loses at most an ulp
			// of the row's value and is much faster than Log1p
			var v, w4 float64
			if A3 >= A4 {
				e := math.Exp(A4 - A3)
				v = A3 + math.Log(1+e)
				w4 = e / (1 + e)
			} else {
				e := math.Exp(A3 - A4)
				v = A4 + math.Log(1+e)
				w4 = 1 / (1 + e)
			}
			w3 := 1 - w4
			W := l.rw[i]
			sl += W * v
			sr -= W * (w3*lT + w4*lt)
			sal -= W * rx * (w3*iT + w4*it)
			s4 += W * w4
			sb -= W * w4 * l.invb[k]
		}
		out[0] += sl
		out[1] += sr
		out[2] += sal
		out[3] += s4
		out[4] += sb
	})
	ll += acc[0]
	gr += acc[1]
	gal += acc[2]
	ga += acc[3] / a
	gb += acc[4]
	n := c.total
	if grad != nil {
		grad[0] = -gr * r / n
		grad[1] = -gal * al / n
		grad[2] = -ga * a / n
		grad[3] = -gb * b / n
	}
	return -ll / n
}

func checkRepeaters(model string, c *compressed) error {
	if c.repeaters == 0 {
		return inputErrorf(0, "%s: no customer made a repeat purchase (all frequencies are 0), so the purchase rate and dropout cannot be identified", model)
	}
	if c.total < 2 {
		return inputErrorf(0, "%s: needs at least 2 customers, got %g", model, c.total)
	}
	return nil
}

// FitBGNBD fits BG/NBD by maximum likelihood to per-customer frequency
// (repeat purchases), recency (time of the last purchase since the first)
// and T (time since the first purchase). weights may be nil.
func FitBGNBD(ctx context.Context, freq, rec, T, weights []float64, opt *Options) (BGNBD, *Report, error) {
	o := opt.withDefaults()
	c, err := compressRFM(freq, rec, T, weights, o.Workers)
	if err != nil {
		return BGNBD{}, nil, err
	}
	if err := checkRepeaters("bgnbd", c); err != nil {
		return BGNBD{}, nil, err
	}
	l := newNBDLik(c, false, o.Workers)
	init, alt := nbdStarts(c)
	if len(c.x) > warmRows && o.Init == nil {
		sub := c.subsample(len(c.x) / (warmRows / 3))
		so := o
		so.SkipStdErr = true
		if r, err := minimize(ctx, "bgnbd", BGNBDParams, init, alt, sub.total, newNBDLik(sub, false, o.Workers).eval, so); err == nil && r.Converged {
			init, alt = r.Params, init
		}
	}
	rep, err := minimize(ctx, "bgnbd", BGNBDParams, init, alt, c.total, l.eval, o)
	if err != nil {
		return BGNBD{}, nil, err
	}
	rep.Rows = len(c.x)
	p := rep.Params
	return BGNBD{p[0], p[1], p[2], p[3]}, rep, nil
}

// FitMBGNBD fits MBG/NBD like FitBGNBD.
func FitMBGNBD(ctx context.Context, freq, rec, T, weights []float64, opt *Options) (MBGNBD, *Report, error) {
	o := opt.withDefaults()
	c, err := compressRFM(freq, rec, T, weights, o.Workers)
	if err != nil {
		return MBGNBD{}, nil, err
	}
	if err := checkRepeaters("mbgnbd", c); err != nil {
		return MBGNBD{}, nil, err
	}
	l := newNBDLik(c, true, o.Workers)
	init, alt := nbdStarts(c)
	if len(c.x) > warmRows && o.Init == nil {
		sub := c.subsample(len(c.x) / (warmRows / 3))
		so := o
		so.SkipStdErr = true
		if r, err := minimize(ctx, "mbgnbd", BGNBDParams, init, alt, sub.total, newNBDLik(sub, true, o.Workers).eval, so); err == nil && r.Converged {
			init, alt = r.Params, init
		}
	}
	rep, err := minimize(ctx, "mbgnbd", MBGNBDParams, init, alt, c.total, l.eval, o)
	if err != nil {
		return MBGNBD{}, nil, err
	}
	rep.Rows = len(c.x)
	p := rep.Params
	return MBGNBD{p[0], p[1], p[2], p[3]}, rep, nil
}

// nbdStarts returns a moment-based starting point (r = 1, α = mean T over
// the mean repeat rate) and a generic alternative.
func nbdStarts(c *compressed) (init, alt []float64) {
	var sx, sT float64
	for i := range c.x {
		sx += c.w[i] * c.x[i]
		sT += c.w[i] * c.T[i]
	}
	al := 1.0
	if sx > 0 && sT > 0 {
		al = sT / sx
	}
	return []float64{1, al, 1, 1}, []float64{0.1, 1, 0.5, 2}
}

// LogLikelihood returns one customer's log-likelihood.
func (m BGNBD) LogLikelihood(x, tx, T float64) float64 {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	A12 := lgamma(r+x) - lgamma(r) + r*math.Log(al) + lgamma(a+b) + lgamma(b+x) - lgamma(b) - lgamma(a+b+x)
	A3 := -(r + x) * math.Log(al+T)
	if x == 0 {
		return A12 + A3
	}
	A4 := math.Log(a) - math.Log(b+x-1) - (r+x)*math.Log(al+tx)
	return A12 + logAddExp(A3, A4)
}

// PAlive returns P(alive at T | x, t_x, T).
func (m BGNBD) PAlive(x, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	d := math.Log(m.A/(m.B+x-1)) + (m.R+x)*math.Log((m.Alpha+T)/(m.Alpha+tx))
	return logistic(-d)
}

// logistic returns 1/(1+e^(−v)) without overflow.
func logistic(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}

// nbdNumer returns (a+b+x−1+off)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ·
// ₂F₁(r+x, b+x+off; a+b+x−1+off; t/(α+T+t))], the t_x-free factor of the
// conditional expectation (off = 0 BG/NBD, 1 MBG/NBD). Near a = 1 the 0/0 is
// resolved by averaging a = 1 ± 1e-5.
func nbdNumer(r, al, a, b, off, t, x, T float64) float64 {
	if t <= 0 {
		return 0
	}
	if math.Abs(a-1) < 1e-5 {
		return (nbdNumerAt(r, al, 1-2e-5, b, off, t, x, T) + nbdNumerAt(r, al, 1+2e-5, b, off, t, x, T)) / 2
	}
	return nbdNumerAt(r, al, a, b, off, t, x, T)
}

func nbdNumerAt(r, al, a, b, off, t, x, T float64) float64 {
	c := a + b + x - 1 + off
	if math.Abs(c) < 1e-6 {
		// c·₂F₁(…; c; z) has a finite limit at c = 0: average either side
		return (nbdNumerC(r, al, a, b-4e-6, off, t, x, T) + nbdNumerC(r, al, a, b+4e-6, off, t, x, T)) / 2
	}
	return nbdNumerC(r, al, a, b, off, t, x, T)
}

func nbdNumerC(r, al, a, b, off, t, x, T float64) float64 {
	c := a + b + x - 1 + off
	z := t / (al + T + t)
	lh, ok := logHyp2F1(r+x, b+x+off, c, z)
	var br float64
	if ok {
		br = -math.Expm1((r+x)*math.Log1p(-z) + lh)
	} else {
		br = 1 - math.Pow(1-z, r+x)*Hyp2F1(r+x, b+x+off, c, z)
	}
	return c / (a - 1) * br
}

// ExpectedPurchases returns E[X(t) | x, t_x, T]: purchases in the next t.
func (m BGNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	return m.numer(t, x, T) * m.PAlive(x, tx, T)
}

func (m BGNBD) numer(t, x, T float64) float64 {
	return nbdNumer(m.R, m.Alpha, m.A, m.B, 0, t, x, T)
}

// ExpectedPurchasesNew returns E[X(t)] for a customer just acquired.
func (m BGNBD) ExpectedPurchasesNew(t float64) float64 {
	return nbdNumer(m.R, m.Alpha, m.A, m.B, 0, t, 0, 0)
}

// ProbPurchases returns P(X(t) = k) for a randomly chosen customer over a
// period of length t since acquisition (Fader, Hardie & Lee 2005, eq. 8).
func (m BGNBD) ProbPurchases(t float64, k int) float64 {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	n := float64(k)
	lbab := logBeta(a, b)
	lq := math.Log(t / (al + t))
	lp := r * math.Log(al/(al+t))
	first := math.Exp(logBeta(a, b+n) - lbab + lgamma(r+n) - lgamma(r) - lgamma(n+1) + lp + n*lq)
	if k == 0 {
		return first
	}
	var s float64
	for j := 0; j < k; j++ {
		fj := float64(j)
		s += math.Exp(lgamma(r+fj) - lgamma(r) - lgamma(fj+1) + lp + fj*lq)
	}
	return first + math.Exp(logBeta(a+1, b+n-1)-lbab)*math.Max(0, 1-s)
}

// NextPurchase returns the median time from T to the next purchase of a
// customer who is alive at T: under (M)BG/NBD the wait is Pareto II with
// shape r+x and scale α+T, so the median is (α+T)(2^(1/(r+x)) − 1).
func (m BGNBD) NextPurchase(x, tx, T float64) float64 {
	return (m.Alpha + T) * math.Expm1(math.Ln2/(m.R+x))
}

// LogLikelihood returns one customer's log-likelihood.
func (m MBGNBD) LogLikelihood(x, tx, T float64) float64 {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	A12 := lgamma(r+x) - lgamma(r) + r*math.Log(al) + lgamma(a+b) + lgamma(b+x+1) - lgamma(b) - lgamma(a+b+x+1)
	A3 := -(r + x) * math.Log(al+T)
	A4 := math.Log(a) - math.Log(b+x) - (r+x)*math.Log(al+tx)
	return A12 + logAddExp(A3, A4)
}

// PAlive returns P(alive at T | x, t_x, T).
func (m MBGNBD) PAlive(x, tx, T float64) float64 {
	d := math.Log(m.A/(m.B+x)) + (m.R+x)*(math.Log(m.Alpha+T)-math.Log(m.Alpha+tx))
	return logistic(-d)
}

// ExpectedPurchases returns E[X(t) | x, t_x, T].
func (m MBGNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	return m.numer(t, x, T) * m.PAlive(x, tx, T)
}

func (m MBGNBD) numer(t, x, T float64) float64 {
	return nbdNumer(m.R, m.Alpha, m.A, m.B, 1, t, x, T)
}

// NextPurchase is as BGNBD.NextPurchase.
func (m MBGNBD) NextPurchase(x, tx, T float64) float64 {
	return (m.Alpha + T) * math.Expm1(math.Ln2/(m.R+x))
}
