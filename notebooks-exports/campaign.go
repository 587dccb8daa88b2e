package reports

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
)

// Outcome is one queued customer of a campaign with what happened after.
type Outcome struct {
	Campaign string
	Control  bool    // held out as control (never contacted)
	Retained bool    // still a customer at the end of the measurement window
	Success  bool    // the intervention's own success (offer accepted, …)
	Revenue  float64 // revenue in the measurement window
	Cost     float64 // cost of the contact (0 for control)
}

// CampaignResult is the measured effect of one campaign, treatment against
// control. Intervals are 95%.
type CampaignResult struct {
	Campaign                   string
	Treated, Control           int
	RetentionT, RetentionC     float64
	RetentionTLo, RetentionTHi float64 // Wilson interval
	RetentionCLo, RetentionCHi float64
	Lift, LiftLo, LiftHi       float64 // retention difference T − C, normal interval
	RevenueT, RevenueC         float64 // revenue per customer
	RevenueDiff                float64
	RevenueDiffLo              float64
	RevenueDiffHi              float64
	SuccessRate                float64 // share of treated with a successful intervention
	Cost                       float64
	IncrementalRevenue         float64 // RevenueDiff × treated
	ROI                        float64 // (incremental revenue − cost) / cost; NaN without cost
}

// MeasureCampaigns groups outcomes by campaign and measures each one.
func MeasureCampaigns(outcomes []Outcome) []CampaignResult {
	type acc struct {
		nT, nC, retT, retC, succ float64
		revT, revC, rev2T, rev2C float64
		cost                     float64
	}
	m := map[string]*acc{}
	for _, o := range outcomes {
		a := m[o.Campaign]
		if a == nil {
			a = &acc{}
			m[o.Campaign] = a
		}
		if o.Control {
			a.nC++
			a.revC += o.Revenue
			a.rev2C += o.Revenue * o.Revenue
			if o.Retained {
				a.retC++
			}
			continue
		}
		a.nT++
		a.revT += o.Revenue
		a.rev2T += o.Revenue * o.Revenue
		a.cost += o.Cost
		if o.Retained {
			a.retT++
		}
		if o.Success {
			a.succ++
		}
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]CampaignResult, 0, len(names))
	for _, name := range names {
		a := m[name]
		r := CampaignResult{Campaign: name, Treated: int(a.nT), Control: int(a.nC), Cost: a.cost}
		r.RetentionT, r.RetentionTLo, r.RetentionTHi = wilson(a.retT, a.nT)
		r.RetentionC, r.RetentionCLo, r.RetentionCHi = wilson(a.retC, a.nC)
		r.Lift = r.RetentionT - r.RetentionC
		se := math.Sqrt(variance(r.RetentionT, a.nT) + variance(r.RetentionC, a.nC))
		r.LiftLo, r.LiftHi = r.Lift-1.96*se, r.Lift+1.96*se
		r.RevenueT, r.RevenueC = ratio(a.revT, a.nT), ratio(a.revC, a.nC)
		vT := ratio(a.rev2T, a.nT) - r.RevenueT*r.RevenueT
		vC := ratio(a.rev2C, a.nC) - r.RevenueC*r.RevenueC
		r.RevenueDiff = r.RevenueT - r.RevenueC
		seR := math.Sqrt(ratio(math.Max(vT, 0), a.nT-1) + ratio(math.Max(vC, 0), a.nC-1))
		r.RevenueDiffLo, r.RevenueDiffHi = r.RevenueDiff-1.96*seR, r.RevenueDiff+1.96*seR
		r.SuccessRate = ratio(a.succ, a.nT)
		r.IncrementalRevenue = r.RevenueDiff * a.nT
		r.ROI = math.NaN()
		if a.cost > 0 {
			r.ROI = (r.IncrementalRevenue - a.cost) / a.cost
		}
		out = append(out, r)
	}
	return out
}

// wilson returns the proportion and its 95% Wilson score interval.
func wilson(k, n float64) (p, lo, hi float64) {
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	const z = 1.959963984540054
	p = k / n
	d := 1 + z*z/n
	c := (p + z*z/(2*n)) / d
	h := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / d
	return p, c - h, c + h
}

func variance(p, n float64) float64 {
	if n == 0 || math.IsNaN(p) {
		return math.NaN()
	}
	return p * (1 - p) / n
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}

// CampaignInput is what the campaign report shows.
type CampaignInput struct {
	AsOf     time.Time
	RunID    string
	Outcomes []Outcome
	Currency string
}

