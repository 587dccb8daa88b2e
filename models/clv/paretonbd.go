package clv

import (
	"context"
	"math"
)

// ParetoNBD is a fitted Pareto/NBD model (Schmittlein, Morrison & Colombo
// 1987): Poisson purchases with rate λ ~ Gamma(r, α) while alive, and an
// exponential lifetime with rate μ ~ Gamma(s, β).
type ParetoNBD struct{ R, Alpha, S, Beta float64 }

// ParetoNBDParams lists the parameter names in Report order.
var ParetoNBDParams = []string{"r", "alpha", "s", "beta"}

// paretoTerms returns, for one customer, L1 = −(r+x)ln(α+T) − s ln(β+T) and
// L2 = ln(s/(r+s+x)) + ln A0 (Fader & Hardie 2005, "A note on deriving the
// Pareto/NBD model"), with the ₂F₁ arguments kept in [0, 1) by expanding
// around max(α, β). The likelihood is Γ(r+x)α^r β^s/Γ(r) · (e^L1 + e^L2).
func paretoTerms(r, al, s, be, x, tx, T float64) (L1, L2 float64) {
	L1 = -(r+x)*math.Log(al+T) - s*math.Log(be+T)
	rsx := r + s + x
	var b, big, z1, z2 float64
	if al >= be {
		b, big = s+1, al
		z1, z2 = (al-be)/(al+tx), (al-be)/(al+T)
	} else {
		b, big = r+x, be
		z1, z2 = (be-al)/(be+tx), (be-al)/(be+T)
	}
	if z1 > 0.95 || z2 > 0.95 {
		// the series would be long: integrate directly
		if tx >= T {
			return L1, math.Inf(-1)
		}
		return L1, math.Log(s) + logParetoIntegral(r, al, s, be, x, tx, T)
	}
	f1, ok1 := logHyp2F1(rsx, b, rsx+1, z1)
	f2, ok2 := logHyp2F1(rsx, b, rsx+1, z2)
	if !ok1 || !ok2 {
		return L1, math.NaN()
	}
	la := f1 - rsx*math.Log(big+tx)
	lb := f2 - rsx*math.Log(big+T)
	if lb >= la {
		return L1, math.Inf(-1) // t_x = T: the second term vanishes
	}
	return L1, math.Log(s/rsx) + la + math.Log1p(-math.Exp(lb-la))
}

type paretoLik struct {
	c       *compressed
	workers int
	lgx     []float64 // lnΓ(r+x) − lnΓ(r) per distinct x
	part    []float64
}

func (l *paretoLik) value(lp []float64) float64 {
	c := l.c
	r, al, s, be := math.Exp(lp[0]), math.Exp(lp[1]), math.Exp(lp[2]), math.Exp(lp[3])
	if l.lgx == nil {
		l.lgx = make([]float64, len(c.xs))
	}
	lr := lgamma(r)
	var ll float64
	for k, x := range c.xs {
		l.lgx[k] = lgamma(r+x) - lr
		ll += c.wx[k] * (l.lgx[k] + r*math.Log(al) + s*math.Log(be))
	}
	var acc [1]float64
	chunkSum(len(c.x), l.workers, 1, &l.part, acc[:], func(lo, hi int, out []float64) {
		var sum float64
		for i := lo; i < hi; i++ {
			L1, L2 := paretoTerms(r, al, s, be, c.x[i], c.tx[i], c.T[i])
			sum += c.w[i] * logAddExp(L1, L2)
		}
		out[0] += sum
	})
	ll += acc[0]
	return -ll / c.total
}

// FitParetoNBD fits Pareto/NBD like FitBGNBD (numerical gradient).
func FitParetoNBD(ctx context.Context, freq, rec, T, weights []float64, opt *Options) (ParetoNBD, *Report, error) {
	o := opt.withDefaults()
	c, err := compressRFM(freq, rec, T, weights, o.Workers)
	if err != nil {
		return ParetoNBD{}, nil, err
	}
	if err := checkRepeaters("paretonbd", c); err != nil {
		return ParetoNBD{}, nil, err
	}
	l := &paretoLik{c: c, workers: o.Workers}
	init, _ := nbdStarts(c)
	rep, err := minimize(ctx, "paretonbd", ParetoNBDParams, []float64{1, init[1], 1, init[1]}, []float64{0.5, 1, 0.5, 1}, c.total, numericGrad(l.value), o)
	if err != nil {
		return ParetoNBD{}, nil, err
	}
	rep.Rows = len(c.x)
	p := rep.Params
	return ParetoNBD{p[0], p[1], p[2], p[3]}, rep, nil
}

