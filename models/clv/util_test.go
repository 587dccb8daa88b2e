package clv

import (
	"encoding/csv"
	"os"
	"strconv"
	"testing"
)

// readCSV returns the named float columns of a CSV file with a header.
func readCSV(t testing.TB, path string, cols ...string) [][]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	idx := map[string]int{}
	for i, h := range recs[0] {
		idx[h] = i
	}
	out := make([][]float64, len(cols))
	for _, r := range recs[1:] {
		for j, c := range cols {
			i, ok := idx[c]
			if !ok {
				t.Fatalf("%s: no column %q", path, c)
			}
			v, err := strconv.ParseFloat(r[i], 64)
			if err != nil {
				t.Fatal(err)
			}
			out[j] = append(out[j], v)
		}
	}
	return out
}

func cdnow(t testing.TB) (x, tx, T []float64) {
	c := readCSV(t, "testdata/cdnow_customers_summary.csv", "frequency", "recency", "T")
	return c[0], c[1], c[2]
}

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if !(abs(got-want) <= tol) {
		t.Errorf("%s = %.6g, want %.6g ± %g", name, got, want, tol)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
