package reports

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/retainlab/retain/models/eval"
)

// FeatureImportance is one feature's global importance.
type FeatureImportance struct {
	Name        string
	Gain        float64 // total split gain (trees) or |coefficient| (linear)
	MeanAbsSHAP float64 // mean |contribution| over the explained rows
}

// SHAPSample holds per-row contributions and feature values of a sample of
// rows for the SHAP summary plot: Contrib[j][i] and Value[j][i] for feature j.
type SHAPSample struct {
	Names   []string
	Contrib [][]float64
	Value   [][]float64
}

// BacktestPoint is the evaluation of a model at one past cutoff.
type BacktestPoint struct {
	Cutoff time.Time
	Report eval.Report
}

// ModelInput is what the model report shows.
type ModelInput struct {
	Model     string // e.g. "gbdt (isotonic)"
	Version   string
	AsOf      time.Time
	RunID     string
	Y, P      []float64 // held-out labels and calibrated probabilities (out-of-fold with CV)
	HighCut   float64   // tier cut-offs (default 0.66 and 0.33)
	MediumCut float64
	// Importance, SHAP, Champion and Backtests are optional.
	Importance []FeatureImportance
	SHAP       *SHAPSample
	Champion   *eval.Report
	ChampionID string
	Backtests  []BacktestPoint
}

