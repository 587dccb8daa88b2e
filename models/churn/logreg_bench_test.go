package churn

import (
	"context"
	"testing"
)

func BenchmarkLogReg(b *testing.B) {
	ds := synth(100_000, 3)
	b.Run("fit-100k", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := FitLogReg(context.Background(), ds, LogRegConfig{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	m, err := FitLogReg(context.Background(), ds, LogRegConfig{})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float64, ds.Rows())
	b.Run("predict-100k", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.PredictProba(ds.X, dst)
		}
	})
}
