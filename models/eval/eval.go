// Package eval owns retain's classifier evaluation: ROC-AUC, PR-AUC (average
// precision), log loss, Brier score, expected calibration error, lift and
// capture at the top of the ranking, "lift quality", and the curves behind
// them (ROC, precision-recall, gains, calibration bins) as plain structs that
// reports draw.
//
// Every function takes labels y (0/1) and predicted probabilities p of the
// same length; NaN predictions are a programmer error. Definitions:
//
//   - AUC is the probability that a random positive scores above a random
//     negative, ties counting one half (Mann-Whitney with mid-ranks).
//   - PR-AUC is average precision: Σ (R_k − R_{k−1}) · P_k over the distinct
//     thresholds k taken from the highest score down (scikit-learn's
//     average_precision_score).
//   - Log loss clips p to [1e-15, 1 − 1e-15].
//   - ECE uses 10 equal-width bins over [0, 1] (the last bin includes 1):
//     Σ_b (n_b / n) · |mean p_b − mean y_b|.
//   - Lift at q: the positive rate among the top ⌈q·n⌉ rows by score
//     (ties broken by row order, so results are deterministic) divided by the
//     overall positive rate; capture at q is the share of all positives found
//     there.
//   - Lift quality: the mean lift over audience sizes 1%, 2%, …, 100%; a random
//     ranking scores 1, a perfect one more (up to 1/base rate at small sizes).
//
// Package eval imports only the standard library.
package eval

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
)

// Report gathers the headline metrics of one evaluation.
type Report struct {
	N           int     `json:"n"`
	Positives   int     `json:"positives"`
	AUC         float64 `json:"auc"`
	PRAUC       float64 `json:"pr_auc"`
	LogLoss     float64 `json:"logloss"`
	Brier       float64 `json:"brier"`
	ECE         float64 `json:"ece"`
	LiftAt5     float64 `json:"lift_at_5"`
	LiftAt10    float64 `json:"lift_at_10"`
	LiftAt20    float64 `json:"lift_at_20"`
	CaptureAt5  float64 `json:"capture_at_5"`
	CaptureAt10 float64 `json:"capture_at_10"`
	CaptureAt20 float64 `json:"capture_at_20"`
	LiftQuality float64 `json:"lift_quality"`
}

// Evaluate computes every headline metric of p against y.
func Evaluate(y, p []float64) Report {
	r := Report{N: len(y), Positives: countPos(y)}
	order := rankDesc(p)
	r.AUC = aucOrdered(y, p, order)
	r.PRAUC = apOrdered(y, p, order)
	r.LogLoss = LogLoss(y, p)
	r.Brier = Brier(y, p)
	r.ECE = ECE(y, p, 10)
	r.LiftAt5, r.CaptureAt5 = liftOrdered(y, order, 0.05)
	r.LiftAt10, r.CaptureAt10 = liftOrdered(y, order, 0.10)
	r.LiftAt20, r.CaptureAt20 = liftOrdered(y, order, 0.20)
	r.LiftQuality = liftQualityOrdered(y, order)
	return r
}

// Mean averages reports field by field (N and Positives are summed), e.g. the
// folds of a cross-validation.
func Mean(rs []Report) Report {
	var m Report
	if len(rs) == 0 {
		return m
	}
	k := float64(len(rs))
	for _, r := range rs {
		m.N += r.N
		m.Positives += r.Positives
		m.AUC += r.AUC / k
		m.PRAUC += r.PRAUC / k
		m.LogLoss += r.LogLoss / k
		m.Brier += r.Brier / k
		m.ECE += r.ECE / k
		m.LiftAt5 += r.LiftAt5 / k
		m.LiftAt10 += r.LiftAt10 / k
		m.LiftAt20 += r.LiftAt20 / k
		m.CaptureAt5 += r.CaptureAt5 / k
		m.CaptureAt10 += r.CaptureAt10 / k
		m.CaptureAt20 += r.CaptureAt20 / k
		m.LiftQuality += r.LiftQuality / k
	}
	return m
}

func countPos(y []float64) int {
	n := 0
	for _, v := range y {
		if v > 0.5 {
			n++
		}
	}
	return n
}

// rankDesc returns row indices sorted by p descending, ties by row index.
func rankDesc(p []float64) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return a - b
	})
	return idx
}

