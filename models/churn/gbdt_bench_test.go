package churn

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuSeconds is the process's user+system CPU time: on this shared machine
// it is a steadier measure than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

var benchData = sync.OnceValues(func() (*Dataset, *GBDT) {
	ds := SyntheticChurn(100_000, 50, 1)
	m, err := FitGBDT(context.Background(), ds, GBDTConfig{Trees: 300, MaxDepth: 6, LearningRate: 0.1, Subsample: 1, ColSample: 1, EarlyStoppingRounds: -1})
	if err != nil {
		panic(err)
	}
	return ds, m
})

// BenchmarkFitGBDT fits 50 trees of depth 6 on 100k rows × 50 features.
func BenchmarkFitGBDT(b *testing.B) {
	benchFit(b, GBDTConfig{Trees: 50, MaxDepth: 6, LearningRate: 0.1, Subsample: 1, ColSample: 1, EarlyStoppingRounds: -1})
}

// BenchmarkFitGBDTOblivious is BenchmarkFitGBDT with symmetric trees.
func BenchmarkFitGBDTOblivious(b *testing.B) {
	benchFit(b, GBDTConfig{Trees: 50, MaxDepth: 6, LearningRate: 0.1, Subsample: 1, ColSample: 1, EarlyStoppingRounds: -1, Oblivious: ptr(true)})
}

func benchFit(b *testing.B, cfg GBDTConfig) {
	ds, _ := benchData()
	b.ReportAllocs()
	c0 := cpuSeconds()
	for b.Loop() {
		if _, err := FitGBDT(context.Background(), ds, cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(ds.Rows()*50)/b.Elapsed().Seconds()*float64(b.N), "row-trees/s")
	b.ReportMetric((cpuSeconds()-c0)/float64(b.N), "cpu-s/op")
}

// BenchmarkPredict scores 100k rows with 300 trees of depth 6.
func BenchmarkPredict(b *testing.B) {
	ds, m := benchData()
	dst := make([]float64, ds.Rows())
	b.ReportAllocs()
	c0 := cpuSeconds()
	for b.Loop() {
		m.PredictProba(ds.X, dst)
	}
	b.ReportMetric(float64(ds.Rows())*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(ds.Rows())*float64(b.N)/(cpuSeconds()-c0), "rows/cpu-s")
}

// BenchmarkExplain explains 2000 rows with 300 trees of depth 6.
func BenchmarkExplain(b *testing.B) {
	ds, m := benchData()
	m.shapModel()
	rows := make([]int, 2000)
	for i := range rows {
		rows[i] = i
	}
	dst := make([]float64, len(rows)*len(ds.X))
	b.ReportAllocs()
	c0 := cpuSeconds()
	for b.Loop() {
		m.ExplainRows(ds.X, rows, dst)
	}
	b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(len(rows))*float64(b.N)/(cpuSeconds()-c0), "rows/cpu-s")
}
