package churn

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// FeatureInfo is what the models need to know of a feature registry entry
// (features.Def without the import): its name, one-line meaning, kind
// ("numeric" or "categorical") and category names by code.
type FeatureInfo struct {
	Name       string   `json:"name"`
	Meaning    string   `json:"meaning,omitempty"`
	Window     string   `json:"window,omitempty"`
	Source     string   `json:"source,omitempty"`
	Kind       string   `json:"kind"`
	Categories []string `json:"categories,omitempty"`
}

// Reason is one feature's push on a customer's churn risk.
type Reason struct {
	Feature      string  `json:"feature"`
	Value        float64 `json:"value"`        // NaN when missing
	Contribution float64 `json:"contribution"` // log-odds added to the base
	Text         string  `json:"text"`         // plain words, e.g. "no order for 142 days, 3× the usual gap"
}

// Explainer computes reasons row by row, reusing its buffers; one per
// goroutine.
type Explainer struct {
	m     Model
	info  []FeatureInfo
	index map[string]int
	buf   []float64
	ord   []int
	lr    *lrExplainPlan // the model's Explain when it is a (calibrated) logistic regression
}

// NewExplainer prepares reasons for m's features described by info (same
// order as m.Features(); missing entries fall back to the bare name).
func NewExplainer(m Model, info []FeatureInfo) *Explainer {
	names := m.Features()
	e := &Explainer{m: m, info: make([]FeatureInfo, len(names)), index: map[string]int{}, buf: make([]float64, len(names)), ord: make([]int, len(names))}
	byName := map[string]FeatureInfo{}
	for _, f := range info {
		byName[f.Name] = f
	}
	for j, n := range names {
		f, ok := byName[n]
		if !ok {
			f = FeatureInfo{Name: n, Kind: "numeric"}
		}
		e.info[j] = f
		e.index[n] = j
	}
	// Calibration does not change the contributions (Calibrated.Explain is
	// its base's).
	base := m
	if c, ok := base.(*Calibrated); ok {
		base = c.Base
	}
	if lr, ok := base.(*LogReg); ok {
		e.lr = newLRExplainPlan(lr)
	}
	return e
}

// Reasons returns up to k features that raise row i's churn risk the most
// (positive contributions only), largest first, with their plain words.
func (e *Explainer) Reasons(X [][]float64, row, k int) []Reason {
	if e.lr != nil {
		e.lr.explain(X, row, e.buf)
	} else {
		e.m.Explain(X, row, e.buf)
	}
	var out []Reason
	for _, j := range e.top(k + sameFactSkips) {
		if len(out) == k {
			break
		}
		name, v := e.info[j].Name, X[j][row]
		if saidBy(out, sameFact(name, v)) || (v == 0 && zeroInWiderWindow(out, name)) {
			continue
		}
		out = append(out, Reason{Feature: name, Value: v, Contribution: e.buf[j], Text: e.phrase(X, row, j)})
	}
	return out
}

// sameFact names, for a feature, the features whose reason already says
// what its own would ("a subscription has ended" after "subscription ended
// 3 days ago"; "2.5× overdue" after "no order for 142 days, 3× the usual
// gap"): a reason is skipped when one of these is already given, and the
// next one takes its place. At most sameFactSkips reasons are skipped.
// A count of 0 failed payments raises the risk only because the count is
// defined for customers whose subscription ended (null for the others):
// after "subscription ended 43 days ago" it says nothing new, and "no
// failed payments" reads as a strange reason to leave. Likewise a null
// age of the active subscription ("no active subscription").
func sameFact(name string, v float64) []string {
	switch name {
	case "sub_ended_count", "sub_active":
		return []string{"days_since_sub_end"}
	case "sub_failed_payments":
		if v == 0 {
			return []string{"days_since_sub_end", "sub_ended_count"}
		}
	case "sub_current_months":
		if math.IsNaN(v) {
			return []string{"days_since_sub_end", "sub_active"}
		}
	case "overdue_ratio":
		return []string{"recency_days"}
	case "days_since_first_order":
		return []string{"tenure_days"}
	case "tenure_days":
		return []string{"days_since_first_order"}
	}
	return nil
}