// Model builds the model report: curves, lift, calibration, score
// distribution by tier, importance, SHAP summary, champion comparison and
// backtests over time.
func Model(in ModelInput) *Report {
	if in.HighCut == 0 {
		in.HighCut = 0.66
	}
	if in.MediumCut == 0 {
		in.MediumCut = 0.33
	}
	rep := eval.Evaluate(in.Y, in.P)
	cur := eval.ComputeCurves(in.Y, in.P)
	r := &Report{Kind: "model", Title: "Model report: " + in.Model, Subtitle: subtitle(in.AsOf, in.RunID)}
	if in.Version != "" {
		r.Subtitle = strings.TrimPrefix(r.Subtitle+" · model "+in.Version, " · ")
	}
	r.Headline = []Metric{
		{Label: "ROC-AUC", Value: f3(rep.AUC)},
		{Label: "PR-AUC", Value: f3(rep.PRAUC), Note: "base rate " + pct(ratio(float64(rep.Positives), float64(rep.N)))},
		{Label: "log loss", Value: f3(rep.LogLoss)},
		{Label: "Brier", Value: f3(rep.Brier)},
		{Label: "ECE", Value: f3(rep.ECE), Note: "expected calibration error"},
		{Label: "lift at 10%", Value: f2(rep.LiftAt10) + "×", Note: "captures " + pct(rep.CaptureAt10)},
		{Label: "customers", Value: fmt.Sprint(rep.N), Note: fmt.Sprintf("%d churned", rep.Positives)},
	}

	// Discrimination.
	var fpr, tpr, thr []float64
	for _, p := range cur.ROC {
		fpr, tpr, thr = append(fpr, p.FPR), append(tpr, p.TPR), append(thr, p.Threshold)
	}
	fpr, tpr, thr = thin(1000, fpr, tpr, thr)
	roc := NewLineChart(fmt.Sprintf("ROC curve (AUC %.3f)", rep.AUC), "false positive rate", "true positive rate",
		Series{Name: "model", X: fpr, Y: tpr}, Series{Name: "random", X: []float64{0, 1}, Y: []float64{0, 1}, Dashed: true})
	roc.XMin, roc.XMax, roc.YMin, roc.YMax = 0, 1, 0, 1
	var rec, prec, pthr []float64
	for _, p := range cur.PR {
		rec, prec, pthr = append(rec, p.Recall), append(prec, p.Precision), append(pthr, p.Threshold)
	}
	rec, prec, pthr = thin(1000, rec, prec, pthr)
	base := ratio(float64(rep.Positives), float64(rep.N))
	pr := NewLineChart(fmt.Sprintf("Precision-recall (AP %.3f)", rep.PRAUC), "recall", "precision",
		Series{Name: "model", X: rec, Y: prec}, Series{Name: "base rate", X: []float64{0, 1}, Y: []float64{base, base}, Dashed: true})
	pr.XMin, pr.XMax, pr.YMin, pr.YMax = 0, 1, 0, 1
	r.Sections = append(r.Sections, Section{Title: "Discrimination",
		Text: "How well the score ranks churners above non-churners on held-out customers.",
		Figures: []Figure{
			{Name: "roc_curve", Chart: roc, Data: &Table{Columns: []Column{F("threshold", thr), F("fpr", fpr), F("tpr", tpr)}}},
			{Name: "pr_curve", Chart: pr, Data: &Table{Columns: []Column{F("threshold", pthr), F("recall", rec), F("precision", prec)}}},
		}})

	// Lift and gains.
	var share, capt, lift []float64
	for _, g := range cur.Gains {
		share, capt, lift = append(share, g.Share), append(capt, g.Capture), append(lift, g.Lift)
	}
	gains := NewLineChart("Cumulative gains", "share of customers targeted", "share of churners captured",
		Series{Name: "model", X: share, Y: capt}, Series{Name: "random", X: []float64{0, 1}, Y: []float64{0, 1}, Dashed: true})
	gains.XMin, gains.XMax, gains.YMin, gains.YMax = 0, 1, 0, 1
	liftc := NewLineChart("Lift", "share of customers targeted", "lift over random", Series{Name: "lift", X: share, Y: lift})
	r.Sections = append(r.Sections, Section{Title: "Lift and gains",
		Text: fmt.Sprintf("Contacting the top 5%%, 10%% and 20%% by score reaches %s, %s and %s of churners (lift %.2f×, %.2f×, %.2f×). Lift quality (mean lift across audience sizes): %.2f.",
			pct(rep.CaptureAt5), pct(rep.CaptureAt10), pct(rep.CaptureAt20), rep.LiftAt5, rep.LiftAt10, rep.LiftAt20, rep.LiftQuality),
		Figures: []Figure{{Name: "gains", Chart: gains, Data: &Table{Columns: []Column{F("share", share), F("capture", capt), F("lift", lift)}}}, {Name: "lift", Chart: liftc}}})

	// Calibration and score distribution.
	var mp, obs, cnt []float64
	for _, b := range cur.Calibration {
		mp, obs, cnt = append(mp, b.MeanP), append(obs, b.Observed), append(cnt, float64(b.Count))
	}
	cal := NewLineChart(fmt.Sprintf("Calibration (ECE %.3f)", rep.ECE), "mean predicted probability", "observed churn rate",
		Series{Name: "model", X: mp, Y: obs, Points: true}, Series{Name: "perfect", X: []float64{0, 1}, Y: []float64{0, 1}, Dashed: true})
	cal.XMin, cal.XMax, cal.YMin, cal.YMax = 0, 1, 0, 1
	tiers := []string{"low", "medium", "high"}
	tierCount := make([]float64, 3)
	tierChurn := make([]float64, 3)
	const nb = 20
	hist := make([][]float64, 3)
	for k := range hist {
		hist[k] = make([]float64, nb)
	}
	for i, p := range in.P {
		k := 0
		switch {
		case p >= in.HighCut:
			k = 2
		case p >= in.MediumCut:
			k = 1
		}
		tierCount[k]++
		tierChurn[k] += in.Y[i]
		b := int(p * nb)
		if b >= nb {
			b = nb - 1
		}
		if b < 0 {
			b = 0
		}
		hist[k][b]++
	}
	centres := make([]float64, nb)
	for b := range centres {
		centres[b] = (float64(b) + 0.5) / nb
	}
	var ss []Series
	dist := &Table{Name: "score_distribution", Columns: []Column{F("bin_centre", centres)}}
	for k, t := range tiers {
		ss = append(ss, Series{Name: t, X: centres, Y: hist[k]})
		dist.Columns = append(dist.Columns, F(t, hist[k]))
	}
	distc := NewLineChart("Score distribution by tier", "churn probability", "customers", ss...)
	tierRate := make([]float64, 3)
	for k := range tiers {
		tierRate[k] = ratio(tierChurn[k], tierCount[k])
	}
	r.Sections = append(r.Sections, Section{Title: "Calibration and tiers",
		Text: fmt.Sprintf("A calibrated 0.3 means 30%%. Tiers: high ≥ %.2f, medium ≥ %.2f.", in.HighCut, in.MediumCut),
		Figures: []Figure{{Name: "calibration", Chart: cal, Data: &Table{Columns: []Column{F("mean_predicted", mp), F("observed", obs), F("count", cnt)}}},
			{Name: "score_distribution", Chart: distc, Data: dist}},
		Tables: []*Table{{Name: "tiers", Title: "Tiers", Columns: []Column{S("tier", tiers), F("customers", tierCount), F("churn_rate", tierRate)}}}})

	// Importance and SHAP.
	if len(in.Importance) > 0 {
		imp := append([]FeatureImportance(nil), in.Importance...)
		sort.SliceStable(imp, func(i, j int) bool {
			if imp[i].MeanAbsSHAP != imp[j].MeanAbsSHAP {
				return imp[i].MeanAbsSHAP > imp[j].MeanAbsSHAP
			}
			return imp[i].Gain > imp[j].Gain
		})
		var names []string
		var gain, shap []float64
		var bars []Bar
		for i, f := range imp {
			names, gain, shap = append(names, f.Name), append(gain, f.Gain), append(shap, f.MeanAbsSHAP)
			if i < 20 {
				v := f.MeanAbsSHAP
				if v == 0 {
					v = f.Gain
				}
				bars = append(bars, Bar{Label: f.Name, Value: v})
			}
		}
		figs := []Figure{{Name: "feature_importance", Caption: "Top features by mean |SHAP| contribution (log-odds).", Chart: &BarChart{Title: "Global feature importance", Bars: bars, Horizontal: true},
			Data: &Table{Columns: []Column{S("feature", names), F("gain", gain), F("mean_abs_shap", shap)}}}}
		if in.SHAP != nil {
			figs = append(figs, shapFigure(in.SHAP, names))
		}
		r.Sections = append(r.Sections, Section{Title: "What drives the score", Figures: figs})
	}

	// Champion and backtests.
	if in.Champion != nil {
		c := *in.Champion
		metrics := []string{"ROC-AUC", "PR-AUC", "log loss", "Brier", "ECE", "lift at 10%"}
		this := []float64{rep.AUC, rep.PRAUC, rep.LogLoss, rep.Brier, rep.ECE, rep.LiftAt10}
		champ := []float64{c.AUC, c.PRAUC, c.LogLoss, c.Brier, c.ECE, c.LiftAt10}
		diff := make([]float64, len(this))
		for i := range this {
			diff[i] = this[i] - champ[i]
		}
		r.Sections = append(r.Sections, Section{Title: "Against the champion",
			Text:   "The current champion " + in.ChampionID + " on the same evaluation data.",
			Tables: []*Table{{Name: "champion_comparison", Columns: []Column{S("metric", metrics), {Name: "this_model", Floats: this, Format: "%.4f"}, {Name: "champion", Floats: champ, Format: "%.4f"}, {Name: "difference", Floats: diff, Format: "%+.4f"}}}}})
	}
	if len(in.Backtests) > 0 {
		var x, auc, ece, l10 []float64
		var labels []string
		for _, b := range in.Backtests {
			x = append(x, float64(b.Cutoff.Unix())/86400)
			labels = append(labels, b.Cutoff.UTC().Format("2006-01-02"))
			auc, ece, l10 = append(auc, b.Report.AUC), append(ece, b.Report.ECE), append(l10, b.Report.LiftAt10)
		}
		x0 := x[0]
		for i := range x {
			x[i] -= x0
		}
		ch := NewLineChart("Backtest AUC over time", "days since "+labels[0], "ROC-AUC", Series{Name: "AUC", X: x, Y: auc, Points: true})
		r.Sections = append(r.Sections, Section{Title: "Backtests over time",
			Text:    "Each point trains only on cutoffs whose horizon had ended before the evaluation date, then scores that date.",
			Figures: []Figure{{Name: "backtest_auc", Chart: ch, Data: &Table{Columns: []Column{S("cutoff", labels), F("auc", auc), F("ece", ece), F("lift_at_10", l10)}}}}})
	}
	return r
}

