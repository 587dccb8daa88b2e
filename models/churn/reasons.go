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
	pk := e.picker()
	for range k + sameFactSkips {
		if len(out) == k {
			break
		}
		j := pk.next()
		if j < 0 {
			break
		}
		name, v := e.info[j].Name, X[j][row]
		if saidBy(out, sameFact(name, v)) || zeroInWiderWindow(out, name, v) {
			continue
		}
		text := e.phrase(X, row, j)
		if saidText(out, text) {
			continue
		}
		out = append(out, Reason{Feature: name, Value: v, Contribution: e.buf[j], Text: text})
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
// age of the active subscription ("no active subscription"). An active
// subscription is said by its age or plan ("current subscription 5 months
// old", "on the pro plan"); the first order's age (days, BG/NBD weeks) and
// the customer's tenure or sign-up age say much the same; so do the
// repeat purchase days and the order count, the value per repeat day and
// the average order value; a null gap between orders ("only one order so
// far") and the order count. (Reasons with the same words, such as the
// "no order so far" of every order feature of a customer without orders,
// are skipped too; see Reasons.)
func sameFact(name string, v float64) []string {
	switch name {
	case "sub_ended_count":
		return []string{"days_since_sub_end"}
	case "days_since_sub_end":
		if math.IsNaN(v) {
			// "subscription active" (or "no subscription so far"): said by
			// the active subscription's age or plan, or by sub_active
			return []string{"sub_active", "sub_current_months", "sub_plan"}
		}
	case "sub_active":
		if v == 1 {
			return []string{"days_since_sub_end", "sub_current_months", "sub_plan"}
		}
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
		if math.IsNaN(v) {
			return []string{"recency_days", "frequency_lifetime"}
		}
		return []string{"recency_days"}
	case "days_since_first_order":
		return []string{"tenure_days", "clv_T_weeks"}
	case "clv_T_weeks":
		return []string{"days_since_first_order", "tenure_days"}
	case "tenure_days":
		return []string{"days_since_first_order", "clv_T_weeks", "days_since_signup"}
	case "days_since_signup":
		return []string{"tenure_days"}
	case "clv_frequency":
		return []string{"frequency_lifetime"}
	case "frequency_lifetime":
		switch {
		case v <= 1:
			return []string{"clv_frequency", "gap_mean_days", "gap_last_days", "overdue_ratio", "gap_std_days"}
		case v == 2:
			return []string{"clv_frequency", "gap_std_days"}
		}
		return []string{"clv_frequency"}
	case "gap_mean_days", "gap_last_days", "gap_std_days":
		if math.IsNaN(v) {
			return []string{"frequency_lifetime"} // "1 order in total"
		}
	case "clv_monetary":
		return []string{"aov_lifetime"}
	case "aov_lifetime":
		return []string{"clv_monetary"}
	}
	return nil
}

// sameFactSkips caps the reasons skipped as already said.
const sameFactSkips = 8

func saidText(out []Reason, text string) bool {
	for _, r := range out {
		if r.Text == text {
			return true
		}
	}
	return false
}

// zeroInWiderWindow reports whether a reason saying there was none of
// something in name's window (0 for frequency_30d, events_login_30d, …) is
// already said by one saying there was none over a window as long or
// longer ("0 orders in the last 90 days" says there were none in the last
// 30, and that nothing was spent in them; "no engagement event so far"
// says there was no "login" event in the last 30 days, "no activity for 120
// days" that there was none in the last 90). See noneIn.
func zeroInWiderWindow(out []Reason, name string, v float64) bool {
	what, d, ok := noneIn(name, v)
	if !ok {
		return false
	}
	for _, r := range out {
		if w2, w, ok := noneIn(r.Feature, r.Value); ok && r.Feature != name && w >= d &&
			(w2 == what || strings.HasPrefix(what, w2+"/")) {
			return true
		}
	}
	return false
}

const lifetime = math.MaxInt

// noneIn reports whether value v of feature name says there was none of
// something (what) in the last days: none of "orders" (0 for the order
// counts and spend, a null average order value over a window or recency),
// "events", "events/<type>" (days since the last event: none in those
// days), "tickets" (likewise; and the "tickets/open" among them),
// "surveys" (and their "surveys/nps", "surveys/nps/change", …). A what
// under another ("events/login" under "events") is said by it.
func noneIn(name string, v float64) (what string, days int, ok bool) {
	null := math.IsNaN(v)
	switch name {
	case "frequency_lifetime", "monetary_lifetime":
		return "orders", lifetime, v == 0
	case "recency_days":
		if !null {
			return "orders", int(v), v >= 1 // no order for 142 days: none in the last 90
		}
		return "orders", lifetime, true
	case "days_since_first_order", "aov_lifetime":
		return "orders", lifetime, null
	case "events_lifetime":
		return "events", lifetime, v == 0
	case "days_since_last_event":
		if !null {
			return "events", int(v), v >= 1 // no activity for 120 days: no event in the last 90
		}
		return "events", lifetime, true
	case "event_active_days_30d":
		return "events", 30, v == 0
	case "tickets_lifetime":
		return "tickets", lifetime, v == 0
	case "days_since_last_ticket":
		if !null {
			return "tickets", int(v), v >= 1
		}
		return "tickets", lifetime, true
	case "tickets_unresolved":
		return "tickets/open", 0, v == 0
	case "tickets_unresolved_urgent":
		return "tickets/open/urgent", 0, v == 0
	case "ticket_resolution_days_mean":
		return "tickets/closed", lifetime, null
	case "surveys_lifetime":
		return "surveys", lifetime, v == 0
	case "days_since_last_survey":
		return "surveys", lifetime, null
	case "nps_last", "csat_last", "ces_last":
		return "surveys/" + strings.TrimSuffix(name, "_last"), lifetime, null
	case "nps_change", "csat_change", "ces_change":
		return "surveys/" + strings.TrimSuffix(name, "_change") + "/change", lifetime, null
	}
	stem, d, ok := countWindow(name)
	switch {
	case !ok:
		return "", 0, false
	case stem == "aov":
		return "orders", d, null
	case stem == "frequency" || stem == "monetary":
		return "orders", d, v == 0
	case stem == "events" || stem == "tickets":
		return stem, d, v == 0
	}
	return "events/" + strings.TrimPrefix(stem, "events_"), d, v == 0
}

// countWindow splits the windowed features frequency_<N>d, monetary_<N>d,
// aov_<N>d, tickets_<N>d, events_<N>d and events_<type>_<N>d into their
// stem and N.
func countWindow(name string) (string, int, bool) {
	i := strings.LastIndexByte(name, '_')
	if i < 0 || !strings.HasSuffix(name, "d") {
		return "", 0, false
	}
	stem := name[:i]
	switch {
	case stem == "frequency", stem == "monetary", stem == "aov", stem == "tickets", strings.HasPrefix(stem, "events_"), stem == "events":
	default:
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

// picker yields the features of positive contributions in e.buf, largest
// first, ties in feature order (a stable descending sort), one at a time:
// a row usually needs only its first k, not the k + sameFactSkips the
// duplicate rules may consume. Without NaNs each next is one scan for the
// largest value below the previous one (or equal to it at a later
// feature); a NaN (which leaves the order to the sort) takes the stable
// sort itself.
type picker struct {
	e      *Explainer
	sorted []int // with NaNs: the stable sort
	n      int   // picks so far
	lastV  float64
	lastJ  int
}

func (e *Explainer) picker() picker {
	p := picker{e: e}
	for _, v := range e.buf {
		if v != v {
			for j := range e.ord {
				e.ord[j] = j
			}
			sort.SliceStable(e.ord, func(a, b int) bool { return e.buf[e.ord[a]] > e.buf[e.ord[b]] })
			p.sorted = e.ord
			break
		}
	}
	return p
}

// next returns the next feature, or -1 when no positive one is left.
func (p *picker) next() int {
	buf := p.e.buf
	if p.sorted != nil {
		if p.n >= len(p.sorted) || buf[p.sorted[p.n]] <= 0 {
			return -1
		}
		p.n++
		return p.sorted[p.n-1]
	}
	best := -1
	for j, v := range buf {
		if v > 0 && (p.n == 0 || v < p.lastV || v == p.lastV && j > p.lastJ) && (best < 0 || v > buf[best]) {
			best = j
		}
	}
	if best >= 0 {
		p.n++
		p.lastV, p.lastJ = buf[best], best
	}
	return best
}

// value returns feature name's value in row i (NaN when absent).
func (e *Explainer) value(X [][]float64, row int, name string) float64 {
	if j, ok := e.index[name]; ok {
		return X[j][row]
	}
	return math.NaN()
}

// phrase words feature j's value in row i: the feature's template (see
// registryPhrase) when it has one, else the registry meaning and value.
func (e *Explainer) phrase(X [][]float64, row, j int) string {
	f := e.info[j]
	v := X[j][row]
	if p, ok := e.registryPhrase(X, row, f, v); ok {
		return p
	}
	return fallbackPhrase(f, v)
}

// fallbackPhrase words a feature without a template: its registry meaning
// and value ("<meaning>: 7", "<meaning>: not recorded", "<meaning>: pro").
func fallbackPhrase(f FeatureInfo, v float64) string {
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
	if math.IsNaN(v) {
		return words(f) + ": not recorded"
	}
	if strings.HasSuffix(f.Name, "_share") && v >= 0 && v <= 1 {
		return words(f) + ": " + num(100*v) + "%"
	}
	return words(f) + ": " + num(v)
}

// registryPhrase words the features of the registry (features/registry.go,
// with the families events_<type>_<window> and channel_share_<channel>, and
// the pipeline's clv_p_alive and clv_expected_purchases): every one has a
// template for its values and one for null, which says what null means
// there ("no survey answer so far", "no active subscription"). ok is false
// for a feature it does not know (or a value out of its range).
func (e *Explainer) registryPhrase(X [][]float64, row int, f FeatureInfo, v float64) (string, bool) {
	if f.Kind == "categorical" {
		return e.categoryPhrase(X, row, f, v)
	}
	if math.IsNaN(v) {
		return e.nullPhrase(X, row, f)
	}
	n := f.Name
	switch {
	case n == "recency_days":
		if v < 1 && v >= 0 {
			return "last order less than a day ago", true
		}
		s := "no order for " + dayWords(v)
		if g := e.value(X, row, "gap_mean_days"); g > 0 && v/g >= 1.5 {
			s += ", " + num(v/g) + "× the usual gap"
		}
		return s, true
	case n == "clv_p_alive" && v >= 0 && v <= 1:
		return "purchase pattern says " + num(math.Round(100*v)) + "% likely still a customer", true
	case n == "clv_expected_purchases":
		if math.Round(10*v) == 0 {
			return "almost no orders expected in the coming horizon", true
		}
		return "about " + plural(math.Round(10*v)/10, "order") + " expected in the coming horizon", true
	case n == "overdue_ratio":
		if v < 1 {
			return pct(v) + " of the usual gap between orders has passed since the last order", true
		}
		return num(v) + "× overdue against the usual gap between orders", true
	case n == "days_since_first_order":
		return "first order " + dayWords(v) + " ago", true
	case n == "gap_mean_days":
		return "usually " + dayWords(v) + " between orders", true
	case n == "gap_last_days":
		return dayWords(v) + " between the last two orders", true
	case n == "gap_std_days":
		return "gaps between orders vary by about " + dayWords(v), true
	case n == "frequency_lifetime":
		if v == 0 {
			return "no order so far", true
		}
		return plural(v, "order") + " in total", true
	case strings.HasPrefix(n, "frequency_") && f.Window != "":
		return plural(v, "order") + " in the last " + windowWords(f.Window), true
	case strings.HasPrefix(n, "monetary_") && f.Window != "" && f.Window != "lifetime":
		if v == 0 {
			return "spent nothing in the last " + windowWords(f.Window), true
		}
		return "spent " + num(v) + " in the last " + windowWords(f.Window), true
	case n == "trend_frequency_90d":
		return trendWords(v, "order", "orders", "than in the 90 days before", "in the last 90 days as in the 90 days before"), true
	case n == "trend_monetary_90d":
		switch {
		case v < 0:
			return "spent " + num(-v) + " less in the last 90 days than in the 90 days before", true
		case v == 0:
			return "spent the same in the last 90 days as in the 90 days before", true
		}
		return "spent " + num(v) + " more in the last 90 days than in the 90 days before", true
	case n == "trend_frequency_ratio_180d" && v >= 0:
		switch {
		case v == 0:
			return "no order in the last 180 days after some in the 180 days before", true
		case v < 1:
			return "orders in the last 180 days down to " + pct(v) + " of the 180 days before", true
		case v == 1:
			return "as many orders in the last 180 days as in the 180 days before", true
		}
		return num(v) + "× as many orders in the last 180 days as in the 180 days before", true
	case n == "distinct_categories":
		return count(v, "product category", "product categories") + " bought", true
	case n == "returns_count", n == "returns_value", n == "returns_share" && v == 0:
		if v == 0 {
			return "no order returned or cancelled", true
		}
		if n == "returns_value" {
			return "returned or cancelled orders worth " + num(v), true
		}
		return plural(v, "order") + " returned or cancelled", true
	case n == "returns_share" && v > 0 && v <= 1:
		return pct(v) + " of orders returned or cancelled", true
	case (n == "discount_share" || n == "discounted_orders_share") && v == 0:
		return "never used a discount", true
	case n == "discount_share" && v > 0 && v <= 1:
		return "discounts worth " + pct(v) + " of the order value", true
	case n == "discounted_orders_share" && v == 1:
		return "a discount on every order", true
	case n == "discounted_orders_share" && v > 0 && v < 1:
		return pct(v) + " of orders with a discount", true
	case n == "lines_lifetime":
		return plural(v, "order line") + " in total", true
	case n == "items_per_line_mean":
		return num(v) + " items per order line on average", true
	case n == "distinct_channels":
		return "ordered through " + plural(v, "sales channel"), true
	case n == "main_channel_share" && v >= 0 && v <= 1:
		return channelShare(v, e.mainChannel(X, row)), true
	case strings.HasPrefix(n, channelSharePrefix) && len(n) > len(channelSharePrefix) && v >= 0 && v <= 1:
		return channelShare(v, strings.TrimPrefix(n, channelSharePrefix)), true
	case n == "clv_frequency":
		if v == 0 {
			return "no repeat purchase after the first day", true
		}
		return "bought again on " + plural(v, "later day"), true
	case n == "clv_recency_weeks":
		if v == 0 {
			return "no repeat purchase after the first day", true
		}
		return "last order " + weekWords(v) + " after the first", true
	case n == "clv_T_weeks":
		return "first order " + weekWords(v) + " ago", true
	case n == "clv_monetary":
		return "spends " + num(v) + " per repeat purchase day on average", true
	case n == "age" && v >= 0:
		return plural(v, "year") + " old", true
	}
	return e.otherPhrase(X, row, n, f.Window, v)
}

const channelSharePrefix = "channel_share_"

func channelShare(v float64, channel string) string {
	through := "the main sales channel"
	if channel != "" {
		through = channel
	}
	switch v {
	case 0:
		return "no order through " + through
	case 1:
		return "all orders through " + through
	}
	return pct(v) + " of orders through " + through
}

// mainChannel is the name of row i's main_channel ("" when unknown).
func (e *Explainer) mainChannel(X [][]float64, row int) string {
	j, ok := e.index["main_channel"]
	if !ok {
		return ""
	}
	c, cats := X[j][row], e.info[j].Categories
	if c != c || c < 0 || int(c) >= len(cats) {
		return ""
	}
	return cats[int(c)]
}

// categoryPhrase words the registry's categorical features.
func (e *Explainer) categoryPhrase(X [][]float64, row int, f FeatureInfo, v float64) (string, bool) {
	if math.IsNaN(v) {
		switch f.Name {
		case "main_channel":
			return e.noOrdersOr(X, row, "no sales channel recorded"), true
		case "sub_plan":
			if e.value(X, row, "sub_count") > 0 {
				return "plan not recorded", true
			}
			return "no subscription so far", true
		case "country":
			return "country not known", true
		case "segment":
			return "segment not recorded", true
		case "acquisition_channel":
			return "acquisition channel not recorded", true
		case "gender":
			return "gender not recorded", true
		}
		return "", false
	}
	c := int(v)
	if c < 0 || c >= len(f.Categories) {
		return "", false
	}
	name := f.Categories[c]
	switch f.Name {
	case "main_channel":
		return "the sales channel used most: " + name, true
	case "sub_plan":
		if e.value(X, row, "sub_active") == 1 {
			return "on the " + name + " plan", true
		}
		return "latest plan was " + name, true
	case "country":
		return "based in " + name, true
	case "segment":
		return "in the " + name + " segment", true
	case "acquisition_channel":
		return "acquired through " + name, true
	case "gender":
		return "gender recorded as " + name, true
	}
	return "", false
}

// noOrders reports whether row i's customer has no order before the
// cutoff: frequency_lifetime is 0 (or, without that column, recency_days
// is null).
func (e *Explainer) noOrders(X [][]float64, row int) bool {
	if _, ok := e.index["frequency_lifetime"]; ok {
		return e.value(X, row, "frequency_lifetime") == 0
	}
	_, ok := e.index["recency_days"]
	return ok && math.IsNaN(e.value(X, row, "recency_days"))
}

// noOrdersOr is "no order so far" for a customer without orders, else s.
func (e *Explainer) noOrdersOr(X [][]float64, row int, s string) string {
	if e.noOrders(X, row) {
		return noOrder
	}
	return s
}

const noOrder = "no order so far"

// nullPhrase words a null value by what null means for the feature (the
// registry's null rules): an order feature of a customer without orders
// reads "no order so far", a mean gap of one with a single order "only one
// order so far", the latest NPS of one who never answered "no NPS answer".
func (e *Explainer) nullPhrase(X [][]float64, row int, f FeatureInfo) (string, bool) {
	n := f.Name
	orders := e.value(X, row, "frequency_lifetime")
	fewOrders := func(least int) string {
		switch {
		case orders == 0 || e.noOrders(X, row):
			return noOrder
		case orders == 1 || (orders != orders && least == 2):
			return "only one order so far"
		case orders >= 2 && orders < float64(least):
			return "only " + num(orders) + " orders so far"
		}
		return "fewer than " + strconv.Itoa(least) + " orders so far"
	}
	switch n {
	case "recency_days", "days_since_first_order", "aov_lifetime", "frequency_lifetime", "monetary_lifetime",
		"clv_p_alive", "clv_expected_purchases", "clv_frequency", "clv_recency_weeks", "clv_T_weeks",
		"trend_frequency_90d", "trend_monetary_90d":
		return noOrder, true
	case "gap_mean_days", "gap_last_days":
		return fewOrders(2), true
	case "overdue_ratio":
		if orders >= 2 {
			return "all orders on the same day", true // the mean gap is 0
		}
		return fewOrders(2), true
	case "gap_std_days":
		return fewOrders(3), true
	case "trend_frequency_ratio_180d":
		return e.noOrdersOr(X, row, "no order 180 to 360 days ago to compare with"), true
	case "clv_monetary":
		return e.noOrdersOr(X, row, "no repeat purchase after the first day"), true
	case "distinct_products":
		return e.noOrdersOr(X, row, "products not recorded on the orders"), true
	case "distinct_categories":
		return e.noOrdersOr(X, row, "product categories not recorded on the orders"), true
	case "returns_count", "returns_value", "returns_share":
		return e.noOrdersOr(X, row, "returns not recorded"), true
	case "discount_share", "discounted_orders_share":
		return e.noOrdersOr(X, row, "no discount recorded"), true
	case "quantity_mean":
		return e.noOrdersOr(X, row, "items per order not recorded"), true
	case "item_price_mean":
		return e.noOrdersOr(X, row, "price per item not recorded"), true
	case "last_order_quantity":
		return e.noOrdersOr(X, row, "items in the latest order not recorded"), true
	case "lines_mean", "lines_lifetime":
		return e.noOrdersOr(X, row, "order lines not recorded"), true
	case "first_order_lines":
		return e.noOrdersOr(X, row, "order lines of the first order not recorded"), true
	case "last_order_lines":
		return e.noOrdersOr(X, row, "order lines of the latest order not recorded"), true
	case "items_per_line_mean":
		return e.noOrdersOr(X, row, "items per order line not recorded"), true
	case "distinct_channels", "main_channel_share":
		return e.noOrdersOr(X, row, "no sales channel recorded"), true
	case "events_30d", "events_90d", "events_lifetime", "days_since_last_event", "trend_events_30d", "event_active_days_30d":
		return noEvent, true
	case "tickets_30d", "tickets_90d", "tickets_lifetime", "days_since_last_ticket", "tickets_unresolved",
		"tickets_unresolved_urgent", "tickets_spike_30d":
		return noTicket, true
	case "ticket_resolution_days_mean":
		return "no support ticket closed yet", true
	case "nps_last":
		return "no NPS answer", true
	case "csat_last":
		return "no satisfaction score", true
	case "ces_last":
		return "no effort score", true
	case "nps_change":
		return "no earlier NPS answer to compare with", true
	case "csat_change":
		return "no earlier satisfaction score to compare with", true
	case "ces_change":
		return "no earlier effort score to compare with", true
	case "days_since_last_survey", "surveys_lifetime":
		return noSurvey, true
	case "sub_current_months":
		return "no active subscription", true // null exactly when none is active
	case "sub_active", "sub_count", "sub_months_active", "sub_ended_count", "sub_downgrades", "sub_upgrades":
		return noSubscription, true
	case "sub_mrr":
		if e.value(X, row, "sub_count") > 0 {
			return "monthly plan value not recorded", true
		}
		return noSubscription, true
	case "days_since_sub_end":
		switch {
		case e.value(X, row, "sub_active") == 1:
			return "subscription active", true
		case e.value(X, row, "sub_count") > 0:
			return "no subscription has ended", true
		}
		return noSubscription, true
	case "sub_failed_payments":
		if e.value(X, row, "sub_ended_count") == 0 {
			return "no subscription has ended", true
		}
		return "failed payments not recorded", true
	case "tenure_days":
		return "no start date on record", true
	case "days_since_signup":
		return "no sign-up date on record", true
	case "age":
		return "age not recorded", true
	}
	switch {
	case strings.HasPrefix(n, "events_") && strings.HasSuffix(n, "_"+f.Window):
		return noEvent, true // events_<type>_<window>
	case strings.HasPrefix(n, channelSharePrefix) && len(n) > len(channelSharePrefix):
		return e.noOrdersOr(X, row, "no sales channel recorded"), true
	case strings.HasPrefix(n, "aov_") && f.Window != "" && f.Window != "lifetime":
		return e.noOrdersOr(X, row, "no order in the last "+windowWords(f.Window)), true
	case strings.HasPrefix(n, "frequency_"), strings.HasPrefix(n, "monetary_"):
		return noOrder, true
	}
	return "", false
}

const (
	noEvent        = "no engagement event so far"
	noTicket       = "no support ticket so far"
	noSurvey       = "no survey answer so far"
	noSubscription = "no subscription so far"
)

// otherPhrase words the subscription, engagement, support, survey and
// tenure features of the registry (features/registry.go), including the
// per-type event counts events_<type>_<window>.
func (e *Explainer) otherPhrase(X [][]float64, row int, n, window string, v float64) (string, bool) {
	switch n {
	case "tenure_days":
		return "customer for " + dayWords(v), true
	case "days_since_signup":
		return "signed up " + dayWords(v) + " ago", true
	case "monetary_lifetime":
		if v == 0 {
			return "spent nothing so far", true
		}
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
		switch v {
		case 0:
			return "no subscription has ended", true
		case 1:
			return "a subscription has ended", true
		}
		return plural(v, "subscription") + " ended", true
	case "sub_failed_payments":
		if v == 0 {
			return "no failed payments on ended subscriptions", true
		}
		return plural(v, "failed payment") + " on ended subscriptions", true
	case "sub_count":
		if v == 0 {
			return noSubscription, true
		}
		return plural(v, "subscription") + " so far", true
	case "sub_mrr":
		return "monthly plan value " + num(v), true
	case "sub_months_active":
		if v == 0 && e.value(X, row, "sub_count") == 0 {
			return noSubscription, true
		}
		return monthWords(v) + " subscribed in total", true
	case "sub_current_months":
		return "current subscription " + monthWords(v) + " old", true
	case "sub_downgrades":
		if v == 0 {
			return "no downgrade", true
		}
		return plural(v, "downgrade"), true
	case "sub_upgrades":
		if v == 0 {
			return "no upgrade", true
		}
		return plural(v, "upgrade"), true
	case "days_since_last_event":
		return "no activity for " + dayWords(v), true
	case "events_lifetime":
		if v == 0 {
			return noEvent, true
		}
		return plural(v, "engagement event") + " in total", true
	case "trend_events_30d":
		return trendWords(v, "event", "events", "in the last 30 days than in the 30 days before", "in the last 30 days as in the 30 days before"), true
	case "event_active_days_30d":
		if v == 0 {
			return "not active on any day of the last 30", true
		}
		return "active on " + dayWords(v) + " of the last 30", true
	case "tickets_lifetime":
		if v == 0 {
			return noTicket, true
		}
		return plural(v, "support ticket") + " in total", true
	case "tickets_unresolved":
		if v == 0 {
			return "no open support ticket", true
		}
		return plural(v, "open support ticket"), true
	case "tickets_unresolved_urgent":
		if v == 0 {
			return "no open urgent ticket", true
		}
		return plural(v, "open urgent ticket"), true
	case "tickets_spike_30d":
		return trendWords(v, "ticket", "tickets", "in the last 30 days than in an average month before", "in the last 30 days as in an average month before"), true
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
		if v == 0 {
			return noSurvey, true
		}
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

// trendWords words a difference of counts: "3 fewer orders than …", "1
// more event …", "as many tickets …" (same says the rest for 0).
func trendWords(v float64, one, many, than, same string) string {
	switch {
	case v == 0:
		return "as many " + many + " " + same
	case v == -1:
		return "1 fewer " + one + " " + than
	case v < 0:
		return num(-v) + " fewer " + many + " " + than
	case v == 1:
		return "1 more " + one + " " + than
	}
	return num(v) + " more " + many + " " + than
}

// count is plural with an irregular plural ("1 product category", "3
// product categories").
func count(v float64, one, many string) string {
	s := num(v)
	if s == "1" {
		return "1 " + one
	}
	return s + " " + many
}

// pct words a share 0..1 as a whole percentage ("42%").
func pct(v float64) string { return num(math.Round(100*v)) + "%" }

// monthWords words a month count, "less than a month" below one.
func monthWords(v float64) string {
	if v < 1 && v > 0 {
		return "less than a month"
	}
	return plural(v, "month")
}

// weekWords words a week count: whole weeks, "less than a week" below one.
func weekWords(v float64) string {
	if v < 1 && v >= 0 {
		return "less than a week"
	}
	return plural(math.Round(v), "week")
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
