package clv

import (
	"context"
	"testing"
)

func TestGammaGammaCDNOW(t *testing.T) {
	c := readCSV(t, "testdata/cdnow_customers_summary_with_transactions.csv", "x", "zbar")
	m, rep, err := FitGammaGamma(context.Background(), c[0], c[1], nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %+v", m, rep)
	if !rep.Converged || rep.N != 946 {
		t.Fatalf("converged %v on %v repeaters: %s", rep.Converged, rep.N, rep.Status)
	}
	// Fader, Hardie & Lee: p = 6.25, q = 3.74, γ = 15.44; lifetimes LL −4055.92
	near(t, "p", m.P, 6.2488, 0.002)
	near(t, "q", m.Q, 3.7446, 0.002)
	near(t, "gamma", m.Gamma, 15.4477, 0.01)
	near(t, "LL", rep.LogLikelihood, -4055.92, 0.01)
	var ll float64
	for i, x := range c[0] {
		if x > 0 && c[1][i] > 0 {
			ll += m.LogLikelihood(x, c[1][i])
		}
	}
	near(t, "Σ per-customer LL", ll, rep.LogLikelihood, 1e-6)
	// population mean spend p·γ/(q−1) ≈ 35.17 (FHL)
	near(t, "E[Z]", m.ExpectedSpend(0, 0), 6.2488*15.4477/2.7446, 0.02)
}
