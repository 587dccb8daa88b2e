package pipeline

import (
	"context"
	"math"
	"slices"

	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/models/clv"
)

// The churn model's CLV features. They need a population fit (BG/NBD on
// every customer's repeat purchases, recency and age), so the features
// engine, which sees one customer at a time, cannot build them: training
// fits BG/NBD on its training rows, adds the two columns to the frame and
// keeps the parameters in the model artifact; scoring adds the same columns
// with the artifact's parameters. Only records before each row's cutoff
// feed clv_frequency, clv_recency_weeks and clv_T_weeks, and the fit uses no
// label, so the columns are as point-in-time as their inputs.
const (
	featPAlive   = "clv_p_alive"
	featExpected = "clv_expected_purchases"
)

// clvFeatureDefs describe the derived columns in the frame's registry.
var clvFeatureDefs = [...]features.Def{
	{Name: featPAlive, Meaning: "BG/NBD probability that the customer is still active at the cutoff (population fitted on the training customers; null without orders)",
		Window: "lifetime", Source: "orders", Kind: features.Numeric},
	{Name: featExpected, Meaning: "BG/NBD expected orders (distinct order days) over the churn horizon after the cutoff (null without orders)",
		Window: "lifetime", Source: "orders", Kind: features.Numeric},
}

// clvInputs returns the BG/NBD summary (frequency, recency, T in weeks) of
// the frame's rows that have one, with their row indexes; ok is false when
// the frame has no clv_* columns (no orders table).
func clvInputs(f *features.Frame, rows []int) (x, tx, T []float64, at []int, ok bool) {
	freq, rec, age := f.Column("clv_frequency"), f.Column("clv_recency_weeks"), f.Column("clv_T_weeks")
	if freq == nil || rec == nil || age == nil {
		return nil, nil, nil, nil, false
	}
	add := func(i int) {
		if math.IsNaN(freq[i]) || math.IsNaN(rec[i]) || math.IsNaN(age[i]) || age[i] < 0 {
			return
		}
		r := math.Min(rec[i], age[i])
		if freq[i] == 0 {
			r = 0
		}
		x, tx, T, at = append(x, freq[i]), append(tx, r), append(T, age[i]), append(at, i)
	}
	if rows == nil {
		for i := range f.IDs {
			add(i)
		}
	} else {
		for _, i := range rows {
			add(i)
		}
	}
	return x, tx, T, at, true
}

// fitCLVFeatures fits the BG/NBD model of the CLV features on the frame's
// rows (all rows when rows is nil). It returns nil, with the reason, when
// the frame has no order summary or the data cannot identify the model
// (e.g. nobody repeats): the churn model then trains without the columns.
func fitCLVFeatures(ctx context.Context, f *features.Frame, rows []int) (*clv.BGNBD, error) {
	x, tx, T, _, ok := clvInputs(f, rows)
	if !ok {
		return nil, nil
	}
	// A fit that stopped before converging still returns its last
	// estimate, a valid parameter set; the features are then less sharp.
	m, _, err := clv.FitBGNBD(ctx, x, tx, T, nil, &clv.Options{Penalizer: 0.001, SkipStdErr: true})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// withCLVFeatures returns f with clv_p_alive and clv_expected_purchases
// (over the frame's churn horizon) computed with m for every row; rows
// without an order summary get null. f itself is not changed (the result
// shares its other columns); existing columns of those names are replaced.
// With m nil, or without an order summary, it returns f.
func withCLVFeatures(f *features.Frame, m *clv.BGNBD) *features.Frame {
	if m == nil {
		return f
	}
	x, tx, T, at, ok := clvInputs(f, nil)
	if !ok {
		return f
	}
	out := *f
	out.Names, out.Registry, out.X = slices.Clone(f.Names), slices.Clone(f.Registry), slices.Clone(f.X)
	f = &out
	n := f.Rows()
	pa, ex := make([]float64, n), make([]float64, n)
	for i := range pa {
		pa[i], ex[i] = math.NaN(), math.NaN()
	}
	h := f.Horizon.Hours() / 24 / 7
	if h <= 0 {
		h = 90.0 / 7
	}
	for k, i := range at {
		pa[i] = m.PAlive(x[k], tx[k], T[k])
		ex[i] = m.ExpectedPurchases(h, x[k], tx[k], T[k])
	}
	for k, col := range [][]float64{pa, ex} {
		d := clvFeatureDefs[k]
		if j := slices.Index(f.Names, d.Name); j >= 0 {
			f.X[j], f.Registry[j] = col, d
			continue
		}
		f.Names = append(f.Names, d.Name)
		f.Registry = append(f.Registry, d)
		f.X = append(f.X, col)
	}
	return f
}

// fitCLVFeaturesLogged is fitCLVFeatures for the train stage: a failed fit
// is logged and the model trains without the two columns.
func fitCLVFeaturesLogged(ctx context.Context, f *features.Frame, rows []int, o *TrainOptions) *clv.BGNBD {
	m, err := fitCLVFeatures(ctx, f, rows)
	if err != nil {
		o.logf("train: no CLV features (%s and %s): %v", featPAlive, featExpected, err)
		return nil
	}
	return m
}
