package clv

import (
	"context"
	"math"
)

// BGBB is a fitted BG/BB model (Fader, Hardie & Shang 2010) for discrete
// transaction opportunities: while alive a customer transacts at each
// opportunity with probability p ~ Beta(α, β) and dies before each
// opportunity with probability θ ~ Beta(γ, δ).
type BGBB struct{ Alpha, Beta, Gamma, Delta float64 }

// BGBBParams lists the parameter names in Report order.
var BGBBParams = []string{"alpha", "beta", "gamma", "delta"}

// LogLikelihood returns the log-likelihood of x transactions in n
// opportunities with the last one at opportunity t_x (0 when x = 0).
func (m BGBB) LogLikelihood(x, tx, n float64) float64 {
	al, be, ga, de := m.Alpha, m.Beta, m.Gamma, m.Delta
	lab, lgd := logBeta(al, be), logBeta(ga, de)
	v := logBeta(al+x, be+n-x) - lab + logBeta(ga, de+n) - lgd
	for i := 0.0; i < n-tx; i++ {
		v = logAddExp(v, logBeta(al+x, be+tx-x+i)-lab+logBeta(ga+1, de+tx+i)-lgd)
	}
	return v
}

// PAlive returns P(alive at n+1 | x, t_x, n).
func (m BGBB) PAlive(x, tx, n float64) float64 {
	al, be, ga, de := m.Alpha, m.Beta, m.Gamma, m.Delta
	l := logBeta(al+x, be+n-x) - logBeta(al, be) + logBeta(ga, de+n+1) - logBeta(ga, de)
	return math.Exp(l - m.LogLikelihood(x, tx, n))
}

// ExpectedTransactions returns E[X(n, n+k) | x, t_x, n]: transactions in the
// next k opportunities (Fader, Hardie & Shang 2010, eq. 13):
// B(α+x+1, β+n−x)/B(α,β) · δ/(γ−1) · Γ(γ+δ)/Γ(1+δ) ·
// [Γ(1+δ+n)/Γ(γ+δ+n) − Γ(1+δ+n+k)/Γ(γ+δ+n+k)] / L(α,β,γ,δ | x, t_x, n).
func (m BGBB) ExpectedTransactions(k, x, tx, n float64) float64 {
	al, be, ga, de := m.Alpha, m.Beta, m.Gamma, m.Delta
	if ga == 1 {
		ga = 1 + 1e-9
	}
	a := logBeta(al+x+1, be+n-x) - logBeta(al, be) + math.Log(de/math.Abs(ga-1)) + lgamma(ga+de) - lgamma(1+de) - m.LogLikelihood(x, tx, n)
	t1 := lgamma(1+de+n) - lgamma(ga+de+n)
	t2 := lgamma(1+de+n+k) - lgamma(ga+de+n+k)
	return math.Copysign(1, ga-1) * math.Exp(a+t1) * -math.Expm1(t2-t1)
}

// FitBGBB fits BG/BB to rows of (frequency, recency, opportunities) with
// weights (the number of customers with that pattern; nil means 1 each).
func FitBGBB(ctx context.Context, freq, rec, n, weights []float64, opt *Options) (BGBB, *Report, error) {
	o := opt.withDefaults()
	if len(rec) != len(freq) || len(n) != len(freq) || (weights != nil && len(weights) != len(freq)) {
		return BGBB{}, nil, inputErrorf(0, "bgbb: frequency, recency, periods and weights have different lengths")
	}
	var total, rep float64
	for i := range freq {
		x, tx, nn := freq[i], rec[i], n[i]
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		switch {
		case !(x >= 0) || x != math.Trunc(x) || !(nn >= 0) || nn != math.Trunc(nn) || !(tx >= 0) || tx != math.Trunc(tx):
			return BGBB{}, nil, inputErrorf(i+1, "bgbb: frequency %v, recency %v and periods %v must be whole numbers ≥ 0", x, tx, nn)
		case x > tx || tx > nn || (x > 0 && tx == 0):
			return BGBB{}, nil, inputErrorf(i+1, "bgbb: need frequency ≤ recency ≤ periods (recency > 0 when frequency > 0), got %v, %v, %v", x, tx, nn)
		case !(w >= 0) || math.IsInf(w, 0):
			return BGBB{}, nil, inputErrorf(i+1, "bgbb: weight %v is not a finite non-negative number", w)
		}
		total += w
		if x > 0 {
			rep += w
		}
	}
	if rep == 0 || total < 2 {
		return BGBB{}, nil, inputErrorf(0, "bgbb: needs at least 2 customers and some repeat transactions to identify the model")
	}
	f := func(lp []float64) float64 {
		m := BGBB{math.Exp(lp[0]), math.Exp(lp[1]), math.Exp(lp[2]), math.Exp(lp[3])}
		var ll float64
		for i := range freq {
			w := 1.0
			if weights != nil {
				w = weights[i]
			}
			if w != 0 {
				ll += w * m.LogLikelihood(freq[i], rec[i], n[i])
			}
		}
		return -ll / total
	}
	r, err := minimize(ctx, "bgbb", BGBBParams, []float64{1, 1, 1, 1}, []float64{0.5, 2, 0.5, 2}, total, numericGrad(f), o)
	if err != nil {
		return BGBB{}, nil, err
	}
	r.Rows = len(freq)
	p := r.Params
	return BGBB{p[0], p[1], p[2], p[3]}, r, nil
}

