package reports

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cohorts accumulates monthly acquisition cohorts from purchases streamed in
// (customer, time) order: a customer's cohort is the month of their first
// purchase; they are active in month k of their life when they buy in it.
// Memory is one row per cohort, never per customer.
type Cohorts struct {
	first    time.Time // month 0 of the calendar
	months   int       // calendar months covered
	size     []float64 // customers per cohort
	active   [][]float64
	repeat   []float64 // customers with a second purchase
	cur      string
	curFirst int
	curSeen  []bool
	curN     int
	started  bool
	perMonth []float64 // active customers per calendar month
	newMonth []float64 // first purchases per calendar month
}

// NewCohorts covers calendar months from start (inclusive) to end (inclusive).
func NewCohorts(start, end time.Time) *Cohorts {
	s := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	n := monthIndex(s, end) + 1
	if n < 1 {
		n = 1
	}
	c := &Cohorts{first: s, months: n, size: make([]float64, n), repeat: make([]float64, n),
		active: make([][]float64, n), curSeen: make([]bool, n), perMonth: make([]float64, n), newMonth: make([]float64, n)}
	for i := range c.active {
		c.active[i] = make([]float64, n-i)
	}
	return c
}

func monthIndex(start, t time.Time) int {
	t = t.UTC()
	return (t.Year()-start.Year())*12 + int(t.Month()) - int(start.Month())
}

// Add records one purchase. Rows must come grouped by customer, each
// customer's in time order (a snapshot shard's order).
func (c *Cohorts) Add(customer string, t time.Time) {
	m := monthIndex(c.first, t)
	if m < 0 || m >= c.months {
		return
	}
	if !c.started || customer != c.cur {
		c.flush()
		c.started, c.cur, c.curFirst, c.curN = true, customer, m, 0
	}
	c.curN++
	if !c.curSeen[m] {
		c.curSeen[m] = true
		c.active[c.curFirst][m-c.curFirst]++
		c.perMonth[m]++
	}
}

func (c *Cohorts) flush() {
	if !c.started {
		return
	}
	c.size[c.curFirst]++
	c.newMonth[c.curFirst]++
	if c.curN > 1 {
		c.repeat[c.curFirst]++
	}
	for i := range c.curSeen {
		c.curSeen[i] = false
	}
	c.started = false
}

// CohortTable is the result: retention[cohort][age] = share of the cohort
// active in its age-th month.
type CohortTable struct {
	Labels      []string // cohort month labels (YYYY-MM)
	Size        []float64
	Retention   [][]float64 // NaN where the age is past the data
	RepeatRate  float64     // share of customers with more than one purchase
	MonthLabels []string
	Active      []float64 // active customers per calendar month
	New         []float64 // new customers per calendar month
	// ChurnRate[m] = share of customers active in month m-1 not active in m.
	MonthlyRetention []float64
}

// Table finishes accumulation and returns the cohort table.
func (c *Cohorts) Table() *CohortTable {
	c.flush()
	t := &CohortTable{}
	var repeat, total float64
	for i := 0; i < c.months; i++ {
		lab := c.first.AddDate(0, i, 0).Format("2006-01")
		t.MonthLabels = append(t.MonthLabels, lab)
		t.Active = append(t.Active, c.perMonth[i])
		t.New = append(t.New, c.newMonth[i])
		repeat += c.repeat[i]
		total += c.size[i]
		if c.size[i] == 0 {
			continue
		}
		t.Labels = append(t.Labels, lab)
		t.Size = append(t.Size, c.size[i])
		row := make([]float64, c.months)
		for a := range row {
			row[a] = math.NaN()
			if a < len(c.active[i]) {
				row[a] = c.active[i][a] / c.size[i]
			}
		}
		t.Retention = append(t.Retention, row)
	}
	if total > 0 {
		t.RepeatRate = repeat / total
	}
	t.MonthlyRetention = make([]float64, c.months)
	for m := range t.MonthlyRetention {
		t.MonthlyRetention[m] = math.NaN()
	}
	return t
}

// ScoreColumns are the risk-list columns the retention report summarises.
type ScoreColumns struct {
	ChurnProbability []float64
	PredictedCLV     []float64
	HistoricCLV      []float64
	ValueAtRisk      []float64
	PAlive           []float64
	Tier             []string
	Segment          []string
}

// HoldoutRow is one line of the BG/NBD calibration/holdout check: customers
// with a given calibration frequency, their actual and predicted holdout
// purchases (means per customer).
type HoldoutRow struct {
	Frequency int
	Customers int
	Actual    float64
	Predicted float64
}

// RetentionInput is everything the retention report shows.
type RetentionInput struct {
	AsOf    time.Time
	RunID   string
	Cohorts *CohortTable
	Scores  *ScoreColumns
	Holdout []HoldoutRow
	// HoldoutNote describes the holdout check (model, periods) or why there is none.
	HoldoutNote string
	// Currency labels money (default "").
	Currency string
}