// LogLikelihood returns one customer's log-likelihood.
func (m ParetoNBD) LogLikelihood(x, tx, T float64) float64 {
	L1, L2 := paretoTerms(m.R, m.Alpha, m.S, m.Beta, x, tx, T)
	return lgamma(m.R+x) - lgamma(m.R) + m.R*math.Log(m.Alpha) + m.S*math.Log(m.Beta) + logAddExp(L1, L2)
}

// PAlive returns P(alive at T | x, t_x, T) = e^L1/(e^L1 + e^L2).
func (m ParetoNBD) PAlive(x, tx, T float64) float64 {
	L1, L2 := paretoTerms(m.R, m.Alpha, m.S, m.Beta, x, tx, T)
	if math.IsNaN(L2) {
		return math.NaN()
	}
	return logistic(L1 - L2)
}

// ExpectedPurchases returns E[X(t) | x, t_x, T].
func (m ParetoNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	return m.numer(t, x, T) * m.PAlive(x, tx, T)
}

// numer is (r+x)(β+T)/((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)], with the
// s → 1 limit (r+x)/(α+T)·(β+T)·ln((β+T+t)/(β+T)).
func (m ParetoNBD) numer(t, x, T float64) float64 {
	k := (m.R + x) / (m.Alpha + T) * (m.Beta + T)
	l := math.Log1p(t / (m.Beta + T))
	if math.Abs(m.S-1) < 1e-9 {
		return k * l
	}
	return k * -math.Expm1(-(m.S-1)*l) / (m.S - 1)
}

// NextPurchase returns the median time to the next purchase of a customer
// alive at T ignoring the chance of dying first: (α+T)(2^(1/(r+x)) − 1).
func (m ParetoNBD) NextPurchase(x, tx, T float64) float64 {
	return (m.Alpha + T) * math.Expm1(math.Ln2/(m.R+x))
}

// Gauss-Legendre 10-point nodes and weights on [−1, 1].
var gl10x = [10]float64{-0.9739065285171717, -0.8650633666889845, -0.6794095682990244, -0.4333953941292472, -0.14887433898163122, 0.14887433898163122, 0.4333953941292472, 0.6794095682990244, 0.8650633666889845, 0.9739065285171717}
var gl10w = [10]float64{0.06667134430868807, 0.14945134915058036, 0.219086362515982, 0.2692667193099965, 0.295524224714753, 0.295524224714753, 0.2692667193099965, 0.219086362515982, 0.14945134915058036, 0.06667134430868807}

// logParetoIntegral returns ln ∫_{t0}^{t1} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ, the
// dying-between-t_x-and-T part of the Pareto/NBD likelihood. It is used where
// the ₂F₁ arguments approach 1 and the series would need very many terms:
// Gauss-Legendre on consecutive pieces, each as wide as lets the log-integrand
// fall by at most 2 (so every piece is integrated to full precision), stopping
// once the rest cannot matter.
func logParetoIntegral(r, al, s, be, x, t0, t1 float64) float64 {
	k1, k2 := r+x, s+1
	g := func(t float64) float64 { return -k1*math.Log(al+t) - k2*math.Log(be+t) }
	acc := math.Inf(-1)
	tau := t0
	for n := 0; tau < t1 && n < 100000; n++ {
		slope := k1/(al+tau) + k2/(be+tau)
		w := math.Min(t1-tau, 2/slope)
		if w <= 0 || tau+w == tau {
			break
		}
		h := w / 2
		mid := tau + h
		var vals [10]float64
		m := math.Inf(-1)
		for j, xj := range gl10x {
			vals[j] = g(mid+h*xj) + math.Log(gl10w[j]*h)
			m = math.Max(m, vals[j])
		}
		var sum float64
		for _, v := range vals {
			sum += math.Exp(v - m)
		}
		acc = logAddExp(acc, m+math.Log(sum))
		tau += w
		if rest := t1 - tau; rest > 0 && g(tau)+math.Log(rest) < acc-40 {
			break
		}
	}
	return acc
}
