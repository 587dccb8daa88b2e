package clv

import (
	"fmt"
	"math"
)

// PurchaseModel is a fitted continuous-time model of repeat purchases
// (BGNBD, MBGNBD, ParetoNBD). Times are in the unit of the fitted data.
type PurchaseModel interface {
	// PAlive returns P(alive at T | x, t_x, T).
	PAlive(x, tx, T float64) float64
	// ExpectedPurchases returns E[X(t) | x, t_x, T], purchases in the next t.
	ExpectedPurchases(t, x, tx, T float64) float64
	// NextPurchase returns the median time after T to the next purchase of a
	// customer who is alive at T. It must depend on (x, T) only.
	NextPurchase(x, tx, T float64) float64
	// numer is the t_x-free factor: ExpectedPurchases = numer · PAlive.
	numer(t, x, T float64) float64
}

// CLVConfig fixes the discounted-CLV convention.
//
// Discrete (the default, as lifetimes' customer_lifetime_value): the horizon
// is Months months; month i's expected purchases E[X(i·u)] − E[X((i−1)·u)]
// (u = UnitsPerMonth) are valued at the expected spend and divided by
// (1+DiscountRate)^i, i.e. discounted at the END of each month.
//
// Continuous: the same cash flow discounted continuously at the equivalent
// force of interest ln(1+DiscountRate) per month: ∫₀^H e^(−δt) dE[X(t)],
// computed with a midpoint rule on a quarter-month grid.
type CLVConfig struct {
	Months        int     // horizon in months; default 12
	UnitsPerMonth float64 // data time units per month: 30 (days), 4.345 (weeks), 1 (months); required
	DiscountRate  float64 // monthly discount rate, e.g. 0.01; 0 = undiscounted
	Continuous    bool
}

// Validate checks the configuration; messages name the clv.* config key.
func (c CLVConfig) Validate() error {
	switch {
	case c.Months < 0:
		return fmt.Errorf("clv.months: %d is negative", c.Months)
	case !(c.UnitsPerMonth > 0) || math.IsInf(c.UnitsPerMonth, 0):
		return fmt.Errorf("clv.units_per_month: %v is not a positive number", c.UnitsPerMonth)
	case !(c.DiscountRate >= 0) || c.DiscountRate >= 1:
		return fmt.Errorf("clv.discount_rate: %v is not a monthly rate in [0, 1)", c.DiscountRate)
	}
	return nil
}

func (c CLVConfig) months() int {
	if c.Months == 0 {
		return 12
	}
	return c.Months
}

// clvFactor returns Σ discounted increments of numer over the horizon for one
// (x, T): CLV = spend · P(alive) · clvFactor.
func clvFactor(m PurchaseModel, c CLVConfig, x, T float64) float64 {
	u := c.UnitsPerMonth
	M := c.months()
	var s, prev float64
	if !c.Continuous {
		for i := 1; i <= M; i++ {
			cur := m.numer(float64(i)*u, x, T)
			s += (cur - prev) / math.Pow(1+c.DiscountRate, float64(i))
			prev = cur
		}
		return s
	}
	const sub = 4
	delta := math.Log1p(c.DiscountRate) / u
	h := u / sub
	for j := 1; j <= M*sub; j++ {
		t := float64(j) * h
		cur := m.numer(t, x, T)
		s += (cur - prev) * math.Exp(-delta*(t-h/2))
		prev = cur
	}
	return s
}

// Predictions holds per-customer outputs. A nil slice is not computed; a
// non-nil one must have one element per customer.
type Predictions struct {
	PAlive            []float64 // P(alive at T)
	ExpectedPurchases []float64 // E[X(horizon) | x, t_x, T]
	NextPurchase      []float64 // median time after T to the next purchase if alive
	ExpectedSpend     []float64 // Gamma-Gamma E[Z | x, zbar]
	CLV               []float64 // discounted CLV (CLVConfig)
}