// AUC is the ROC area, ties counting one half; NaN when y has one class.
func AUC(y, p []float64) float64 { return aucOrdered(y, p, rankDesc(p)) }

func aucOrdered(y, p []float64, order []int) float64 {
	pos := float64(countPos(y))
	neg := float64(len(y)) - pos
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	// Walk from the top; for each tie group, positives in it beat all
	// negatives below it and half the negatives inside it.
	var negBelowSum, negSeen float64
	for i := 0; i < len(order); {
		j := i
		var gp, gn float64
		for j < len(order) && p[order[j]] == p[order[i]] {
			if y[order[j]] > 0.5 {
				gp++
			} else {
				gn++
			}
			j++
		}
		negSeen += gn
		negBelowSum += gp * ((neg - negSeen) + gn/2)
		i = j
	}
	return negBelowSum / (pos * neg)
}

// AveragePrecision is the PR-AUC as average precision; NaN without positives.
func AveragePrecision(y, p []float64) float64 { return apOrdered(y, p, rankDesc(p)) }

func apOrdered(y, p []float64, order []int) float64 {
	pos := float64(countPos(y))
	if pos == 0 {
		return math.NaN()
	}
	var tp, fp, ap, prevRecall float64
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && p[order[j]] == p[order[i]] {
			if y[order[j]] > 0.5 {
				tp++
			} else {
				fp++
			}
			j++
		}
		recall := tp / pos
		ap += (recall - prevRecall) * tp / (tp + fp)
		prevRecall = recall
		i = j
	}
	return ap
}

// LogLoss is the mean negative log-likelihood, p clipped to [1e-15, 1-1e-15].
func LogLoss(y, p []float64) float64 {
	if len(y) == 0 {
		return math.NaN()
	}
	const eps = 1e-15
	var s float64
	for i, v := range p {
		v = math.Min(math.Max(v, eps), 1-eps)
		if y[i] > 0.5 {
			s -= math.Log(v)
		} else {
			s -= math.Log1p(-v)
		}
	}
	return s / float64(len(y))
}

// Brier is the mean squared difference between p and y.
func Brier(y, p []float64) float64 {
	if len(y) == 0 {
		return math.NaN()
	}
	var s float64
	for i, v := range p {
		d := v - y[i]
		s += d * d
	}
	return s / float64(len(y))
}

// CalibrationBin is one equal-width bin of a reliability diagram.
type CalibrationBin struct {
	Lo, Hi    float64 // bin edges
	MeanP     float64 // mean predicted probability (NaN when empty)
	Observed  float64 // observed positive rate (NaN when empty)
	Count     int
	Positives int
}

// CalibrationBins splits [0,1] into `bins` equal-width bins (the last
// includes 1) and reports predicted versus observed rates in each.
func CalibrationBins(y, p []float64, bins int) []CalibrationBin {
	if bins < 1 {
		bins = 10
	}
	out := make([]CalibrationBin, bins)
	sumP := make([]float64, bins)
	for b := range out {
		out[b].Lo = float64(b) / float64(bins)
		out[b].Hi = float64(b+1) / float64(bins)
	}
	for i, v := range p {
		b := int(v * float64(bins))
		if b >= bins {
			b = bins - 1
		}
		if b < 0 {
			b = 0
		}
		out[b].Count++
		sumP[b] += v
		if y[i] > 0.5 {
			out[b].Positives++
		}
	}
	for b := range out {
		if out[b].Count == 0 {
			out[b].MeanP, out[b].Observed = math.NaN(), math.NaN()
			continue
		}
		out[b].MeanP = sumP[b] / float64(out[b].Count)
		out[b].Observed = float64(out[b].Positives) / float64(out[b].Count)
	}
	return out
}

// ECE is the expected calibration error over `bins` equal-width bins.
func ECE(y, p []float64, bins int) float64 {
	if len(y) == 0 {
		return math.NaN()
	}
	var e float64
	for _, b := range CalibrationBins(y, p, bins) {
		if b.Count > 0 {
			e += float64(b.Count) * math.Abs(b.MeanP-b.Observed)
		}
	}
	return e / float64(len(y))
}

// LiftAt returns the lift and capture of the top q share (0 < q ≤ 1) of rows
// ranked by p.
func LiftAt(y, p []float64, q float64) (lift, capture float64) {
	return liftOrdered(y, rankDesc(p), q)
}

