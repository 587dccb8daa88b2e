package clv

import (
	"context"
	"math"
	"testing"

	"gonum.org/v1/gonum/mathext"
)

func TestParetoNBDCDNOW(t *testing.T) {
	x, tx, T := cdnow(t)
	m, rep, err := FitParetoNBD(context.Background(), x, tx, T, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %+v", m, rep)
	if !rep.Converged {
		t.Fatalf("not converged: %s", rep.Status)
	}
	// r = 0.553, α = 10.578, s = 0.606, β = 11.669, LL = −9595.0
	near(t, "r", m.R, 0.5533, 0.0008)
	near(t, "alpha", m.Alpha, 10.578, 0.01)
	near(t, "s", m.S, 0.6062, 0.0008)
	near(t, "beta", m.Beta, 11.669, 0.015)
	near(t, "LL", rep.LogLikelihood, -9594.97, 0.02)
	p := m.PAlive(2, 30.43, 38.86)
	if !(p > 0 && p < 1) {
		t.Errorf("P(alive) = %v", p)
	}
	if e := m.ExpectedPurchases(39, 2, 30.43, 38.86); !(e > 0.5 && e < 2) {
		t.Errorf("E[X(39)] = %v", e)
	}
}

func TestHyp2F1(t *testing.T) {
	cases := []struct{ a, b, c, z float64 }{
		{1, 1, 2, 0.5}, {0.8, 3.6, 4.8, 0.3}, {2.5, 1.5, 3.5, -0.7}, {2.5, 1.5, 3.5, -5},
		{30.6, 1.6, 31.6, 0.9}, {0.55, 2.55, 3.2, -40}, {5, 7, 13, 0.99},
	}
	for _, c := range cases {
		got := Hyp2F1(c.a, c.b, c.c, c.z)
		want := mathext.Hypergeo(c.a, c.b, c.c, c.z)
		if math.Abs(got-want) > 1e-9*math.Abs(want) {
			t.Errorf("2F1(%v,%v;%v;%v) = %.15g, gonum %.15g", c.a, c.b, c.c, c.z, got, want)
		}
	}
	// ₂F₁(1,1;2;z) = −ln(1−z)/z, also for z < −1 (Pfaff)
	for _, z := range []float64{-10, -1.5, -0.2, 0.3, 0.95} {
		near(t, "2F1(1,1;2;z)", Hyp2F1(1, 1, 2, z), -math.Log1p(-z)/z, 1e-12)
	}
	// huge parameters stay finite in log space
	if l, ok := logHyp2F1(500, 400, 501, 0.999); !ok || math.IsInf(l, 0) || math.IsNaN(l) {
		t.Errorf("log 2F1 big = %v %v", l, ok)
	}
}

// TestParetoIntegralMatchesSeries: the quadrature used near z = 1 agrees with
// the ₂F₁ form where both apply.
func TestParetoIntegralMatchesSeries(t *testing.T) {
	for _, c := range []struct{ r, al, s, be, x, tx, T float64 }{
		{0.55, 10.6, 0.61, 11.7, 2, 30.43, 38.86}, {0.55, 10.6, 0.61, 11.7, 0, 0, 38.86},
		{2, 50, 0.3, 3, 12, 20, 52}, {0.2, 1, 3, 40, 150, 300, 320}, {0.24, 4, 1.7, 2, 1, 0.5, 27},
	} {
		_, L2 := paretoTerms(c.r, c.al, c.s, c.be, c.x, c.tx, c.T)
		q := math.Log(c.s) + logParetoIntegral(c.r, c.al, c.s, c.be, c.x, c.tx, c.T)
		near(t, "L2", q, L2, 1e-10*math.Max(1, math.Abs(L2)))
	}
}
