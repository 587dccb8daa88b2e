package clv

import (
	"context"
	"encoding/csv"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

var truth = SimConfig{Purchases: BGNBD{R: 0.5, Alpha: 2, A: 0.8, B: 2.5}, Spend: GammaGamma{P: 6, Q: 4, Gamma: 15}, DayGrid: true}

// cpuClock reports process CPU time (user+system): on this shared 2-core
// machine wall time mostly measures the other jobs.
func cpuClock() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric((cpuClock()-start).Seconds()/float64(b.N), "cpu-s/op")
}

var (
	simOnce                sync.Once
	simF, simR, simT, simM []float64
)

func sim1M() ([]float64, []float64, []float64, []float64) {
	simOnce.Do(func() {
		c := truth
		c.N, c.Seed = 1_000_000, 42
		simF, simR, simT, simM = Simulate(c)
	})
	return simF, simR, simT, simM
}

// BenchmarkFitBGNBD1M: BG/NBD on 1M synthetic customers (weeks, T on a daily
// grid over 26–52 weeks), including compression and standard errors.
func BenchmarkFitBGNBD1M(b *testing.B) {
	f, r, T, _ := sim1M()
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuClock()
	defer reportCPU(b, c0)
	for i := 0; i < b.N; i++ {
		_, rep, err := FitBGNBD(context.Background(), f, r, T, nil, nil)
		if err != nil || !rep.Converged {
			b.Fatal(err, rep)
		}
		if i == 0 {
			b.ReportMetric(float64(rep.Rows), "rows")
			b.ReportMetric(float64(rep.Iterations), "iters")
		}
	}
}

// BenchmarkFitGammaGamma1M: Gamma-Gamma on the repeat buyers of the 1M.
func BenchmarkFitGammaGamma1M(b *testing.B) {
	f, _, _, m := sim1M()
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuClock()
	defer reportCPU(b, c0)
	for i := 0; i < b.N; i++ {
		_, rep, err := FitGammaGamma(context.Background(), f, m, nil, nil)
		if err != nil || !rep.Converged {
			b.Fatal(err, rep)
		}
		if i == 0 {
			b.ReportMetric(rep.N, "repeaters")
		}
	}
}

// BenchmarkPredict1M: P(alive), expected purchases over 52 weeks, next
// purchase, expected spend and 12-month discounted CLV for 1M customers.
func BenchmarkPredict1M(b *testing.B) {
	f, r, T, m := sim1M()
	bg, _, err := FitBGNBD(context.Background(), f, r, T, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	gg, _, err := FitGammaGamma(context.Background(), f, m, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	n := len(f)
	p := Predictions{PAlive: make([]float64, n), ExpectedPurchases: make([]float64, n), NextPurchase: make([]float64, n),
		ExpectedSpend: make([]float64, n), CLV: make([]float64, n)}
	cfg := CLVConfig{Months: 12, UnitsPerMonth: 4.345, DiscountRate: 0.01}
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuClock()
	defer reportCPU(b, c0)
	for i := 0; i < b.N; i++ {
		if err := Predict(&p, bg, &gg, f, r, T, m, 52, cfg, runtime.GOMAXPROCS(0)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteSim writes the 1M synthetic customers for the SciPy side-by-side
// (bench/clv/scipy_fit.py) when RETAIN_CLV_SIM_OUT is set.
func TestWriteSim(t *testing.T) {
	out := os.Getenv("RETAIN_CLV_SIM_OUT")
	if out == "" {
		t.Skip("set RETAIN_CLV_SIM_OUT=FILE.csv to write the benchmark data")
	}
	f, r, T, m := sim1M()
	fh, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(fh)
	w.Write([]string{"frequency", "recency", "T", "monetary_value"})
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for i := range f {
		w.Write([]string{g(f[i]), g(r[i]), g(T[i]), g(m[i])})
	}
	w.Flush()
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRecovery100k (run by bench/evals/clv.sh with RETAIN_CLV_EVAL=1): fits
// recover the simulation's BG/NBD and Gamma-Gamma parameters within 5% at
// 100k customers, for several seeds.
func TestRecovery100k(t *testing.T) {
	if os.Getenv("RETAIN_CLV_EVAL") == "" {
		t.Skip("evaluation: set RETAIN_CLV_EVAL=1 (bench/evals/clv.sh)")
	}
	for seed := uint64(1); seed <= 3; seed++ {
		c := truth
		c.N, c.Seed = 100_000, seed
		c.DayGrid = false // exact purchase times: the model's own data-generating process
		f, r, T, m := Simulate(c)
		bg, rep, err := FitBGNBD(context.Background(), f, r, T, nil, nil)
		if err != nil || !rep.Converged {
			t.Fatal(err, rep)
		}
		gg, grep, err := FitGammaGamma(context.Background(), f, m, nil, nil)
		if err != nil || !grep.Converged {
			t.Fatal(err, grep)
		}
		got := []float64{bg.R, bg.Alpha, bg.A, bg.B, gg.P, gg.Q, gg.Gamma}
		want := []float64{0.5, 2, 0.8, 2.5, 6, 4, 15}
		names := []string{"r", "alpha", "a", "b", "p", "q", "gamma"}
		for i := range got {
			rel := (got[i] - want[i]) / want[i]
			t.Logf("seed %d %-5s truth %6.3f fit %7.4f (%+.2f%%)", seed, names[i], want[i], got[i], 100*rel)
			if abs(rel) > 0.05 {
				t.Errorf("seed %d: %s = %.4f, truth %.4f: off by %.1f%%", seed, names[i], got[i], want[i], 100*rel)
			}
		}
	}
}

// BenchmarkNBDEval1M: one BG/NBD log-likelihood + gradient evaluation over
// the compressed 1M-customer data.
func BenchmarkNBDEval1M(b *testing.B) {
	f, r, T, _ := sim1M()
	c, err := compressRFM(f, r, T, nil, runtime.GOMAXPROCS(0))
	if err != nil {
		b.Fatal(err)
	}
	l := newNBDLik(c, false, runtime.GOMAXPROCS(0))
	lp := []float64{-0.7, 0.7, -0.2, 0.9}
	g := make([]float64, 4)
	b.ReportMetric(float64(len(c.x)), "rows")
	b.ResetTimer()
	c0 := cpuClock()
	defer reportCPU(b, c0)
	for i := 0; i < b.N; i++ {
		l.eval(lp, g)
	}
}
