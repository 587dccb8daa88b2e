package churn

import (
	"cmp"
	"context"
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// gbAUC is the ROC-AUC of scores p for labels y (ties share rank).
func gbAUC(y, p []float64) float64 {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(p[a], p[b]) })
	var rankSum, npos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			j++
		}
		r := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if y[idx[k]] == 1 {
				rankSum += r
				npos++
			}
		}
		i = j
	}
	nneg := float64(len(y)) - npos
	return (rankSum - npos*(npos+1)/2) / (npos * nneg)
}

// loadTableCSV reads a one-row-per-customer CSV: numeric columns as floats
// (blank = NaN), other columns as categorical codes; label is 1 for
// "1"/"Yes"/"true".
func loadTableCSV(t testing.TB, path, label string, drop ...string) *Dataset {
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("data set not available: %v", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head, body := recs[0], recs[1:]
	ds := &Dataset{}
	for c, name := range head {
		if slices.Contains(drop, name) {
			continue
		}
		if name == label {
			for _, r := range body {
				v := strings.ToLower(strings.TrimSpace(r[c]))
				ds.Y = append(ds.Y, float64(boolInt(v == "1" || v == "yes" || v == "true")))
			}
			continue
		}
		col := make([]float64, len(body))
		numeric := true
		for i, r := range body {
			s := strings.TrimSpace(r[c])
			if s == "" {
				col[i] = math.NaN()
				continue
			}
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				numeric = false
				break
			}
			col[i] = x
		}
		if !numeric {
			codes := map[string]float64{}
			for i, r := range body {
				s := strings.TrimSpace(r[c])
				if s == "" {
					col[i] = math.NaN()
					continue
				}
				k, ok := codes[s]
				if !ok {
					k = float64(len(codes))
					codes[s] = k
				}
				col[i] = k
			}
		}
		ds.X = append(ds.X, col)
		ds.Names = append(ds.Names, name)
		ds.Categorical = append(ds.Categorical, !numeric)
	}
	return ds
}

// subset returns the rows idx of ds.
func subset(ds *Dataset, idx []int) *Dataset {
	out := &Dataset{Names: ds.Names, Categorical: ds.Categorical}
	for _, col := range ds.X {
		c := make([]float64, len(idx))
		for k, i := range idx {
			c[k] = col[i]
		}
		out.X = append(out.X, c)
	}
	for _, i := range idx {
		out.Y = append(out.Y, ds.Y[i])
	}
	return out
}

// cvAUC is the mean test AUC of k-fold cross-validation (stratified by a
// seeded shuffle).
func cvAUC(t testing.TB, ds *Dataset, cfg GBDTConfig, k int) (mean float64, rounds int) {
	n := ds.Rows()
	rng := rand.New(rand.NewPCG(42, 7))
	perm := rng.Perm(n)
	fold := make([]int, n)
	var pi, ni int
	for _, i := range perm {
		if ds.Y[i] == 1 {
			fold[i] = pi % k
			pi++
		} else {
			fold[i] = ni % k
			ni++
		}
	}
	for f := range k {
		var tr, te []int
		for i := range n {
			if fold[i] == f {
				te = append(te, i)
			} else {
				tr = append(tr, i)
			}
		}
		m, err := FitGBDT(context.Background(), subset(ds, tr), cfg)
		if err != nil {
			t.Fatal(err)
		}
		test := subset(ds, te)
		p := make([]float64, len(te))
		m.PredictProba(test.X, p)
		mean += gbAUC(test.Y, p) / float64(k)
		rounds += len(m.Trees)
	}
	return mean, rounds / k
}