// shapFigure draws a SHAP summary: one row per top feature, each dot one
// customer at its contribution, coloured by the feature's value (blue low,
// red high).
func shapFigure(s *SHAPSample, order []string) Figure {
	idx := map[string]int{}
	for j, n := range s.Names {
		idx[n] = j
	}
	var rows []int
	for _, n := range order {
		if j, ok := idx[n]; ok {
			rows = append(rows, j)
		}
		if len(rows) == 12 {
			break
		}
	}
	ch := &shapChart{s: s, rows: rows}
	var fn []string
	var fv, fc []float64
	for _, j := range rows {
		for i := range s.Contrib[j] {
			fn = append(fn, s.Names[j])
			fv = append(fv, s.Value[j][i])
			fc = append(fc, s.Contrib[j][i])
		}
	}
	return Figure{Name: "shap_summary", Caption: "SHAP summary: each dot is one customer; position is the feature's contribution to the churn log-odds; colour is the feature's value (blue low, red high).",
		Chart: ch, Data: &Table{Columns: []Column{S("feature", fn), F("value", fv), F("contribution", fc)}}}
}

type shapChart struct {
	s    *SHAPSample
	rows []int
}

func (c *shapChart) SVG() string {
	var b strings.Builder
	open(&b, "SHAP summary")
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, j := range c.rows {
		for _, v := range c.s.Contrib[j] {
			if isFinite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	lo, hi = fixRange(lo, hi)
	left := 170.0
	w := chartW - left - padR
	n := len(c.rows)
	if n == 0 {
		b.WriteString("</svg>")
		return b.String()
	}
	h := plotH / float64(n)
	sx := func(v float64) float64 { return left + (v-lo)/(hi-lo)*w }
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, ff(sx(0)), ff(padT), ff(sx(0)), ff(padT+plotH), axisColour)
	for r, j := range c.rows {
		y := padT + (float64(r)+0.5)*h
		fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="10" fill="%s" text-anchor="end">%s</text>`, ff(left-6), ff(y+3), fontAttrs, text, esc(trunc(c.s.Names[j], 26)))
		// colour by the value's rank among the sample (robust to long tails)
		rank := ranks(c.s.Value[j])
		for i, ct := range c.s.Contrib[j] {
			if !isFinite(ct) {
				continue
			}
			col := "#999999"
			if i < len(rank) && isFinite(rank[i]) {
				t := rank[i]
				col = fmt.Sprintf("#%02x%02x%02x", int(30+t*200), int(100-t*60), int(230-t*200))
			}
			jit := (float64((i*2654435761)%1000)/1000 - 0.5) * h * 0.6
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2" fill="%s" fill-opacity="0.7"/>`, ff(sx(ct)), ff(y+jit), col)
		}
	}
	for _, t := range ticks(lo, hi, 6) {
		fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="10" fill="%s" text-anchor="middle">%s</text>`, ff(sx(t)), ff(padT+plotH+14), fontAttrs, text, short(t))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="12" fill="%s" text-anchor="middle">contribution to churn log-odds</text>`, ff(left+w/2), ff(chartH-10), fontAttrs, text)
	b.WriteString("</svg>")
	return b.String()
}

