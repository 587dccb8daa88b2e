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

// TestSummarizeSameDay: same-day purchases merge by default (amounts added,
// one repeat day) and stay separate transactions with KeepSameDay, where the
// first row of the first day is the first purchase.
func TestSummarizeSameDay(t *testing.T) {
	d0 := day("2024-01-01")
	tr := Transactions{
		Customer: []string{"A", "A", "A", "A", "A", "B", "B"},
		Day:      []int64{d0, d0, d0 + 7, d0 + 7, d0 + 21, d0 + 14, d0 + 14},
		Amount:   []float64{10, 2, 5, 7, 30, 4, 6},
	}
	tests := []struct {
		name                  string
		keep                  bool
		freq, rec, T, mon, hf []float64
	}{
		// A: days d0 (12), d0+7 (12), d0+21 (30) in calibration → 2 repeat days worth 12 and 30
		{"merged", false, []float64{2, 0}, []float64{3, 0}, []float64{4, 2}, []float64{21, 0}, nil},
		// A: rows 10 | 2, 5, 7, 30 → 4 repeat transactions; B: 4 | 6
		{"kept", true, []float64{4, 1}, []float64{3, 0}, []float64{4, 2}, []float64{11, 6}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Summarize(tr, SummaryConfig{CalibrationEnd: d0 + 28, UnitDays: 7, KeepSameDay: tc.keep})
			if err != nil {
				t.Fatal(err)
			}
			for i := range s.Customer {
				got := []float64{s.Frequency[i], s.Recency[i], s.T[i], s.Monetary[i], s.Total[i]}
				want := []float64{tc.freq[i], tc.rec[i], tc.T[i], tc.mon[i], []float64{54, 10}[i]}
				for j := range got {
					if math.Abs(got[j]-want[j]) > 1e-12 {
						t.Errorf("customer %s: frequency, recency, T, monetary, total = %v, want %v", s.Customer[i], got, want)
						break
					}
				}
			}
		})
	}
	// holdout rows count the same way; B's first purchase is after the
	// calibration end, so B is not in the summary
	for _, tc := range []struct {
		keep       bool
		freq, hold float64
	}{{false, 1, 1}, {true, 3, 1}} {
		s, err := Summarize(tr, SummaryConfig{CalibrationEnd: d0 + 10, ObservationEnd: d0 + 28, UnitDays: 7, KeepSameDay: tc.keep})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Customer) != 1 || s.Frequency[0] != tc.freq || s.FrequencyHoldout[0] != tc.hold {
			t.Errorf("keep=%v: customers %v, frequency %v, holdout %v; want [A], %v, %v", tc.keep, s.Customer, s.Frequency, s.FrequencyHoldout, tc.freq, tc.hold)
		}
	}
}