// Retention builds the nightly retention report.
func Retention(in RetentionInput) *Report {
	r := &Report{Kind: "retention", Title: "Retention report", Subtitle: subtitle(in.AsOf, in.RunID)}
	if ct := in.Cohorts; ct != nil {
		r.Headline = append(r.Headline, Metric{Label: "repeat purchase rate", Value: pct(ct.RepeatRate), Note: "customers with 2+ purchases"})
		age := make([]string, 0)
		maxAge := 0
		for _, row := range ct.Retention {
			for a, v := range row {
				if !math.IsNaN(v) && a+1 > maxAge {
					maxAge = a + 1
				}
			}
		}
		for a := 0; a < maxAge; a++ {
			age = append(age, strconv.Itoa(a))
		}
		vals := make([][]float64, len(ct.Retention))
		for i, row := range ct.Retention {
			vals[i] = row[:maxAge]
		}
		heat := &Heatmap{Title: "Retention by acquisition cohort (% active)", RowLabels: ct.Labels, ColLabels: age, Values: vals, Percent: true, XLabel: "months since first purchase"}
		cohortData := &Table{Name: "cohort_retention"}
		var cl []string
		var ca, cv, cs []float64
		for i, row := range vals {
			for a, v := range row {
				if math.IsNaN(v) {
					continue
				}
				cl = append(cl, ct.Labels[i])
				ca = append(ca, float64(a))
				cv = append(cv, v)
				cs = append(cs, ct.Size[i])
			}
		}
		cohortData.Columns = []Column{S("cohort", cl), F("cohort_size", cs), F("months_since_first", ca), F("retention", cv)}

		// Month-over-month retention of the active base: among customers active
		// in month m-1 share still active in m is not recoverable from cohorts
		// alone, so report active and new customers and the share returning.
		x := make([]float64, len(ct.MonthLabels))
		ret := make([]float64, len(ct.MonthLabels))
		for m := range x {
			x[m] = float64(m)
			ret[m] = math.NaN()
			if ct.Active[m] > 0 {
				ret[m] = (ct.Active[m] - ct.New[m]) / ct.Active[m]
			}
		}
		activeChart := NewLineChart("Active customers by month", "month index (0 = "+first(ct.MonthLabels)+")", "customers",
			Series{Name: "active", X: x, Y: ct.Active}, Series{Name: "new", X: x, Y: ct.New, Dashed: true})
		retChart := NewLineChart("Returning share of active customers", "month index (0 = "+first(ct.MonthLabels)+")", "share returning",
			Series{Name: "returning", X: x, Y: ret})
		monthly := &Table{Name: "monthly_activity", Columns: []Column{S("month", ct.MonthLabels), F("active", ct.Active), F("new", ct.New), F("returning_share", ret)}}
		r.Sections = append(r.Sections, Section{Title: "Retention by month and cohort",
			Text:    "Each row of the heatmap is the customers whose first purchase fell in that month; each cell is the share of them who bought in the k-th month after.",
			Figures: []Figure{{Name: "cohort_retention", Chart: heat, Data: cohortData}, {Name: "monthly_activity", Chart: activeChart, Data: monthly}, {Name: "returning_share", Chart: retChart}}})
	}
	if sc := in.Scores; sc != nil && len(sc.ChurnProbability) > 0 {
		n := float64(len(sc.ChurnProbability))
		var equity, var_, hist float64
		for i := range sc.ChurnProbability {
			equity += nz(at(sc.PredictedCLV, i))
			var_ += nz(at(sc.ValueAtRisk, i))
			hist += nz(at(sc.HistoricCLV, i))
		}
		r.Headline = append(r.Headline,
			Metric{Label: "customers scored", Value: strconv.Itoa(len(sc.ChurnProbability))},
			Metric{Label: "mean churn probability", Value: pct(mean(sc.ChurnProbability))},
			Metric{Label: "customer equity", Value: money(equity, in.Currency), Note: "sum of predicted CLV"},
			Metric{Label: "value at risk", Value: money(var_, in.Currency), Note: "Σ churn probability × CLV"})
		_ = n
		figs := []Figure{}
		if len(sc.PredictedCLV) > 0 {
			h := Histogram(sc.PredictedCLV, 30, true)
			figs = append(figs, Figure{Name: "clv_distribution", Caption: "Distribution of predicted CLV (log scale bins).",
				Chart: &BarChart{Title: "Predicted CLV distribution", YLabel: "customers", Bars: h.Bars()}, Data: h.Table("clv_distribution")})
		}
		if len(sc.Segment) > 0 {
			seg := groupSum(sc.Segment, sc.ValueAtRisk)
			figs = append(figs, Figure{Name: "value_at_risk_by_segment", Caption: "Value at risk summed by RFM segment.",
				Chart: &BarChart{Title: "Value at risk by segment", Bars: seg.bars(), Horizontal: true}, Data: seg.table("value_at_risk_by_segment", "value_at_risk")})
		}
		if len(sc.Tier) > 0 {
			tier := groupCount(sc.Tier)
			figs = append(figs, Figure{Name: "customers_by_tier", Chart: &BarChart{Title: "Customers by risk tier", Bars: tier.bars()}, Data: tier.table("customers_by_tier", "customers")})
		}
		r.Sections = append(r.Sections, Section{Title: "Value and risk", Text: fmt.Sprintf("Historic CLV to date: %s. Predicted CLV and value at risk come from tonight's scores.", money(hist, in.Currency)), Figures: figs})
	}
	if len(in.Holdout) == 0 && in.HoldoutNote != "" {
		r.Sections = append(r.Sections, Section{Title: "CLV model check (calibration / holdout)", Text: in.HoldoutNote})
	}
	if len(in.Holdout) > 0 {
		var x, act, pred, cust []float64
		for _, h := range in.Holdout {
			x = append(x, float64(h.Frequency))
			act = append(act, h.Actual)
			pred = append(pred, h.Predicted)
			cust = append(cust, float64(h.Customers))
		}
		ch := NewLineChart("BG/NBD: holdout purchases by calibration frequency", "purchases in calibration", "mean purchases in holdout",
			Series{Name: "actual", X: x, Y: act, Points: true}, Series{Name: "predicted", X: x, Y: pred, Dashed: true})
		r.Sections = append(r.Sections, Section{Title: "CLV model check (calibration / holdout)",
			Text:    strings.TrimSpace("Customers grouped by how often they bought in the calibration period; the model's expected purchases in the holdout against what they actually bought.\n\n" + in.HoldoutNote),
			Figures: []Figure{{Name: "bgnbd_holdout", Chart: ch, Data: &Table{Columns: []Column{F("frequency", x), F("customers", cust), F("actual", act), F("predicted", pred)}}}}})
	}
	return r
}