func liftOrdered(y []float64, order []int, q float64) (lift, capture float64) {
	n := len(order)
	pos := float64(countPos(y))
	if n == 0 || pos == 0 {
		return math.NaN(), math.NaN()
	}
	k := int(math.Ceil(q*float64(n) - 1e-9))
	k = max(1, min(k, n))
	var tp float64
	for _, i := range order[:k] {
		if y[i] > 0.5 {
			tp++
		}
	}
	capture = tp / pos
	lift = (tp / float64(k)) / (pos / float64(n))
	return lift, capture
}

// LiftQuality is the mean lift over audience sizes 1%, 2%, …, 100%.
func LiftQuality(y, p []float64) float64 { return liftQualityOrdered(y, rankDesc(p)) }

func liftQualityOrdered(y []float64, order []int) float64 {
	n := len(order)
	pos := float64(countPos(y))
	if n == 0 || pos == 0 {
		return math.NaN()
	}
	cum := make([]float64, n+1)
	for i, r := range order {
		cum[i+1] = cum[i]
		if y[r] > 0.5 {
			cum[i+1]++
		}
	}
	var s float64
	for pct := 1; pct <= 100; pct++ {
		k := int(math.Ceil(float64(pct)*float64(n)/100 - 1e-9))
		k = max(1, min(k, n))
		s += (cum[k] / float64(k)) / (pos / float64(n))
	}
	return s / 100
}

// ROCPoint is one threshold of the ROC curve.
type ROCPoint struct{ Threshold, FPR, TPR float64 }

// PRPoint is one threshold of the precision-recall curve.
type PRPoint struct{ Threshold, Recall, Precision float64 }

// GainsPoint is one audience size of the cumulative gains curve.
type GainsPoint struct {
	Share   float64 // share of customers targeted (top of the ranking)
	Capture float64 // share of all positives among them
	Lift    float64 // their positive rate over the base rate
}

// Curves are the plotted curves of an evaluation.
type Curves struct {
	ROC         []ROCPoint       `json:"roc"`
	PR          []PRPoint        `json:"pr"`
	Gains       []GainsPoint     `json:"gains"`
	Calibration []CalibrationBin `json:"calibration"`
}

// ComputeCurves builds the ROC and PR curves (one point per distinct score,
// starting at the origin), the gains curve at every 1% and 10 calibration bins.
func ComputeCurves(y, p []float64) Curves {
	var c Curves
	order := rankDesc(p)
	pos := float64(countPos(y))
	neg := float64(len(y)) - pos
	c.ROC = append(c.ROC, ROCPoint{Threshold: math.Inf(1)})
	var tp, fp float64
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && p[order[j]] == p[order[i]] {
			if y[order[j]] > 0.5 {
				tp++
			} else {
				fp++
			}
			j++
		}
		t := p[order[i]]
		c.ROC = append(c.ROC, ROCPoint{Threshold: t, FPR: safeDiv(fp, neg), TPR: safeDiv(tp, pos)})
		c.PR = append(c.PR, PRPoint{Threshold: t, Recall: safeDiv(tp, pos), Precision: tp / (tp + fp)})
		i = j
	}
	n := len(order)
	if n > 0 && pos > 0 {
		cum := 0.0
		next := 1
		for i, r := range order {
			if y[r] > 0.5 {
				cum++
			}
			for next <= 100 && i+1 == max(1, int(math.Ceil(float64(next)*float64(n)/100-1e-9))) {
				k := float64(i + 1)
				c.Gains = append(c.Gains, GainsPoint{Share: float64(next) / 100, Capture: cum / pos, Lift: (cum / k) / (pos / float64(n))})
				next++
			}
		}
	}
	c.Calibration = CalibrationBins(y, p, 10)
	return c
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// MarshalJSON writes undefined metrics (NaN, e.g. AUC with one class) as
// null, which encoding/json cannot do for float64.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	b, err := json.Marshal(plain(r))
	if err == nil {
		return b, nil
	}
	m := map[string]any{}
	v := reflect.ValueOf(r)
	for i := 0; i < v.NumField(); i++ {
		tag := strings.Split(v.Type().Field(i).Tag.Get("json"), ",")[0]
		x := v.Field(i).Interface()
		if f, ok := x.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			x = nil
		}
		m[tag] = x
	}
	return json.Marshal(m)
}
