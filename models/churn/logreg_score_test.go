package churn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refValue is LRColumn.value as written before scoring shared a feature's
// log1p between its columns: one log per column and element.
func refValue(c *LRColumn, x float64) float64 {
	var v float64
	switch c.Kind {
	case colMissing:
		if math.IsNaN(x) {
			v = 1
		}
	case colOneHot, colLevel:
		if x == c.Cat {
			v = 1
		}
	case colHinge:
		if math.IsNaN(x) {
			v = c.Fill
		} else {
			if c.Log {
				x = math.Log1p(math.Max(x, 0))
			}
			v = math.Max(0, x-c.Cat)
		}
		v = c.clamp(v)
	default:
		if math.IsNaN(x) {
			v = c.Fill
		} else if c.Log {
			v = math.Log1p(math.Max(x, 0))
		} else {
			v = x
		}
		v = c.clamp(v)
	}
	return (v - c.Mean) / c.Scale
}

// refLogits is the column-at-a-time scoring loop before the shared log1p.
func refLogits(m *LogReg, X [][]float64, dst []float64) {
	for i := range dst {
		dst[i] = m.Intercept
	}
	for k := range m.Cols {
		c := &m.Cols[k]
		col := X[c.Feature]
		w := c.Coef / c.Scale
		off := c.Coef * c.Mean / c.Scale
		switch {
		case c.Kind == colOneHot || c.Kind == colLevel:
			for i, x := range col {
				if x == c.Cat {
					dst[i] += w - off
				} else {
					dst[i] += -off
				}
			}
		case c.Kind == colMissing:
			for i, x := range col {
				if x != x {
					dst[i] += w - off
				} else {
					dst[i] -= off
				}
			}
		case c.Kind == colNumeric && !c.Log:
			fill := c.clamp(c.Fill)
			for i, x := range col {
				if x != x {
					x = fill
				} else if c.Lo < c.Hi {
					x = math.Min(math.Max(x, c.Lo), c.Hi)
				}
				dst[i] += w*x - off
			}
		default:
			for i := range col {
				dst[i] += c.Coef * refValue(c, col[i])
			}
		}
	}
}

// randomLogReg builds a model with every column kind, log and plain
// features, clamped and unclamped columns, over nf features.
func randomLogReg(rng *rand.Rand, nf int) *LogReg {
	m := &LogReg{Intercept: rng.NormFloat64()}
	for f := range nf {
		m.Names = append(m.Names, "f"+string(rune('a'+f)))
		log := f%2 == 1
		col := func(kind string, cat float64) {
			c := LRColumn{Feature: f, Kind: kind, Cat: cat, Log: log && (kind == colNumeric || kind == colHinge),
				Fill: rng.NormFloat64(), Mean: rng.NormFloat64(), Scale: 0.5 + rng.Float64(), Coef: rng.NormFloat64()}
			if rng.IntN(2) == 0 {
				c.Lo, c.Hi = -1-rng.Float64(), 1+rng.Float64()
			}
			m.Cols = append(m.Cols, c)
		}
		col(colNumeric, 0)
		col(colMissing, 0)
		for range rng.IntN(5) {
			col(colHinge, rng.NormFloat64())
		}
		col(colLevel, float64(rng.IntN(3)))
		col(colOneHot, float64(rng.IntN(3)))
	}
	return m
}

func randomColumns(rng *rand.Rand, nf, n int) [][]float64 {
	X := make([][]float64, nf)
	for f := range X {
		X[f] = make([]float64, n)
		for i := range X[f] {
			switch rng.IntN(10) {
			case 0:
				X[f][i] = math.NaN()
			case 1:
				X[f][i] = float64(rng.IntN(3))
			case 2:
				X[f][i] = math.Inf(1 - 2*rng.IntN(2))
			default:
				X[f][i] = rng.NormFloat64() * 100
			}
		}
	}
	return X
}

// Scoring shares a feature's log1p between its columns: the log-odds and
// the per-feature contributions must keep every bit.
func TestLogRegScoringSameBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	for trial := range 20 {
		nf, n := 1+rng.IntN(6), 1+rng.IntN(300)
		m, X := randomLogReg(rng, nf), randomColumns(rng, nf, n)
		got, want := make([]float64, n), make([]float64, n)
		m.logits(X, got)
		refLogits(m, X, want)
		contrib, ref := make([]float64, nf), make([]float64, nf)
		for i := range n {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("trial %d row %d: logit %v, before %v", trial, i, got[i], want[i])
			}
			m.Explain(X, i, contrib)
			clear(ref)
			for k := range m.Cols {
				c := &m.Cols[k]
				ref[c.Feature] += c.Coef * refValue(c, X[c.Feature][i])
			}
			for f := range contrib {
				if math.Float64bits(contrib[f]) != math.Float64bits(ref[f]) {
					t.Fatalf("trial %d row %d feature %d: contribution %v, before %v", trial, i, f, contrib[f], ref[f])
				}
			}
		}
	}
}

// maxF and minF must be math.Max and math.Min bit for bit, special values
// included.
func TestMaxMinFAreMathMaxMin(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, math.Inf(1), math.Inf(-1), math.NaN(), 1e-300, -1e300, math.MaxFloat64, math.SmallestNonzeroFloat64}
	for _, x := range vals {
		for _, y := range vals {
			if g, w := maxF(x, y), math.Max(x, y); math.Float64bits(g) != math.Float64bits(w) {
				t.Errorf("maxF(%v, %v) = %v, math.Max %v", x, y, g, w)
			}
			if g, w := minF(x, y), math.Min(x, y); math.Float64bits(g) != math.Float64bits(w) {
				t.Errorf("minF(%v, %v) = %v, math.Min %v", x, y, g, w)
			}
		}
	}
}

// The Explainer's plan for logistic regressions must give Explain's bits.
func TestLRExplainPlanIsExplain(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := range 20 {
		nf, n := 1+rng.IntN(6), 1+rng.IntN(200)
		m, X := randomLogReg(rng, nf), randomColumns(rng, nf, n)
		if trial%2 == 0 {
			m.Cols = append(m.Cols, LRColumn{Feature: 0, Kind: "other", Log: true, Fill: 0.5, Mean: 0.1, Scale: 2, Coef: 0.7})
		}
		p := newLRExplainPlan(m)
		got, want := make([]float64, nf), make([]float64, nf)
		for i := range n {
			gb, wb := p.explain(X, i, got), m.Explain(X, i, want)
			for f := range got {
				if math.Float64bits(got[f]) != math.Float64bits(want[f]) || gb != wb {
					t.Fatalf("trial %d row %d feature %d: plan %v, Explain %v", trial, i, f, got[f], want[f])
				}
			}
		}
	}
	if e := NewExplainer(&Calibrated{Base: randomLogReg(rng, 2)}, nil); e.lr == nil {
		t.Fatal("a calibrated logistic regression explains without the plan")
	}
}