// Hist is a histogram.
type Hist struct {
	Lo, Hi []float64
	Count  []float64
}

// Histogram bins finite values into n bins (log-spaced over positive values
// when logScale is set).
func Histogram(v []float64, n int, logScale bool) Hist {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		if isFinite(x) && (!logScale || x > 0) {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	h := Hist{}
	if !isFinite(lo) {
		return h
	}
	if hi == lo {
		hi = lo + 1
	}
	tr := func(x float64) float64 { return x }
	inv := tr
	if logScale {
		tr, inv = math.Log, math.Exp
	}
	a, b := tr(lo), tr(hi)
	w := (b - a) / float64(n)
	h.Count = make([]float64, n)
	for i := 0; i < n; i++ {
		h.Lo = append(h.Lo, inv(a+float64(i)*w))
		h.Hi = append(h.Hi, inv(a+float64(i+1)*w))
	}
	for _, x := range v {
		if !isFinite(x) || (logScale && x <= 0) {
			continue
		}
		k := int((tr(x) - a) / w)
		if k >= n {
			k = n - 1
		}
		h.Count[k]++
	}
	return h
}

// Bars labels each bin by its lower edge.
func (h Hist) Bars() []Bar {
	out := make([]Bar, len(h.Count))
	for i := range h.Count {
		out[i] = Bar{Label: short(h.Lo[i]), Value: h.Count[i]}
	}
	return out
}

// Table returns the bins as a table.
func (h Hist) Table(name string) *Table {
	return &Table{Name: name, Columns: []Column{F("bin_low", h.Lo), F("bin_high", h.Hi), F("count", h.Count)}}
}

type group struct {
	keys []string
	vals []float64
}

func groupSum(keys []string, v []float64) group {
	m := map[string]float64{}
	for i, k := range keys {
		m[k] += nz(at(v, i))
	}
	return sorted(m)
}

func groupCount(keys []string) group {
	m := map[string]float64{}
	for _, k := range keys {
		m[k]++
	}
	return sorted(m)
}

func sorted(m map[string]float64) group {
	g := group{}
	for k := range m {
		g.keys = append(g.keys, k)
	}
	sort.Slice(g.keys, func(i, j int) bool {
		if m[g.keys[i]] != m[g.keys[j]] {
			return m[g.keys[i]] > m[g.keys[j]]
		}
		return g.keys[i] < g.keys[j]
	})
	for _, k := range g.keys {
		g.vals = append(g.vals, m[k])
	}
	return g
}

func (g group) bars() []Bar {
	out := make([]Bar, len(g.keys))
	for i := range g.keys {
		out[i] = Bar{Label: g.keys[i], Value: g.vals[i]}
	}
	return out
}

func (g group) table(name, col string) *Table {
	return &Table{Name: name, Columns: []Column{S("group", g.keys), F(col, g.vals)}}
}

func at(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return math.NaN()
}

func nz(v float64) float64 {
	if isFinite(v) {
		return v
	}
	return 0
}

func mean(v []float64) float64 {
	var s, n float64
	for _, x := range v {
		if isFinite(x) {
			s += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / n
}

func pct(v float64) string {
	if !isFinite(v) {
		return "–"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

func money(v float64, cur string) string {
	s := short(v)
	if cur != "" {
		return s + " " + cur
	}
	return s
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func subtitle(asOf time.Time, run string) string {
	s := ""
	if !asOf.IsZero() {
		s = "as of " + asOf.UTC().Format("2006-01-02")
	}
	if run != "" {
		if s != "" {
			s += " · "
		}
		s += "run " + run
	}
	return s
}
