package clv

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readCDNOWSample parses the whitespace-separated CDNOW sample: master id,
// sample id, YYYYMMDD, CDs, dollars.
func readCDNOWSample(t testing.TB) Transactions {
	f, err := os.Open("testdata/CDNOW_sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tr Transactions
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		d, err := time.Parse("20060102", fs[2])
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseFloat(fs[4], 64)
		if err != nil {
			t.Fatal(err)
		}
		tr.Customer = append(tr.Customer, fs[1])
		tr.Day = append(tr.Day, d.Unix()/86400)
		tr.Amount = append(tr.Amount, v)
	}
	return tr
}

func day(s string) int64 {
	d, _ := time.Parse("2006-01-02", s)
	return d.Unix() / 86400
}

func TestSummarizeCDNOW(t *testing.T) {
	tr := readCDNOWSample(t)
	s, err := Summarize(tr, SummaryConfig{CalibrationEnd: day("1997-09-30"), ObservationEnd: day("1998-06-30"), UnitDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := readCSV(t, "testdata/cdnow_customers_summary_with_transactions.csv", "ID", "x", "t_x", "T", "zbar")
	if len(s.Customer) != 2357 {
		t.Fatalf("%d customers, want 2357", len(s.Customer))
	}
	// half-up at 2 decimals, robust to binary representation (38.395 → 38.40)
	r2 := func(v float64) float64 { return math.Round(v*100*(1+1e-12)) / 100 }
	var bad int
	var hold float64
	for i := range s.Customer {
		id, _ := strconv.Atoi(s.Customer[i])
		got := []float64{float64(id), s.Frequency[i], r2(s.Recency[i]), r2(s.T[i]), r2(s.Monetary[i])}
		for j := range got {
			if math.Abs(got[j]-want[j][i]) > 1e-9 && bad < 10 {
				bad++
				t.Errorf("customer %s column %d = %v, want %v", s.Customer[i], j, got[j], want[j][i])
			}
		}
		hold += s.FrequencyHoldout[i]
	}
	// the other summary file, lifetimes' names
	w2 := readCSV(t, "testdata/cdnow_customers_summary.csv", "frequency", "recency", "T")
	for i := range s.Customer {
		if s.Frequency[i] != w2[0][i] || r2(s.Recency[i]) != w2[1][i] || r2(s.T[i]) != w2[2][i] {
			t.Fatalf("row %d differs from cdnow_customers_summary.csv", i+1)
		}
	}
	near(t, "holdout repeat days", hold, 1882, 0)
	near(t, "holdout duration", s.DurationHoldout, 39, 0)
}