// Campaign builds the campaign report: treatment against control per campaign.
func Campaign(in CampaignInput) *Report {
	res := MeasureCampaigns(in.Outcomes)
	r := &Report{Kind: "campaign", Title: "Campaign report", Subtitle: subtitle(in.AsOf, in.RunID)}
	if len(res) == 0 {
		r.Sections = append(r.Sections, Section{Title: "No outcomes yet", Text: "No intervention outcomes have been recorded; the report fills in once the CRM acknowledges contacts (POST /v1/queue/{id}/ack) or outcomes are posted for control rows (POST /v1/outcomes)."})
		return r
	}
	var totalCost, totalInc float64
	t := &Table{Name: "campaign_results"}
	var names []string
	cols := map[string][]float64{}
	order := []string{"treated", "control", "retention_treatment", "retention_treatment_lo", "retention_treatment_hi", "retention_control", "retention_control_lo", "retention_control_hi", "lift", "lift_lo", "lift_hi", "revenue_per_customer_treatment", "revenue_per_customer_control", "revenue_diff", "revenue_diff_lo", "revenue_diff_hi", "success_rate", "cost", "incremental_revenue", "roi"}
	var liftBars, roiBars []Bar
	for _, c := range res {
		names = append(names, c.Campaign)
		vals := []float64{float64(c.Treated), float64(c.Control), c.RetentionT, c.RetentionTLo, c.RetentionTHi, c.RetentionC, c.RetentionCLo, c.RetentionCHi, c.Lift, c.LiftLo, c.LiftHi, c.RevenueT, c.RevenueC, c.RevenueDiff, c.RevenueDiffLo, c.RevenueDiffHi, c.SuccessRate, c.Cost, c.IncrementalRevenue, c.ROI}
		for i, k := range order {
			cols[k] = append(cols[k], vals[i])
		}
		totalCost += c.Cost
		totalInc += c.IncrementalRevenue
		liftBars = append(liftBars, Bar{Label: c.Campaign, Value: 100 * c.Lift})
		roiBars = append(roiBars, Bar{Label: c.Campaign, Value: c.ROI})
	}
	t.Columns = append(t.Columns, S("campaign", names))
	for _, k := range order {
		t.Columns = append(t.Columns, Column{Name: k, Floats: cols[k], Format: "%.3f"})
	}
	roi := math.NaN()
	if totalCost > 0 {
		roi = (totalInc - totalCost) / totalCost
	}
	r.Headline = []Metric{
		{Label: "campaigns", Value: strconv.Itoa(len(res))},
		{Label: "contact cost", Value: money(totalCost, in.Currency)},
		{Label: "incremental revenue", Value: money(totalInc, in.Currency), Note: "treatment − control, per treated customer × treated"},
		{Label: "return on retention investment", Value: fmtRatio(roi)},
	}
	text := "Retention and revenue of contacted customers against the randomly held-out control group of the same campaign. Intervals are 95% (Wilson for rates, normal approximation for differences)."
	for _, c := range res {
		text += fmt.Sprintf("\n\n%s: retention %s with contact vs %s without (lift %+.1f points, 95%% CI %+.1f to %+.1f); %d treated, %d control.",
			c.Campaign, pct(c.RetentionT), pct(c.RetentionC), 100*c.Lift, 100*c.LiftLo, 100*c.LiftHi, c.Treated, c.Control)
	}
	// A compact table for reading; the full numeric one is the lift figure's data.
	var tr, ctl, rt, rc, lf, rev, cost, roiS []string
	for _, c := range res {
		tr = append(tr, strconv.Itoa(c.Treated))
		ctl = append(ctl, strconv.Itoa(c.Control))
		rt = append(rt, fmt.Sprintf("%s (%s–%s)", pct(c.RetentionT), pct(c.RetentionTLo), pct(c.RetentionTHi)))
		rc = append(rc, fmt.Sprintf("%s (%s–%s)", pct(c.RetentionC), pct(c.RetentionCLo), pct(c.RetentionCHi)))
		lf = append(lf, fmt.Sprintf("%+.1f (%+.1f to %+.1f)", 100*c.Lift, 100*c.LiftLo, 100*c.LiftHi))
		rev = append(rev, fmt.Sprintf("%+.2f (%+.2f to %+.2f)", c.RevenueDiff, c.RevenueDiffLo, c.RevenueDiffHi))
		cost = append(cost, money(c.Cost, in.Currency))
		roiS = append(roiS, fmtRatio(c.ROI))
	}
	view := &Table{Name: "campaign_summary", Columns: []Column{S("campaign", names), S("treated", tr), S("control", ctl),
		S("retention with contact", rt), S("retention control", rc), S("lift, points", lf), S("revenue per customer, diff", rev), S("cost", cost), S("ROI", roiS)}}
	r.Sections = append(r.Sections, Section{Title: "Treatment vs control", Text: text,
		Figures: []Figure{
			{Name: "campaign_results", Caption: "Retention lift in percentage points (treatment − control).", Chart: &BarChart{Title: "Retention lift (points)", Bars: liftBars, Horizontal: true}, Data: t},
			{Name: "roi", Caption: "Return on retention investment: (incremental revenue − cost) / cost.", Chart: &BarChart{Title: "Return on investment", Bars: roiBars, Horizontal: true}},
		},
		Tables: []*Table{view}})
	return r
}

func fmtRatio(v float64) string {
	if !isFinite(v) {
		return "–"
	}
	return strconv.FormatFloat(100*v, 'f', 0, 64) + "%"
}
