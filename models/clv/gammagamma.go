package clv

import (
	"context"
	"math"
)

// GammaGamma is a fitted Gamma-Gamma spend model (Fader, Hardie & Lee 2005,
// "RFM and CLV"): a customer's transaction values are Gamma(p, ν) with
// ν ~ Gamma(q, γ), independent of the purchase process.
type GammaGamma struct{ P, Q, Gamma float64 }

// GammaGammaParams lists the parameter names in Report order.
var GammaGammaParams = []string{"p", "q", "gamma"}

// ggLik is the Gamma-Gamma log-likelihood with analytic gradient over
// repeat buyers (x > 0, zbar > 0).
type ggLik struct {
	x, z, w []float64
	xs      []float64 // distinct x
	wx      []float64 // Σ w per distinct x
	total   float64
	// constants: Σ w·ln z, Σ w·x·ln z, Σ w·x·ln x
	sLnZ, sXLnZ, sXLnX float64
	workers            int
	part               []float64
}

func newGGLik(freq, mon, weights []float64, workers int) (*ggLik, error) {
	if len(mon) != len(freq) || (weights != nil && len(weights) != len(freq)) {
		return nil, inputErrorf(0, "frequency and monetary value have different lengths %d, %d", len(freq), len(mon))
	}
	l := &ggLik{workers: workers}
	seen := map[float64]int{}
	for i, x := range freq {
		m := mon[i]
		if math.IsNaN(x) || x < 0 || math.IsInf(x, 0) || x != math.Trunc(x) {
			return nil, inputErrorf(i+1, "frequency %v is not a non-negative whole number", x)
		}
		if math.IsNaN(m) || m < 0 || math.IsInf(m, 0) {
			return nil, inputErrorf(i+1, "monetary value %v is not a finite non-negative number", m)
		}
		if x == 0 || m == 0 {
			continue // Gamma-Gamma is fitted on repeat buyers with spend
		}
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		l.x = append(l.x, x)
		l.z = append(l.z, m)
		l.w = append(l.w, w)
		l.total += w
		lz := math.Log(m)
		l.sLnZ += w * lz
		l.sXLnZ += w * x * lz
		l.sXLnX += w * x * math.Log(x)
		k, ok := seen[x]
		if !ok {
			k = len(l.xs)
			seen[x] = k
			l.xs = append(l.xs, x)
			l.wx = append(l.wx, 0)
		}
		l.wx[k] += w
	}
	if len(l.x) < 2 {
		return nil, inputErrorf(0, "gammagamma: needs at least 2 repeat buyers with a positive monetary value, got %d", len(l.x))
	}
	first := l.z[0]
	same := true
	for _, z := range l.z {
		if z != first {
			same = false
			break
		}
	}
	if same {
		return nil, inputErrorf(0, "gammagamma: every repeat buyer has the same average spend %v, so the spread of spend cannot be identified", first)
	}
	return l, nil
}

// eval: ℓ = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q lnγ + (px−1) ln z + px ln x − (px+q) ln(γ + x z).
func (l *ggLik) eval(lp, grad []float64) float64 {
	p, q, g := math.Exp(lp[0]), math.Exp(lp[1]), math.Exp(lp[2])
	lg := math.Log(g)
	lq, dq := lgamma(q), digamma(q)
	var ll, gp, gq, gg float64
	for k, x := range l.xs {
		W := l.wx[k]
		ll += W * (lgamma(p*x+q) - lgamma(p*x) - lq + q*lg)
		d := digamma(p*x + q)
		gp += W * x * (d - digamma(p*x))
		gq += W * (d - dq + lg)
		gg += W * q / g
	}
	ll += p*l.sXLnZ - l.sLnZ + p*l.sXLnX
	gp += l.sXLnZ + l.sXLnX
	var acc [4]float64
	chunkSum(len(l.x), l.workers, 4, &l.part, acc[:], func(lo, hi int, out []float64) {
		var s0, s1, s2, s3 float64
		xs, zs, ws := l.x[lo:hi], l.z[lo:hi], l.w[lo:hi]
		for i := range xs {
			x, w := xs[i], ws[i]
			d := g + x*zs[i]
			ld := math.Log(d)
			px := p*x + q
			s0 += w * px * ld
			s1 += w * x * ld
			s2 += w * ld
			s3 += w * px / d
		}
		out[0] += s0
		out[1] += s1
		out[2] += s2
		out[3] += s3
	})
	ll -= acc[0]
	gp -= acc[1]
	gq -= acc[2]
	gg -= acc[3]
	if grad != nil {
		grad[0] = -gp * p / l.total
		grad[1] = -gq * q / l.total
		grad[2] = -gg * g / l.total
	}
	return -ll / l.total
}

// FitGammaGamma fits the Gamma-Gamma model to the repeat buyers among the
// given customers: freq is the number of repeat purchases and monetary the
// mean value of those repeat purchases; rows with freq = 0 or monetary = 0 are
// skipped. weights may be nil.
func FitGammaGamma(ctx context.Context, freq, monetary, weights []float64, opt *Options) (GammaGamma, *Report, error) {
	o := opt.withDefaults()
	l, err := newGGLik(freq, monetary, weights, o.Workers)
	if err != nil {
		return GammaGamma{}, nil, err
	}
	mean := 0.0
	for i, z := range l.z {
		mean += l.w[i] * z
	}
	mean /= l.total
	init, alt := []float64{1, 1, mean}, []float64{5, 3, mean * 2}
	if len(l.x) > warmRows && o.Init == nil {
		// warm start from every k-th repeat buyer
		step := len(l.x) / (warmRows / 3)
		var sf, sm, sw []float64
		for i := 0; i < len(l.x); i += step {
			sf, sm, sw = append(sf, l.x[i]), append(sm, l.z[i]), append(sw, l.w[i])
		}
		if sub, err := newGGLik(sf, sm, sw, o.Workers); err == nil {
			so := o
			so.SkipStdErr = true
			if r, err := minimize(ctx, "gammagamma", GammaGammaParams, init, alt, sub.total, sub.eval, so); err == nil && r.Converged {
				init, alt = r.Params, init
			}
		}
	}
	rep, err := minimize(ctx, "gammagamma", GammaGammaParams, init, alt, l.total, l.eval, o)
	if err != nil {
		return GammaGamma{}, nil, err
	}
	rep.Rows = len(l.x)
	p := rep.Params
	return GammaGamma{p[0], p[1], p[2]}, rep, nil
}

// LogLikelihood returns one repeat buyer's log-likelihood.
func (m GammaGamma) LogLikelihood(x, zbar float64) float64 {
	p, q, g := m.P, m.Q, m.Gamma
	return lgamma(p*x+q) - lgamma(p*x) - lgamma(q) + q*math.Log(g) + (p*x-1)*math.Log(zbar) + p*x*math.Log(x) - (p*x+q)*math.Log(g+x*zbar)
}

// ExpectedSpend returns E[Z | x, zbar], the expected average transaction
// value: (p(γ + x·zbar))/(px + q − 1); for x = 0 the population mean
// pγ/(q − 1). It is +Inf when q ≤ 1 (the mean does not exist).
func (m GammaGamma) ExpectedSpend(x, zbar float64) float64 {
	d := m.P*x + m.Q - 1
	if d <= 0 {
		return math.Inf(1)
	}
	return m.P * (m.Gamma + x*zbar) / d
}
