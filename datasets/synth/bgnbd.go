package synth

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// ExpectedRepeat is the BG/NBD expected number of repeat purchases in (0, t]
// weeks after a customer's first purchase, for lambda ~ Gamma(r, alpha) and
// p ~ Beta(a, b):
//
//	E[X(t)] = ∫ (1 − (alpha/(alpha + p t))^r) / p · Beta(p; a, b) dp
//
// (given lambda and p, E[X(t)] = (1 − e^{−lambda p t})/p; the Gamma mixing is
// closed form). The p integral is split at 1/2 and each half is substituted
// (p = u^{1/a}, 1−p = v^{1/b}) so the Beta density's end-point singularities
// vanish, then integrated by Gauss-Legendre on panels graded geometrically
// towards the end point, where the substituted integrand is still not smooth. Valid for every a, b > 0,
// including a ≤ 1 where the closed form with 2F1 is awkward.
func ExpectedRepeat(r, alpha, a, b, t float64) float64 {
	if t <= 0 {
		return 0
	}
	g := func(p float64) float64 {
		if p < 1e-12 {
			return r * t / alpha // limit p → 0
		}
		return -math.Expm1(r*math.Log(alpha/(alpha+p*t))) / p
	}
	lbeta := lgamma(a) + lgamma(b) - lgamma(a+b)
	// left half: p = u^{1/a}, u in [0, 2^{-a}], p^{a-1} dp = du/a
	left := gradedIntegral(math.Pow(0.5, a), func(u float64) float64 {
		p := math.Pow(u, 1/a)
		return g(p) * math.Exp((b-1)*math.Log1p(-p))
	}) / a
	// right half: 1-p = v^{1/b}, v in [0, 2^{-b}], (1-p)^{b-1} dp = dv/b
	right := gradedIntegral(math.Pow(0.5, b), func(v float64) float64 {
		p := 1 - math.Pow(v, 1/b)
		return g(p) * math.Exp((a-1)*math.Log(p))
	}) / b
	return (left + right) / math.Exp(lbeta)
}

// MeanOrders is the expected number of orders per customer (the first plus
// repeat ones) when customers sign up uniformly over the first acqShare of a
// window of windowWeeks: 1 + E_T[E[X(T)]] with T ~ U(windowWeeks(1−acqShare), windowWeeks).
func MeanOrders(r, alpha, a, b, windowWeeks, acqShare float64) float64 {
	lo, hi := windowWeeks*(1-acqShare), windowWeeks
	nodes, weights := gaussLegendre16() // E[X(T)] is smooth in T
	s := 0.0
	for i, x := range nodes {
		t := lo + (hi-lo)*(x+1)/2
		s += weights[i] * ExpectedRepeat(r, alpha, a, b, t)
	}
	return 1 + s/2
}

// SolveAlpha finds the BG/NBD alpha that gives target expected orders per
// customer (see MeanOrders) for the other parameters, by bisection on log alpha.
func SolveAlpha(r, a, b, windowWeeks, acqShare, target float64) (float64, error) {
	lo, hi := math.Log(1e-6), math.Log(1e6) // MeanOrders decreases in alpha
	if m := MeanOrders(r, math.Exp(lo), a, b, windowWeeks, acqShare); m < target {
		return 0, fmt.Errorf("%g orders per customer is out of reach with r=%g a=%g b=%g over %.0f weeks (at most about %.3g; lower b or a)", target, r, a, b, windowWeeks, m)
	}
	if MeanOrders(r, math.Exp(hi), a, b, windowWeeks, acqShare) > target {
		return 0, errors.New("target too low")
	}
	for range 100 {
		mid := (lo + hi) / 2
		if MeanOrders(r, math.Exp(mid), a, b, windowWeeks, acqShare) > target {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-9 {
			break
		}
	}
	return math.Exp((lo + hi) / 2), nil
}

// gradedIntegral integrates f over [0, hi] with 8-point Gauss-Legendre on
// the panels [hi/2, hi], [hi/4, hi/2], … down to hi·2^-30 (the rest is
// below rounding), which copes with algebraic end-point singularities at 0.
func gradedIntegral(hi float64, f func(float64) float64) float64 {
	nodes, weights := gaussLegendre8()
	sum := 0.0
	for k := 0; k < 30; k++ {
		b := hi * math.Ldexp(1, -k)
		a := b / 2
		half := (b - a) / 2
		s := 0.0
		for i, x := range nodes {
			s += weights[i] * f(a+half*(x+1))
		}
		sum += s * half
	}
	return sum
}

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// gaussLegendre16 and gaussLegendre8 return the Gauss-Legendre nodes and
// weights on [-1, 1], computed once.
var (
	gaussLegendre16 = sync.OnceValues(func() ([]float64, []float64) { return gaussLegendre(16) })
	gaussLegendre8  = sync.OnceValues(func() ([]float64, []float64) { return gaussLegendre(8) })
)

// gaussLegendre computes the n-point rule by Newton iteration on the
// Legendre polynomial.
func gaussLegendre(n int) ([]float64, []float64) {
	x := make([]float64, n)
	w := make([]float64, n)
	for i := range (n + 1) / 2 {
		z := math.Cos(math.Pi * (float64(i) + 0.75) / (float64(n) + 0.5))
		var dp float64
		for range 100 {
			p1, p2 := 1.0, 0.0
			for j := 1; j <= n; j++ {
				p1, p2 = ((2*float64(j)-1)*z*p1-(float64(j)-1)*p2)/float64(j), p1
			}
			dp = float64(n) * (z*p1 - p2) / (z*z - 1)
			z1 := z
			z = z1 - p1/dp
			if math.Abs(z-z1) < 1e-15 {
				break
			}
		}
		x[i], x[n-1-i] = -z, z
		w[i] = 2 / ((1 - z*z) * dp * dp)
		w[n-1-i] = w[i]
	}
	return x, w
}
