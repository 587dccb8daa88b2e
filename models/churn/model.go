// Package churn owns retain's churn classifiers: L2-regularised logistic
// regression and histogram gradient-boosted trees behind one small interface,
// their calibration (isotonic, Platt), per-customer explanations (exact
// TreeSHAP for trees, coefficient × (x − mean) for the linear model) and the
// versioned model artifacts.
//
// Data is column-major: X[j][i] is feature j of row i, NaN marks a missing
// value. Fitting returns an immutable fitted model, safe for concurrent use.
package churn

// Dataset is a training or scoring table in column-major form.
type Dataset struct {
	X           [][]float64 // X[j][i]: feature j of row i; NaN = missing
	Names       []string    // feature names, len(X)
	Categorical []bool      // per feature: values are category codes 0..k-1
	Y           []float64   // labels 0/1 (nil when scoring)
	W           []float64   // optional row weights (nil = all 1)
	// Aux marks rows that only train (nil = none), e.g. earlier cutoffs
	// stacked under the latest one: early stopping and calibration are
	// measured on the other rows, which look like the rows the model will
	// score. (Without this the earlier cutoffs, most of the rows, chose
	// the number of trees: on Online Retail that cost 0.02 AUC.)
	Aux []bool
}

// mainRows returns the rows that are not auxiliary, or nil (every row)
// when none are or when fewer than 20 rows or one class would remain.
func (d *Dataset) mainRows() []int {
	if d.Aux == nil {
		return nil
	}
	var rows []int
	var pos int
	for i, a := range d.Aux {
		if !a {
			rows = append(rows, i)
			if d.Y != nil && d.Y[i] > 0.5 {
				pos++
			}
		}
	}
	if len(rows) == d.Rows() || len(rows) < 20 || d.Y != nil && (pos == 0 || pos == len(rows)) {
		return nil
	}
	return rows
}

// Rows is the number of rows.
func (d *Dataset) Rows() int {
	if len(d.X) > 0 {
		return len(d.X[0])
	}
	return len(d.Y)
}

// Model is a fitted churn classifier.
type Model interface {
	// Kind names the model family ("gbdt", "logreg", …).
	Kind() string
	// Features are the feature names the model expects, in order.
	Features() []string
	// PredictProba writes P(churn) of every row of X into dst (len = rows).
	PredictProba(X [][]float64, dst []float64)
	// Explain writes the contribution of each feature to row i's log-odds
	// into dst (len = len(Features())) and returns the base log-odds: base +
	// sum(dst) is the row's raw (uncalibrated) log-odds.
	Explain(X [][]float64, row int, dst []float64) (base float64)
}