const sameFactSkips = 3

// zeroInWiderWindow reports whether a count that is 0 in name's window
// (frequency_30d, events_login_30d, …) is already said by a reason giving 0
// for the same count over a longer window ("0 orders in the last 90 days"
// says there were none in the last 30).
func zeroInWiderWindow(out []Reason, name string) bool {
	stem, d, ok := countWindow(name)
	if !ok {
		return false
	}
	for _, r := range out {
		if s, w, ok := countWindow(r.Feature); ok && s == stem && w > d && r.Value == 0 {
			return true
		}
	}
	return false
}

// countWindow splits the windowed counts frequency_<N>d, events_<N>d and
// events_<type>_<N>d into their stem and N.
func countWindow(name string) (string, int, bool) {
	i := strings.LastIndexByte(name, '_')
	if i < 0 || !strings.HasSuffix(name, "d") {
		return "", 0, false
	}
	stem := name[:i]
	if stem != "frequency" && !strings.HasPrefix(stem, "events") {
		return "", 0, false
	}
	d, err := strconv.Atoi(name[i+1 : len(name)-1])
	if err != nil || d <= 0 {
		return "", 0, false
	}
	return stem, d, true
}

func saidBy(out []Reason, features []string) bool {
	for _, r := range out {
		if slices.Contains(features, r.Feature) {
			return true
		}
	}
	return false
}

// top returns the features of the (up to) k largest positive contributions
// in e.buf, largest first, ties in feature order: the head of a stable
// descending sort. Without NaNs it picks them by k scans; a NaN (which
// leaves the sort order to the algorithm) takes the stable sort itself.
func (e *Explainer) top(k int) []int {
	nan := false
	for _, v := range e.buf {
		if v != v {
			nan = true
			break
		}
	}
	if nan {
		for j := range e.ord {
			e.ord[j] = j
		}
		sort.SliceStable(e.ord, func(a, b int) bool { return e.buf[e.ord[a]] > e.buf[e.ord[b]] })
		n := 0
		for n < len(e.ord) && n < k && !(e.buf[e.ord[n]] <= 0) {
			n++
		}
		return e.ord[:n]
	}
	picked := e.ord[:0]
	for len(picked) < k {
		best := -1
		for j, v := range e.buf {
			if v > 0 && (best < 0 || v > e.buf[best]) && !slices.Contains(picked, j) {
				best = j
			}
		}
		if best < 0 {
			break
		}
		picked = append(picked, best)
	}
	return picked
}

// value returns feature name's value in row i (NaN when absent).
func (e *Explainer) value(X [][]float64, row int, name string) float64 {
	if j, ok := e.index[name]; ok {
		return X[j][row]
	}
	return math.NaN()
}

