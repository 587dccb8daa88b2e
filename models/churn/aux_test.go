package churn

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// auxData is 600 main rows (churn rate 0.1) and 2400 auxiliary rows (rate
// 0.8) whose features carry no signal: whatever level the model predicts
// comes from the rows it calibrates and early-stops on.
func auxData(seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	const main, aux = 600, 2400
	ds := &Dataset{Names: []string{"a", "b", "c"}, Categorical: make([]bool, 3), X: make([][]float64, 3)}
	for i := 0; i < main+aux; i++ {
		for j := range ds.X {
			ds.X[j] = append(ds.X[j], rng.NormFloat64())
		}
		rate := 0.1
		if i >= main {
			rate = 0.8
		}
		ds.Y = append(ds.Y, b2f(rng.Float64() < rate))
		ds.Aux = append(ds.Aux, i >= main)
	}
	return ds
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestAuxRowsOnlyTrain: rows marked Aux (earlier cutoffs stacked under the
// latest) never calibrate a model: its probabilities on rows like the main
// ones average their churn rate (0.1), not the mixture's (0.66).
func TestAuxRowsOnlyTrain(t *testing.T) {
	ds := auxData(1)
	probe := auxData(2)
	var mainX [][]float64
	for j := range probe.X {
		mainX = append(mainX, probe.X[j][:600])
	}
	for _, kind := range []string{"blend", "gbdt", "logreg"} {
		for _, aux := range []bool{true, false} {
			d := *ds
			if !aux {
				d.Aux = nil
			}
			m, err := Fit(context.Background(), &d, Config{Kind: kind, Seed: 3})
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			p := make([]float64, 600)
			m.PredictProba(mainX, p)
			mean := 0.0
			for _, v := range p {
				mean += v
			}
			mean /= float64(len(p))
			want := 0.1
			if !aux {
				want = 0.66 // without Aux every row calibrates
			}
			if math.Abs(mean-want) > 0.08 {
				t.Errorf("%s, aux rows marked %v: mean probability %.3f, want about %.2f", kind, aux, mean, want)
			}
		}
	}
}

// TestAuxRowsNeverValidate: the trees' early-stopping rows are main rows:
// the best validation log loss is that of the mixture's level on rows of
// rate 0.1 (about 1.0), not the mixture's own (about 0.64).
func TestAuxRowsNeverValidate(t *testing.T) {
	ds := auxData(1)
	m, err := FitGBDT(context.Background(), ds, GBDTConfig{Seed: 1, NoRefit: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.ValidLogLoss < 0.85 {
		t.Errorf("validation log loss %.3f: the held-out rows include auxiliary ones", m.ValidLogLoss)
	}
	ds.Aux = nil
	m, err = FitGBDT(context.Background(), ds, GBDTConfig{Seed: 1, NoRefit: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.ValidLogLoss > 0.75 {
		t.Errorf("without auxiliary rows: validation log loss %.3f, want about 0.64", m.ValidLogLoss)
	}
}
