package clv

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Transactions is a transaction log as columns: customer id, day of the
// transaction (days since 1970-01-01 UTC) and amount (nil when unknown).
type Transactions struct {
	Customer []string
	Day      []int64
	Amount   []float64
}

// SummaryConfig fixes the calibration/holdout split and the time unit.
type SummaryConfig struct {
	CalibrationEnd int64   // last day of the calibration period (inclusive)
	ObservationEnd int64   // last day of the holdout (inclusive); ≤ CalibrationEnd means no holdout
	UnitDays       float64 // days per time unit: 1 (day), 7 (week), 365.25/12 (month)
	// KeepSameDay counts every row as its own transaction instead of merging
	// a customer's purchases on the same day into one (lifetimes' convention,
	// the default). Use it when each row is one transaction of the model —
	// e.g. the orders of `retain generate`, whose BG/NBD and Gamma-Gamma
	// truth is per order: merging them sums several Gamma(p, ν) order values
	// into one "transaction" and drops purchases from the count. Same-day
	// rows keep their order in the input.
	KeepSameDay bool
}

// Summary is the per-customer RFM summary of a transaction log, customers
// sorted by id. Only customers whose first purchase is on or before the
// calibration end are included. Purchases on the same day are merged into one
// (their amounts added) unless SummaryConfig.KeepSameDay is set; then
// "purchase days" below read "transactions".
type Summary struct {
	Customer  []string
	Frequency []float64 // repeat purchase days in calibration
	Recency   []float64 // first to last calibration purchase, in units
	T         []float64 // first purchase to calibration end, in units
	Monetary  []float64 // mean value of the repeat purchase days (0 if none)
	Total     []float64 // value of all calibration purchases (historic CLV)
	FirstDay  []int64
	// holdout (nil without one)
	FrequencyHoldout []float64 // purchase days after the calibration end
	MonetaryHoldout  []float64 // their mean value (0 if none)
	DurationHoldout  float64   // holdout length in units
}

// Summarize computes the RFM summary (the same definitions as lifetimes'
// summary_data_from_transaction_data with freq="D" and freq_multiplier =
// UnitDays).
func Summarize(tr Transactions, c SummaryConfig) (*Summary, error) {
	n := len(tr.Customer)
	if len(tr.Day) != n || (tr.Amount != nil && len(tr.Amount) != n) {
		return nil, fmt.Errorf("summarize: customer, day and amount columns have different lengths %d, %d, %d", n, len(tr.Day), len(tr.Amount))
	}
	if !(c.UnitDays > 0) {
		return nil, fmt.Errorf("summarize: unit of %v days is not positive", c.UnitDays)
	}
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		if r := cmp.Compare(tr.Customer[a], tr.Customer[b]); r != 0 {
			return r
		}
		if r := cmp.Compare(tr.Day[a], tr.Day[b]); r != 0 {
			return r
		}
		return cmp.Compare(a, b) // same day: input order (deterministic first purchase and sums)
	})
	hold := c.ObservationEnd > c.CalibrationEnd
	s := &Summary{}
	if hold {
		s.DurationHoldout = float64(c.ObservationEnd-c.CalibrationEnd) / c.UnitDays
	}
	amt := func(i int32) float64 {
		if tr.Amount == nil {
			return 0
		}
		return tr.Amount[i]
	}
	for lo := 0; lo < n; {
		id := tr.Customer[idx[lo]]
		hi := lo
		for hi < n && tr.Customer[idx[hi]] == id {
			hi++
		}
		first := tr.Day[idx[lo]]
		if first <= c.CalibrationEnd {
			var days, hdays int
			var last int64
			var rep, tot, hsum, daySum float64
			cur := int64(math.MinInt64)
			flush := func() {
				if cur == math.MinInt64 {
					return
				}
				switch {
				case cur <= c.CalibrationEnd:
					days++
					tot += daySum
					if days > 1 {
						rep += daySum
					}
					last = cur
				case !hold || cur <= c.ObservationEnd:
					if hold {
						hdays++
						hsum += daySum
					}
				}
			}
			for k := lo; k < hi; k++ {
				i := idx[k]
				if tr.Day[i] != cur || c.KeepSameDay {
					flush()
					cur, daySum = tr.Day[i], 0
				}
				daySum += amt(i)
			}
			flush()
			x := float64(days - 1)
			s.Customer = append(s.Customer, id)
			s.Frequency = append(s.Frequency, x)
			s.Recency = append(s.Recency, float64(last-first)/c.UnitDays)
			s.T = append(s.T, float64(c.CalibrationEnd-first)/c.UnitDays)
			m := 0.0
			if x > 0 {
				m = rep / x
			}
			s.Monetary = append(s.Monetary, m)
			s.Total = append(s.Total, tot)
			s.FirstDay = append(s.FirstDay, first)
			if hold {
				hm := 0.0
				if hdays > 0 {
					hm = hsum / float64(hdays)
				}
				s.FrequencyHoldout = append(s.FrequencyHoldout, float64(hdays))
				s.MonetaryHoldout = append(s.MonetaryHoldout, hm)
			}
		}
		lo = hi
	}
	return s, nil
}