// phrase words feature j's value in row i: a template keyed by the
// feature-name pattern when one fits, else the registry meaning and value.
func (e *Explainer) phrase(X [][]float64, row, j int) string {
	f := e.info[j]
	v := X[j][row]
	if f.Kind == "categorical" {
		if math.IsNaN(v) {
			return words(f) + " unknown"
		}
		c := int(v)
		if c >= 0 && c < len(f.Categories) {
			return words(f) + ": " + f.Categories[c]
		}
		return words(f) + ": category " + strconv.Itoa(c)
	}
	n := f.Name
	if math.IsNaN(v) {
		switch n {
		case "gap_mean_days", "gap_last_days", "overdue_ratio":
			return "only one order so far"
		case "sub_current_months":
			return "no active subscription" // null exactly when none is active
		}
		return words(f) + ": not recorded"
	}
	switch {
	case n == "recency_days":
		s := "no order for " + dayWords(v)
		if g := e.value(X, row, "gap_mean_days"); g > 0 && v/g >= 1.5 {
			s += ", " + num(v/g) + "× the usual gap"
		}
		return s
	case n == "clv_p_alive" && v >= 0 && v <= 1:
		return "purchase pattern says " + num(math.Round(100*v)) + "% likely still a customer"
	case n == "clv_expected_purchases":
		return "about " + plural(math.Round(10*v)/10, "order") + " expected in the coming horizon"
	case n == "overdue_ratio":
		return num(v) + "× overdue against the usual gap between orders"
	case n == "days_since_first_order":
		return "first order " + dayWords(v) + " ago"
	case n == "gap_mean_days":
		return "usually " + dayWords(v) + " between orders"
	case n == "gap_last_days":
		return dayWords(v) + " between the last two orders"
	case n == "frequency_lifetime":
		return plural(v, "order") + " in total"
	case strings.HasPrefix(n, "frequency_") && f.Window != "":
		return plural(v, "order") + " in the last " + windowWords(f.Window)
	case strings.HasPrefix(n, "monetary_") && f.Window != "" && f.Window != "lifetime":
		return "spent " + num(v) + " in the last " + windowWords(f.Window)
	case n == "trend_frequency_90d":
		return trendWords(v, "order", "orders", "than in the 90 days before")
	case n == "trend_monetary_90d":
		if v < 0 {
			return "spent " + num(-v) + " less in the last 90 days than in the 90 days before"
		}
		return "spent " + num(v) + " more in the last 90 days than in the 90 days before"
	case strings.HasSuffix(n, "_share") && v >= 0 && v <= 1:
		return words(f) + ": " + num(100*v) + "%"
	}
	if p, ok := otherPhrase(n, f.Window, v); ok {
		return p
	}
	return words(f) + ": " + num(v)
}

