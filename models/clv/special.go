package clv

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// digamma returns ψ(x) for x > 0 by recurrence up to x ≥ 6 and the
// asymptotic series.
func digamma(x float64) float64 {
	if x <= 0 {
		return mathext.Digamma(x)
	}
	var r float64
	for x < 6 {
		r -= 1 / x
		x++
	}
	f := 1 / (x * x)
	return r + math.Log(x) - 0.5/x - f*(1.0/12-f*(1.0/120-f*(1.0/252-f*(1.0/240-f*(1.0/132)))))
}

// logAddExp returns log(exp(a)+exp(b)) without overflow.
func logAddExp(a, b float64) float64 {
	if math.IsInf(a, -1) {
		return b
	}
	if math.IsInf(b, -1) {
		return a
	}
	if a > b {
		return a + math.Log1p(math.Exp(b-a))
	}
	return b + math.Log1p(math.Exp(a-b))
}

// logBeta returns log B(a, b).
func logBeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// maxSeriesTerms bounds the hypergeometric series; beyond it the Cephes-based
// gonum implementation is used.
const maxSeriesTerms = 200_000

// logHyp2F1 returns log ₂F₁(a, b; c; z) and whether the value is positive and
// was computed. It is robust for the cases the CLV models need:
//   - a, b, c > 0 and 0 ≤ z < 1: the power series summed in a rescaled form,
//     so huge intermediate terms (frequencies in the hundreds) never
//     overflow;
//   - z < 0 (including z < −1): Pfaff's transformation
//     ₂F₁(a,b;c;z) = (1−z)^(−a) ₂F₁(a, c−b; c; z/(z−1)) maps z onto [0, 1);
//   - anything else falls back to gonum's mathext.Hypergeo (Cephes with
//     analytic continuation), taking the log when it is positive.
func logHyp2F1(a, b, c, z float64) (float64, bool) {
	if z < 0 {
		if c-b > 0 && a > 0 && c > 0 {
			w := z / (z - 1)
			l, ok := logHyp2F1(a, c-b, c, w)
			return -a*math.Log1p(-z) + l, ok
		}
		if b > 0 && c-a > 0 && c > 0 {
			w := z / (z - 1)
			l, ok := logHyp2F1(c-a, b, c, w)
			return -b*math.Log1p(-z) + l, ok
		}
		return logFallback(a, b, c, z)
	}
	if z == 0 {
		return 0, true
	}
	if z >= 1 || a <= 0 || b <= 0 || c <= 0 {
		return logFallback(a, b, c, z)
	}
	if z > 0.5 && c-a > 0 && c-b > 0 && c-a-b < 0 {
		// Euler: ₂F₁(a,b;c;z) = (1−z)^(c−a−b) ₂F₁(c−a, c−b; c; z). With
		// c−a−b < 0 the new series has no growing phase (for the Pareto/NBD
		// case c = a+1 its term ratio is below z), so far fewer terms are
		// needed near z = 1, and all terms stay positive.
		l, ok := logSeries(c-a, c-b, c, z)
		if ok {
			return (c-a-b)*math.Log1p(-z) + l, true
		}
		return logFallback(a, b, c, z)
	}
	if l, ok := logSeries(a, b, c, z); ok {
		return l, true
	}
	return logFallback(a, b, c, z)
}

// logSeries sums the ₂F₁ power series for a, b, c > 0, 0 < z < 1 with
// rescaling; ok is false when it needs more than maxSeriesTerms terms.
func logSeries(a, b, c, z float64) (float64, bool) {
	const big = 1e250
	sum, term, scale := 1.0, 1.0, 0.0
	for n := 0.0; n < maxSeriesTerms; n++ {
		ratio := (a + n) * (b + n) / ((c + n) * (n + 1)) * z
		term *= ratio
		sum += term
		if sum > big {
			sum /= big
			term /= big
			scale += math.Log(big)
		}
		if ratio < 1 && term <= 1e-17*sum {
			// remaining tail ≤ term·ratio/(1−ratio) once ratios keep falling
			if term*ratio/(1-ratio) <= 1e-16*sum {
				return scale + math.Log(sum), true
			}
		}
	}
	return 0, false
}

func logFallback(a, b, c, z float64) (float64, bool) {
	v := mathext.Hypergeo(a, b, c, z)
	if v > 0 && !math.IsInf(v, 0) {
		return math.Log(v), true
	}
	return math.NaN(), false
}

// Hyp2F1 returns the Gauss hypergeometric function ₂F₁(a, b; c; z). It uses
// logHyp2F1's rescaled series and transformations where they apply and
// gonum's mathext.Hypergeo elsewhere.
func Hyp2F1(a, b, c, z float64) float64 {
	if l, ok := logHyp2F1(a, b, c, z); ok {
		return math.Exp(l)
	}
	return mathext.Hypergeo(a, b, c, z)
}