// Predict fills dst for customers (freq, rec, T, monetary): monetary (the mean
// repeat-purchase value) and gg are needed only for ExpectedSpend and CLV.
// horizon is in data time units. Work is split across workers goroutines;
// terms that depend only on (x, T) are computed once per distinct pair.
func Predict(dst *Predictions, m PurchaseModel, gg *GammaGamma, freq, rec, T, monetary []float64, horizon float64, c CLVConfig, workers int) error {
	n := len(freq)
	if len(rec) != n || len(T) != n {
		return inputErrorf(0, "frequency, recency and T have different lengths %d, %d, %d", n, len(rec), len(T))
	}
	for name, s := range map[string][]float64{"p_alive": dst.PAlive, "expected_purchases": dst.ExpectedPurchases,
		"next_purchase": dst.NextPurchase, "expected_spend": dst.ExpectedSpend, "clv": dst.CLV} {
		if s != nil && len(s) != n {
			return fmt.Errorf("predict: output %s has %d elements for %d customers", name, len(s), n)
		}
	}
	needSpend := dst.ExpectedSpend != nil || dst.CLV != nil
	if needSpend {
		if gg == nil || len(monetary) != n {
			return fmt.Errorf("predict: expected spend and CLV need a Gamma-Gamma model and one monetary value per customer")
		}
	}
	if dst.CLV != nil {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	if !(horizon >= 0) {
		return fmt.Errorf("predict: horizon %v is not a non-negative number", horizon)
	}
	if workers <= 0 {
		workers = 1
	}
	errs := make([]error, workers)
	per := (n + workers - 1) / workers
	done := make(chan int, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			defer func() { done <- w }()
			lo, hi := w*per, min((w+1)*per, n)
			type vals struct{ h, f, next float64 }
			tab := newRowTable(2, 1024)
			var cache []vals
			for i := lo; i < hi; i++ {
				x, tx, t := freq[i], rec[i], T[i]
				if err := validateRFM(i, x, tx, t); err != nil {
					errs[w] = err
					return
				}
				j, added := tab.find(x, t, 0)
				if added {
					var v vals
					if dst.ExpectedPurchases != nil {
						v.h = m.numer(horizon, x, t)
					}
					if dst.CLV != nil {
						v.f = clvFactor(m, c, x, t)
					}
					v.next = m.NextPurchase(x, tx, t) // depends on (x, T) only
					cache = append(cache, v)
				}
				v := cache[j]
				pa := m.PAlive(x, tx, t)
				if dst.PAlive != nil {
					dst.PAlive[i] = pa
				}
				if dst.ExpectedPurchases != nil {
					dst.ExpectedPurchases[i] = v.h * pa
				}
				if dst.NextPurchase != nil {
					dst.NextPurchase[i] = v.next
				}
				if needSpend {
					z := monetary[i]
					if !(z >= 0) || math.IsInf(z, 0) {
						errs[w] = inputErrorf(i+1, "monetary value %v is not a finite non-negative number", z)
						return
					}
					if x == 0 {
						z = 0
					}
					s := gg.ExpectedSpend(x, z)
					if dst.ExpectedSpend != nil {
						dst.ExpectedSpend[i] = s
					}
					if dst.CLV != nil {
						dst.CLV[i] = s * pa * v.f
					}
				}
			}
		}(w)
	}
	for w := 0; w < workers; w++ {
		<-done
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// CustomerEquity returns Σ clv with Kahan-Neumaier compensation.
func CustomerEquity(clv []float64) float64 {
	var s, comp float64
	for _, v := range clv {
		t := s + v
		if math.Abs(s) >= math.Abs(v) {
			comp += (s - t) + v
		} else {
			comp += (v - t) + s
		}
		s = t
	}
	return s + comp
}

// HistoricCLVTo writes each customer's realised value so far: the repeat
// purchases' total (frequency · mean repeat value), to dst.
func HistoricCLVTo(dst, freq, monetary []float64) {
	for i := range dst {
		dst[i] = freq[i] * monetary[i]
	}
}