// otherPhrase words the subscription, engagement, support, survey and
// tenure features of the registry (features/registry.go), including the
// per-type event counts events_<type>_<window>.
func otherPhrase(n, window string, v float64) (string, bool) {
	switch n {
	case "tenure_days":
		return "customer for " + dayWords(v), true
	case "days_since_signup":
		return "signed up " + dayWords(v) + " ago", true
	case "monetary_lifetime":
		return "spent " + num(v) + " in total", true
	case "aov_lifetime":
		return "average order value " + num(v), true
	case "quantity_mean":
		return num(v) + " items per order on average", true
	case "item_price_mean":
		return "pays " + num(v) + " per item on average", true
	case "last_order_quantity":
		return plural(v, "item") + " in the latest order", true
	case "lines_mean":
		return num(v) + " order lines per order on average", true
	case "last_order_lines":
		return plural(v, "order line") + " in the latest order", true
	case "first_order_lines":
		return plural(v, "order line") + " in the first order", true
	case "returns_count":
		return plural(v, "order") + " returned or cancelled", true
	case "distinct_products":
		return plural(v, "different product") + " bought", true
	case "sub_active":
		if v == 0 {
			return "no active subscription", true
		}
		return "subscription active", true
	case "days_since_sub_end":
		return "subscription ended " + dayWords(v) + " ago", true
	case "sub_ended_count":
		if v == 1 {
			return "a subscription has ended", true
		}
		return plural(v, "subscription") + " ended", true
	case "sub_failed_payments":
		if v == 0 {
			return "no failed payments on ended subscriptions", true
		}
		return plural(v, "failed payment") + " on ended subscriptions", true
	case "sub_count":
		return plural(v, "subscription") + " so far", true
	case "sub_mrr":
		return "monthly plan value " + num(v), true
	case "sub_months_active":
		return plural(v, "month") + " subscribed in total", true
	case "sub_current_months":
		return "current subscription " + plural(v, "month") + " old", true
	case "sub_downgrades":
		return plural(v, "downgrade"), true
	case "sub_upgrades":
		return plural(v, "upgrade"), true
	case "days_since_last_event":
		return "no activity for " + dayWords(v), true
	case "events_lifetime":
		return plural(v, "engagement event") + " in total", true
	case "trend_events_30d":
		return trendWords(v, "event", "events", "in the last 30 days than in the 30 days before"), true
	case "event_active_days_30d":
		if v == 0 {
			return "not active on any day of the last 30", true
		}
		return "active on " + dayWords(v) + " of the last 30", true
	case "tickets_lifetime":
		return plural(v, "support ticket") + " in total", true
	case "tickets_unresolved":
		return plural(v, "open support ticket"), true
	case "tickets_unresolved_urgent":
		return plural(v, "open urgent ticket"), true
	case "tickets_spike_30d":
		return trendWords(v, "ticket", "tickets", "in the last 30 days than in an average month before"), true
	case "days_since_last_ticket":
		return "last support ticket " + dayWords(v) + " ago", true
	case "ticket_resolution_days_mean":
		return "support tickets took " + dayWords(v) + " to resolve on average", true
	case "nps_last":
		return "latest NPS answer " + num(v) + " of 10", true
	case "csat_last":
		return "latest satisfaction score " + num(v) + " of 5", true
	case "ces_last":
		return "latest effort score " + num(v) + " of 7", true
	case "nps_change", "csat_change", "ces_change":
		what := "NPS"
		switch n {
		case "csat_change":
			what = "satisfaction score"
		case "ces_change":
			what = "effort score"
		}
		switch {
		case v < 0:
			return what + " fell by " + num(-v) + " since the answer before", true
		case v > 0:
			return what + " rose by " + num(v) + " since the answer before", true
		}
		return what + " unchanged since the answer before", true
	case "days_since_last_survey":
		return "last survey answer " + dayWords(v) + " ago", true
	case "surveys_lifetime":
		return plural(v, "survey answer") + " so far", true
	}
	if window == "" || window == "lifetime" {
		return "", false
	}
	in := " in the last " + windowWords(window)
	switch {
	case n == "events_30d" || n == "events_90d":
		return plural(v, "engagement event") + in, true
	case n == "tickets_30d" || n == "tickets_90d":
		return plural(v, "support ticket") + in, true
	case strings.HasPrefix(n, "aov_"):
		return "average order value " + num(v) + in, true
	case strings.HasPrefix(n, "events_") && strings.HasSuffix(n, "_"+window):
		typ := strings.TrimSuffix(strings.TrimPrefix(n, "events_"), "_"+window)
		if typ == "" {
			return "", false
		}
		if v == 0 {
			return "no \"" + typ + "\" events" + in, true
		}
		return plural(v, "\""+typ+"\" event") + in, true
	}
	return "", false
}

func words(f FeatureInfo) string {
	if f.Meaning != "" {
		m := f.Meaning
		// Registry meanings carry fine print in parentheses (null rules,
		// point-in-time caveats): a reason keeps only the plain words.
		if i := strings.Index(m, " ("); i > 0 {
			m = m[:i]
		}
		return m
	}
	return strings.ReplaceAll(f.Name, "_", " ")
}

// dayWords words a day count for people: whole days ("3 days"; the
// features count fractional days), "less than a day" below one.
func dayWords(v float64) string {
	if v < 1 && v >= 0 {
		return "less than a day"
	}
	return plural(math.Round(v), "day")
}

func windowWords(w string) string {
	if d, err := ParseDays(w); err == nil {
		return plural(float64(d), "day")
	}
	return w
}

func trendWords(v float64, one, many, than string) string {
	if v < 0 {
		return num(-v) + " fewer " + many + " " + than
	}
	if v == 1 {
		return "1 more " + one + " " + than
	}
	return num(v) + " more " + many + " " + than
}

func plural(v float64, unit string) string {
	s := num(v)
	if s == "1" {
		return "1 " + unit
	}
	return s + " " + unit + "s"
}

// num formats a number for people: integers plainly, others with up to one
// decimal (two below 10).
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == math.Trunc(a) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case a >= 10:
		return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0")
}
