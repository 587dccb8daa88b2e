package clv

import (
	"math"
	"math/rand/v2"
)

// SimConfig describes synthetic customers drawn from BG/NBD purchases and
// Gamma-Gamma spend with known parameters (for benchmarks, evaluations and
// parameter-recovery tests).
type SimConfig struct {
	N            int
	Seed         uint64
	Purchases    BGNBD      // rates in purchases per week
	Spend        GammaGamma // zero value: no monetary values
	MinT, MaxT   int        // observation length in whole days, uniform; default 182–364
	DayGrid      bool       // round purchase times down to whole days (same-day purchases merge)
	TimeUnitDays float64    // output unit in days; default 7 (weeks)
}

// Simulate draws cfg.N customers and returns frequency, recency, T (in
// TimeUnitDays units) and the mean repeat-purchase value (nil without a spend
// model). It is deterministic for a seed.
func Simulate(cfg SimConfig) (freq, rec, T, mon []float64) {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	if cfg.MinT == 0 && cfg.MaxT == 0 {
		cfg.MinT, cfg.MaxT = 182, 364
	}
	unit := cfg.TimeUnitDays
	if unit == 0 {
		unit = 7
	}
	spend := cfg.Spend.P > 0
	freq, rec, T = make([]float64, cfg.N), make([]float64, cfg.N), make([]float64, cfg.N)
	if spend {
		mon = make([]float64, cfg.N)
	}
	m := cfg.Purchases
	for i := 0; i < cfg.N; i++ {
		days := cfg.MinT + rng.IntN(cfg.MaxT-cfg.MinT+1)
		Tw := float64(days) / 7 // model time in weeks
		lam := gammaRand(rng, m.R) / m.Alpha
		ga, gb := gammaRand(rng, m.A), gammaRand(rng, m.B)
		p := ga / (ga + gb)
		var t float64
		var x int
		var last float64
		lastDay := -1.0
		for {
			t += rng.ExpFloat64() / lam
			if t > Tw {
				break
			}
			if cfg.DayGrid {
				d := math.Floor(t * 7)
				if d == lastDay || d > float64(days) {
					// same day as the previous purchase: merged
				} else {
					x++
					lastDay = d
					last = d / 7
				}
			} else {
				x++
				last = t
			}
			if rng.Float64() < p {
				break
			}
		}
		freq[i] = float64(x)
		if x > 0 {
			rec[i] = last * 7 / unit
		}
		T[i] = Tw * 7 / unit
		if spend && x > 0 {
			nu := gammaRand(rng, cfg.Spend.Q) / cfg.Spend.Gamma
			var s float64
			for k := 0; k < x; k++ {
				s += gammaRand(rng, cfg.Spend.P) / nu
			}
			mon[i] = s / float64(x)
		}
	}
	return freq, rec, T, mon
}

// gammaRand draws Gamma(shape, 1) (Marsaglia & Tsang, with the shape < 1
// boost).
func gammaRand(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := rng.Float64()
		return gammaRand(rng, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}
