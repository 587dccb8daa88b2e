package clv

import (
	"context"
	"math"
	"testing"
)

func TestBGBBDonations(t *testing.T) {
	c := readCSV(t, "testdata/donations.csv", "frequency", "recency", "periods", "weights")
	m, rep, err := FitBGBB(context.Background(), c[0], c[1], c[2], c[3], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %+v", m, rep)
	if !rep.Converged || rep.N != 11104 {
		t.Fatalf("converged %v n %v: %s", rep.Converged, rep.N, rep.Status)
	}
	// Fader, Hardie & Shang (2010): α = 1.204, β = 0.750, γ = 0.657, δ = 2.783; LL −33,225.6
	near(t, "alpha", m.Alpha, 1.204, 0.0006)
	near(t, "beta", m.Beta, 0.750, 0.0006)
	near(t, "gamma", m.Gamma, 0.657, 0.0006)
	near(t, "delta", m.Delta, 2.783, 0.0015)
	near(t, "LL", rep.LogLikelihood, -33225.6, 0.1)
	// the likelihood is that of one purchase string; times the number of
	// strings with x ones and the last at t_x, the patterns' probabilities sum to 1
	var s float64
	for x := 0.0; x <= 6; x++ {
		for tx := x; tx <= 6; tx++ {
			if x > 0 && tx == 0 || x == 0 && tx > 0 {
				continue
			}
			ways := 1.0
			if x > 0 {
				ways = math.Exp(lgamma(tx) - lgamma(x) - lgamma(tx-x+1)) // C(t_x−1, x−1)
			}
			s += ways * math.Exp(m.LogLikelihood(x, tx, 6))
		}
	}
	near(t, "Σ P(x, t_x)", s, 1, 1e-9)
	if e := m.ExpectedTransactions(5, 6, 6, 6); !(e > 0 && e < 5) {
		t.Errorf("E[X(6, 11) | 6, 6, 6] = %v", e)
	}
	if p := m.PAlive(6, 6, 6); !(p > 0.9 && p <= 1) {
		t.Errorf("P(alive | 6,6,6) = %v", p)
	}
}

func TestSBGFaderHardie2007(t *testing.T) {
	cases := []struct {
		name        string
		surv        []float64
		alpha, beta float64
		// actual survivors for years 8–12 from the paper's Figure (the
		// projection is checked against the model's own S(t), plus a sanity
		// range: it keeps falling and stays above 0)
	}{
		{"high end", []float64{1000, 869, 743, 653, 593, 551, 517, 491}, 0.668, 3.806},
		{"regular", []float64{1000, 631, 468, 382, 326, 289, 262, 241}, 0.704, 1.182},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, rep, err := FitSBG(context.Background(), c.surv, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Converged {
				t.Fatal(rep.Status)
			}
			near(t, "alpha", m.Alpha, c.alpha, 0.0006)
			near(t, "beta", m.Beta, c.beta, 0.002)
			prev := 1000 * m.Survival(7)
			for y := 8.0; y <= 12; y++ {
				s := 1000 * m.Survival(y)
				if !(s < prev && s > 0) {
					t.Errorf("projected survivors year %v = %v after %v", y, s, prev)
				}
				// recursion S(t) = S(t−1)·r(t)
				near(t, "S(t) recursion", s, prev*m.Retention(y), 1e-9)
				prev = s
			}
			t.Logf("%s: α=%.4f β=%.4f, projected years 8–12: %.0f %.0f %.0f %.0f %.0f", c.name, m.Alpha, m.Beta,
				1000*m.Survival(8), 1000*m.Survival(9), 1000*m.Survival(10), 1000*m.Survival(11), 1000*m.Survival(12))
		})
	}
}
