package churn

import (
	"context"
	"encoding/json"
	"math"
	"testing"
)

// FuzzGBDTUnmarshal: a model file either fails to decode with an error or
// decodes into a model that scores (exactly as the node-by-node reference)
// and explains without panicking.
func FuzzGBDTUnmarshal(f *testing.F) {
	ds := SyntheticChurn(500, 8, 1)
	m, err := FitGBDT(context.Background(), ds, GBDTConfig{Trees: 3, MaxDepth: 3, EarlyStoppingRounds: -1})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(m)
	f.Add(b)
	f.Add([]byte(`{"features":["a"],"trees":[{"nodes":[{"f":0,"t":1,"l":1,"r":2,"c":2},{"f":-1,"v":1,"c":1},{"f":-1,"v":-1,"c":1}]}]}`))
	f.Add([]byte(`{"features":["a"],"trees":[{"nodes":[{"f":0,"cats":[5],"l":1,"r":1,"c":2},{"f":-1,"c":1}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var g GBDT
		if json.Unmarshal(data, &g) != nil {
			return
		}
		F := len(g.Names)
		if F == 0 || F > 64 {
			return
		}
		X := make([][]float64, F)
		for j := range X {
			X[j] = []float64{0, 1, math.NaN(), -3, 2.5}
		}
		p := make([]float64, 5)
		g.PredictProba(X, p)
		g.PredictMargin(X, p)
		for i, z := range p {
			if want := refMargin(&g, X, i); z != want && !(z != z && want != want) {
				t.Fatalf("row %d: margin %v, reference %v", i, z, want)
			}
		}
		phi := make([]float64, F)
		g.Explain(X, 2, phi)
	})
}
