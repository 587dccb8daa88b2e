package churn

type shapForest struct{}

// Explain writes row's per-feature log-odds contributions into dst and
// returns the base log-odds.
func (m *GBDT) Explain(X [][]float64, row int, dst []float64) float64 {
	panic("todo")
}
