package eval

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		rng := rand.New(rand.NewPCG(1, 2))
		y, p := make([]float64, n), make([]float64, n)
		for i := range y {
			p[i] = rng.Float64()
			if rng.Float64() < p[i] {
				y[i] = 1
			}
		}
		b.Run(itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Evaluate(y, p)
			}
		})
	}
}

func itoa(n int) string {
	switch {
	case n >= 1_000_000:
		return "1M"
	case n >= 1000:
		return "10k"
	}
	return "small"
}