// SBG is a fitted shifted-beta-geometric model (Fader & Hardie 2007) for
// contractual retention: each customer churns at the end of every period
// with probability θ ~ Beta(α, β).
type SBG struct{ Alpha, Beta float64 }

// SBGParams lists the parameter names in Report order.
var SBGParams = []string{"alpha", "beta"}

// Survival returns S(t) = B(α, β+t)/B(α, β), the share of a cohort still
// active after t periods.
func (m SBG) Survival(t float64) float64 {
	return math.Min(1, math.Exp(logBeta(m.Alpha, m.Beta+t)-logBeta(m.Alpha, m.Beta)))
}

// ChurnProb returns P(T = t) = B(α+1, β+t−1)/B(α, β) for t ≥ 1.
func (m SBG) ChurnProb(t float64) float64 {
	return math.Exp(logBeta(m.Alpha+1, m.Beta+t-1) - logBeta(m.Alpha, m.Beta))
}

// Retention returns the retention rate from period t−1 to t, (β+t−1)/(α+β+t−1).
func (m SBG) Retention(t float64) float64 { return (m.Beta + t - 1) / (m.Alpha + m.Beta + t - 1) }

// FitSBG fits sBG to a cohort's survivor counts: survivors[0] customers at
// the start, survivors[t] still active after t periods (non-increasing).
func FitSBG(ctx context.Context, survivors []float64, opt *Options) (SBG, *Report, error) {
	o := opt.withDefaults()
	if len(survivors) < 3 {
		return SBG{}, nil, inputErrorf(0, "sbg: needs survivor counts for at least 2 periods after the start, got %d values", len(survivors))
	}
	for i, s := range survivors {
		if !(s >= 0) || math.IsInf(s, 0) {
			return SBG{}, nil, inputErrorf(i+1, "sbg: survivors %v is not a finite non-negative number", s)
		}
		if i > 0 && s > survivors[i-1] {
			return SBG{}, nil, inputErrorf(i+1, "sbg: survivors rise from %v to %v: counts must not increase", survivors[i-1], s)
		}
	}
	n0 := survivors[0]
	last := survivors[len(survivors)-1]
	if n0 == 0 || last == n0 {
		return SBG{}, nil, inputErrorf(0, "sbg: nobody churned (or the cohort is empty), so the churn distribution cannot be identified")
	}
	f := func(lp []float64) float64 {
		m := SBG{math.Exp(lp[0]), math.Exp(lp[1])}
		lab := logBeta(m.Alpha, m.Beta)
		var ll float64
		for t := 1; t < len(survivors); t++ {
			if d := survivors[t-1] - survivors[t]; d > 0 {
				ll += d * (logBeta(m.Alpha+1, m.Beta+float64(t)-1) - lab)
			}
		}
		if last > 0 {
			ll += last * (logBeta(m.Alpha, m.Beta+float64(len(survivors)-1)) - lab)
		}
		return -ll / n0
	}
	r, err := minimize(ctx, "sbg", SBGParams, []float64{1, 1}, []float64{0.1, 0.1}, n0, numericGrad(f), o)
	if err != nil {
		return SBG{}, nil, err
	}
	r.Rows = len(survivors)
	return SBG{r.Params[0], r.Params[1]}, r, nil
}
