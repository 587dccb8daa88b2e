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
	for _, j := range e.top(k) {
		v := X[j][row]
		out = append(out, Reason{Feature: e.info[j].Name, Value: v, Contribution: e.buf[j], Text: e.phrase(X, row, j)})
	}
	return out
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
		}
		return words(f) + ": not recorded"
	}
	switch {
	case n == "recency_days":
		s := "no order for " + plural(v, "day")
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
		return "first order " + plural(v, "day") + " ago"
	case n == "gap_mean_days":
		return "usually " + plural(v, "day") + " between orders"
	case n == "gap_last_days":
		return plural(v, "day") + " between the last two orders"
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
	return words(f) + ": " + num(v)
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
