package churn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// SyntheticChurn generates a churn-like table for tests and benchmarks:
// rows × features (at least 8) of skewed spend-like amounts, counts,
// recencies, binary flags, two categorical features and some missing
// values, with labels drawn from a non-linear logistic model (interactions,
// thresholds, a missing-value effect). The same seed gives the same table.
func SyntheticChurn(rows, features int, seed uint64) *Dataset {
	features = max(features, 8)
	rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
	ds := &Dataset{
		X:           make([][]float64, features),
		Names:       make([]string, features),
		Categorical: make([]bool, features),
		Y:           make([]float64, rows),
	}
	for j := range features {
		ds.X[j] = make([]float64, rows)
		ds.Names[j] = fmt.Sprintf("f%02d", j)
	}
	ds.Categorical[4], ds.Categorical[5] = true, true
	ds.Names[0], ds.Names[1], ds.Names[2], ds.Names[3] = "recency_days", "orders", "spend", "tenure_months"
	ds.Names[4], ds.Names[5], ds.Names[6], ds.Names[7] = "plan", "channel", "support_tickets", "nps"
	for i := range rows {
		activity := rng.NormFloat64() // latent engagement
		recency := math.Exp(3.5 - 0.8*activity + 0.7*rng.NormFloat64())
		orders := math.Floor(math.Exp(1.2 + 0.6*activity + 0.5*rng.NormFloat64()))
		spend := orders * math.Exp(3+0.5*rng.NormFloat64())
		tenure := math.Floor(rng.Float64() * 72)
		plan := float64(rng.IntN(6))
		channel := float64(rng.IntN(4))
		tickets := math.Floor(rng.ExpFloat64() * (1 + 0.5*math.Max(-activity, 0)))
		nps := math.Round(7 + 2*activity + 1.5*rng.NormFloat64())
		if rng.Float64() < 0.3 {
			nps = math.NaN() // no survey answer
		}
		v := [...]float64{recency, orders, spend, tenure, plan, channel, tickets, nps}
		for j, x := range v {
			ds.X[j][i] = x
		}
		z := -1.0 + 0.9*math.Log1p(recency/30) - 0.5*math.Log1p(orders) - 0.02*tenure +
			0.6*math.Tanh(tickets-1) + []float64{0.5, -0.3, 0.2, -0.6, 0.4, 0}[int(plan)] +
			0.3*float64(boolInt(channel == 2 && tenure < 12))
		if math.IsNaN(nps) {
			z += 0.3
		} else {
			z -= 0.12 * (nps - 7)
		}
		for j := 8; j < features; j++ {
			var x float64
			switch j % 4 {
			case 0:
				x = rng.NormFloat64()
			case 1:
				x = math.Exp(rng.NormFloat64())
			case 2:
				x = float64(boolInt(rng.Float64() < 0.3))
			default:
				x = math.Floor(rng.Float64() * 20)
			}
			if j%7 == 3 && rng.Float64() < 0.1 {
				x = math.NaN()
			}
			ds.X[j][i] = x
			// a few weak signals among the noise features
			switch {
			case j < 12 && !math.IsNaN(x) && j%4 == 0:
				z += 0.25 * x * float64(boolInt(recency > 40))
			case j < 16 && j%4 == 2:
				z += 0.2 * x
			}
		}
		if rng.Float64() < gbSigmoid(z) {
			ds.Y[i] = 1
		}
	}
	return ds
}
