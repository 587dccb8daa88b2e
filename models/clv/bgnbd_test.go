package clv

import (
	"context"
	"math"
	"testing"
)

func TestBGNBDCDNOW(t *testing.T) {
	x, tx, T := cdnow(t)
	m, rep, err := FitBGNBD(context.Background(), x, tx, T, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %+v", m, rep)
	if !rep.Converged {
		t.Fatalf("not converged: %s", rep.Status)
	}
	// Fader, Hardie & Lee (2005): r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4
	near(t, "r", m.R, 0.2426, 0.0005)
	near(t, "alpha", m.Alpha, 4.4135, 0.002)
	near(t, "a", m.A, 0.7929, 0.0005)
	near(t, "b", m.B, 2.4258, 0.002)
	near(t, "LL", rep.LogLikelihood, -9582.43, 0.01)
	for i, se := range rep.StdErr {
		if !(se > 0) {
			t.Errorf("stderr %d = %v", i, se)
		}
	}
	// E[X(39) | x = 2, t_x = 30.43, T = 38.86] = 1.226 (FHL 2005)
	near(t, "E[X(39)]", m.ExpectedPurchases(39, 2, 30.43, 38.86), 1.226, 0.0005)
	// the per-customer likelihood agrees with the fast one
	var ll float64
	for i := range x {
		ll += m.LogLikelihood(x[i], tx[i], T[i])
	}
	near(t, "Σ per-customer LL", ll, rep.LogLikelihood, 1e-6)
}

func TestMBGNBDCDNOW(t *testing.T) {
	x, tx, T := cdnow(t)
	m, rep, err := FitMBGNBD(context.Background(), x, tx, T, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %+v", m, rep)
	if !rep.Converged {
		t.Fatalf("not converged: %s", rep.Status)
	}
	near(t, "r", m.R, 0.525, 0.0006)
	near(t, "alpha", m.Alpha, 6.183, 0.003)
	near(t, "a", m.A, 0.891, 0.0006)
	near(t, "b", m.B, 1.614, 0.002)
	var ll float64
	for i := range x {
		ll += m.LogLikelihood(x[i], tx[i], T[i])
	}
	near(t, "Σ per-customer LL", ll, rep.LogLikelihood, 1e-6)
	if p := m.PAlive(0, 0, 38); !(p > 0 && p < 1) {
		t.Errorf("MBG/NBD P(alive | x=0) = %v, want in (0,1)", p)
	}
}

func TestBGNBDGradient(t *testing.T) {
	x, tx, T := cdnow(t)
	c, err := compressRFM(x, tx, T, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range []bool{false, true} {
		l := newNBDLik(c, mod, 2)
		lp := []float64{math.Log(0.3), math.Log(5), math.Log(0.7), math.Log(2.2)}
		g := make([]float64, 4)
		l.eval(lp, g)
		for i := range lp {
			p := append([]float64(nil), lp...)
			p[i] += 1e-6
			fp := l.eval(p, nil)
			p[i] -= 2e-6
			fm := l.eval(p, nil)
			near(t, "grad", g[i], (fp-fm)/2e-6, 1e-6)
		}
	}
}