// thin keeps at most n evenly spaced points of parallel slices (always the
// first and last).
func thin(n int, cols ...[]float64) (a, b, c []float64) {
	m := len(cols[0])
	if m <= n {
		return cols[0], cols[1], cols[2]
	}
	out := make([][]float64, 3)
	for k := 0; k < n; k++ {
		i := k * (m - 1) / (n - 1)
		for j := range out {
			out[j] = append(out[j], cols[j][i])
		}
	}
	return out[0], out[1], out[2]
}

func f3(v float64) string {
	if !isFinite(v) {
		return "–"
	}
	return fmt.Sprintf("%.3f", v)
}

func f2(v float64) string {
	if !isFinite(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

// ranks maps each finite value to its mid-rank share in [0, 1] (NaN stays NaN).
func ranks(v []float64) []float64 {
	idx := make([]int, 0, len(v))
	for i, x := range v {
		if isFinite(x) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	out := make([]float64, len(v))
	for i := range out {
		out[i] = math.NaN()
	}
	n := len(idx)
	for k := 0; k < n; {
		m := k
		for m < n && v[idx[m]] == v[idx[k]] {
			m++
		}
		r := 0.5
		if n > 1 {
			r = (float64(k+m-1) / 2) / float64(n-1)
		}
		for q := k; q < m; q++ {
			out[idx[q]] = r
		}
		k = m
	}
	return out
}
