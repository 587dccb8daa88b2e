package eval

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

// Expected values are computed by hand (see the comments).
func TestMetrics(t *testing.T) {
	cases := []struct {
		name                    string
		y, p                    []float64
		auc, ap, ll, brier, ece float64
	}{
		{
			// pairs: (.35 vs .1) win, (.35 vs .4) lose, (.8 vs both) win → 3/4.
			// AP: thresholds .8 (R .5, P 1), .4 (R .5), .35 (R 1, P 2/3) → .5 + .5·2/3.
			// ECE bins 1,3,4,8: (.1 + .65 + .4 + .2)/4.
			name: "distinct", y: []float64{0, 0, 1, 1}, p: []float64{0.1, 0.4, 0.35, 0.8},
			auc: 0.75, ap: 0.5 + 0.5*2.0/3, ll: -(math.Log(0.9) + math.Log(0.6) + math.Log(0.35) + math.Log(0.8)) / 4,
			brier: (0.01 + 0.16 + 0.4225 + 0.04) / 4, ece: (0.1 + 0.65 + 0.4 + 0.2) / 4,
		},
		{
			// all tied: AUC ½, AP = base rate, one bin with mean p .5 and rate .5.
			name: "all ties", y: []float64{1, 0, 1, 0}, p: []float64{0.5, 0.5, 0.5, 0.5},
			auc: 0.5, ap: 0.5, ll: math.Log(2), brier: 0.25, ece: 0,
		},
		{
			// pos .8 ties neg .8 (½) and beats .3 (1); pos .1 beats none → 1.5/4.
			// AP: group .8 (R .5, P .5) → .25; .3 → R .5; .1 (R 1, P .5) → .25.
			name: "partial ties", y: []float64{1, 0, 0, 1}, p: []float64{0.8, 0.8, 0.3, 0.1},
			auc: 0.375, ap: 0.5, ll: -(math.Log(0.8) + math.Log(0.2) + math.Log(0.7) + math.Log(0.1)) / 4,
			brier: (0.04 + 0.64 + 0.09 + 0.81) / 4, ece: (0.9 + 0.3 + 2*0.3) / 4,
		},
		{
			name: "one class", y: []float64{0, 0}, p: []float64{0.2, 0.4},
			auc: math.NaN(), ap: math.NaN(), ll: -(math.Log(0.8) + math.Log(0.6)) / 2, brier: (0.04 + 0.16) / 2, ece: (0.2 + 0.4) / 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Evaluate(c.y, c.p)
			for _, m := range []struct {
				what      string
				got, want float64
			}{{"auc", r.AUC, c.auc}, {"ap", r.PRAUC, c.ap}, {"logloss", r.LogLoss, c.ll}, {"brier", r.Brier, c.brier}, {"ece", r.ECE, c.ece}} {
				if !near(m.got, m.want, 1e-12) {
					t.Errorf("%s = %v, want %v", m.what, m.got, m.want)
				}
			}
		})
	}
}

func TestLift(t *testing.T) {
	y := []float64{0, 0, 1, 1}
	p := []float64{0.1, 0.4, 0.35, 0.8}
	cases := []struct{ q, lift, capture float64 }{
		{0.05, 2, 0.5}, // top 1 row (ceil) is a positive: rate 1 over base .5
		{0.25, 2, 0.5},
		{0.50, 1, 0.5}, // .8 (pos), .4 (neg)
		{0.75, 4.0 / 3, 1},
		{1, 1, 1},
	}
	for _, c := range cases {
		l, cp := LiftAt(y, p, c.q)
		if !near(l, c.lift, 1e-12) || !near(cp, c.capture, 1e-12) {
			t.Errorf("q=%v: lift %v capture %v, want %v %v", c.q, l, cp, c.lift, c.capture)
		}
	}
	// Perfect ranking of 2 positives in 4: sizes 1–25% lift 2, 26–50% 2,
	// 51–75% 4/3, 76–100% 1.
	if got, want := LiftQuality([]float64{1, 1, 0, 0}, []float64{0.9, 0.8, 0.2, 0.1}), (2+2+4.0/3+1)/4; !near(got, want, 1e-12) {
		t.Errorf("lift quality %v, want %v", got, want)
	}
}

func TestCurves(t *testing.T) {
	c := ComputeCurves([]float64{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8})
	want := []ROCPoint{{math.Inf(1), 0, 0}, {0.8, 0, 0.5}, {0.4, 0.5, 0.5}, {0.35, 0.5, 1}, {0.1, 1, 1}}
	if len(c.ROC) != len(want) {
		t.Fatalf("ROC has %d points, want %d", len(c.ROC), len(want))
	}
	for i := range want {
		if c.ROC[i] != want[i] {
			t.Errorf("ROC[%d] = %+v, want %+v", i, c.ROC[i], want[i])
		}
	}
	if len(c.Gains) != 100 || c.Gains[99].Capture != 1 || c.Gains[0].Lift != 2 {
		t.Errorf("gains: %d points, last %+v, first %+v", len(c.Gains), c.Gains[len(c.Gains)-1], c.Gains[0])
	}
	if len(c.Calibration) != 10 || c.Calibration[8].Count != 1 || c.Calibration[8].Observed != 1 {
		t.Errorf("calibration bins: %+v", c.Calibration)
	}
}

func TestMean(t *testing.T) {
	m := Mean([]Report{{N: 2, Positives: 1, AUC: 0.6}, {N: 3, Positives: 2, AUC: 0.8}})
	if m.N != 5 || m.Positives != 3 || !near(m.AUC, 0.7, 1e-12) {
		t.Errorf("mean %+v", m)
	}
}
