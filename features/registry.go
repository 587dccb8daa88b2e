package features

import (
	"fmt"

	"github.com/retainlab/retain/datasets"
)

// Feature kinds in the registry.
const (
	Numeric     = "numeric"
	Categorical = "categorical"
)

// Def describes one feature column: its name, a one-line meaning, the window
// it looks at (relative to the cutoff D: "30d" means [D-30d, D), "lifetime"
// means all history before D, "at cutoff" a state at D), its source table and
// kind. Categorical features are float64 codes 0..k-1 into Categories.
type Def struct {
	Name       string   `json:"name"`
	Meaning    string   `json:"meaning"`
	Window     string   `json:"window"`
	Source     string   `json:"source"`
	Kind       string   `json:"kind"`
	Categories []string `json:"categories,omitempty"`
}

// RegistryKey is the Parquet key-value metadata key holding the registry JSON.
const RegistryKey = "retain.features.registry"

// CutoffKey and HorizonKey record the build settings in the file metadata.
const (
	CutoffsKey = "retain.features.cutoffs"
	HorizonKey = "retain.features.horizon"
	KindKey    = "retain.features.churn_kind"
)

// windows of the windowed order features, in days.
var windowDays = [4]int{30, 90, 180, 365}

// group is the set of fixed features computed from one source table.
type group struct {
	table datasets.Table
	defs  []Def
}

func num(name, meaning, window string, t datasets.Table) Def {
	return Def{Name: name, Meaning: meaning, Window: window, Source: string(t), Kind: Numeric}
}

func cat(name, meaning, window string, t datasets.Table) Def {
	return Def{Name: name, Meaning: meaning, Window: window, Source: string(t), Kind: Categorical}
}

// Indices of the order features inside the orders group (see ordersGroup).
const (
	oRecency = iota
	oFreq30
	oFreq90
	oFreq180
	oFreq365
	oFreqLife
	oMon30
	oMon90
	oMon180
	oMon365
	oMonLife
	oFirstOrderDays
	oAOVLife
	oAOV90
	oAOV365
	oGapMean
	oGapStd
	oGapLast
	oOverdue
	oTrendFreq90
	oTrendMon90
	oTrendFreqRatio180
	oDistinctProducts
	oDistinctCategories
	oReturnsCount
	oReturnsValue
	oReturnsShare
	oDiscountShare
	oDiscountedShare
	oQuantityMean
	oLinesMean
	oLinesLife
	oItemsPerLineMean
	oItemPriceMean
	oFirstOrderLines
	oLastOrderLines
	oLastOrderQuantity
	oDistinctChannels
	oMainChannel
	oMainChannelShare
	oCLVFrequency
	oCLVRecency
	oCLVT
	oCLVMonetary
	oN
)

func ordersGroup() group {
	o := datasets.Orders
	d := make([]Def, oN)
	d[oRecency] = num("recency_days", "days from the last order to the cutoff", "lifetime", o)
	for k, w := range windowDays {
		win := fmt.Sprintf("%dd", w)
		d[oFreq30+k] = num(fmt.Sprintf("frequency_%dd", w), fmt.Sprintf("orders in the %d days before the cutoff", w), win, o)
		d[oMon30+k] = num(fmt.Sprintf("monetary_%dd", w), fmt.Sprintf("order value in the %d days before the cutoff", w), win, o)
	}
	d[oFreqLife] = num("frequency_lifetime", "orders before the cutoff", "lifetime", o)
	d[oMonLife] = num("monetary_lifetime", "order value before the cutoff", "lifetime", o)
	d[oFirstOrderDays] = num("days_since_first_order", "days from the first order to the cutoff", "lifetime", o)
	d[oAOVLife] = num("aov_lifetime", "average order value", "lifetime", o)
	d[oAOV90] = num("aov_90d", "average order value in the last 90 days (null without orders there)", "90d", o)
	d[oAOV365] = num("aov_365d", "average order value in the last 365 days (null without orders there)", "365d", o)
	d[oGapMean] = num("gap_mean_days", "mean days between consecutive orders (null with fewer than 2 orders)", "lifetime", o)
	d[oGapStd] = num("gap_std_days", "sample standard deviation of the days between orders (null with fewer than 3 orders)", "lifetime", o)
	d[oGapLast] = num("gap_last_days", "days between the last two orders (null with fewer than 2 orders)", "lifetime", o)
	d[oOverdue] = num("overdue_ratio", "days since the last order divided by the mean gap between orders (null when the mean gap is undefined or 0)", "lifetime", o)
	d[oTrendFreq90] = num("trend_frequency_90d", "orders in the last 90 days minus orders in the 90 days before those", "180d", o)
	d[oTrendMon90] = num("trend_monetary_90d", "order value in the last 90 days minus order value in the 90 days before those", "180d", o)
	d[oTrendFreqRatio180] = num("trend_frequency_ratio_180d", "orders in the last 180 days divided by orders in the 180 days before those (null when those are 0)", "360d", o)
	d[oDistinctProducts] = num("distinct_products", "distinct products ordered (null when no order names a product)", "lifetime", o)
	d[oDistinctCategories] = num("distinct_categories", "distinct product categories ordered (null when no order names a category)", "lifetime", o)
	d[oReturnsCount] = num("returns_count", "orders returned or cancelled (null when the returned flag is never recorded)", "lifetime", o)
	d[oReturnsValue] = num("returns_value", "value of the orders returned or cancelled (null when the returned flag is never recorded)", "lifetime", o)
	d[oReturnsShare] = num("returns_share", "share of orders returned or cancelled (null when the returned flag is never recorded)", "lifetime", o)
	d[oDiscountShare] = num("discount_share", "discount value divided by order value plus discount (null when no discount is recorded)", "lifetime", o)
	d[oDiscountedShare] = num("discounted_orders_share", "share of orders with a discount (null when no discount is recorded)", "lifetime", o)
	d[oQuantityMean] = num("quantity_mean", "mean items per order (null when quantity is never recorded)", "lifetime", o)
	d[oLinesMean] = num("lines_mean", "mean order lines per order (null when line counts are never recorded)", "lifetime", o)
	d[oLinesLife] = num("lines_lifetime", "order lines before the cutoff (null when line counts are never recorded)", "lifetime", o)
	d[oItemsPerLineMean] = num("items_per_line_mean", "mean over orders of items per order line, quantity ÷ lines (null without both)", "lifetime", o)
	d[oItemPriceMean] = num("item_price_mean", "mean over orders of the price per item, order value ÷ quantity (orders with quantity > 0; null without any)", "lifetime", o)
	d[oFirstOrderLines] = num("first_order_lines", "order lines of the first order (null when not recorded)", "lifetime", o)
	d[oLastOrderLines] = num("last_order_lines", "order lines of the latest order before the cutoff (null when not recorded)", "lifetime", o)
	d[oLastOrderQuantity] = num("last_order_quantity", "items in the latest order before the cutoff (null when not recorded)", "lifetime", o)
	d[oDistinctChannels] = num("distinct_channels", "distinct sales channels used (null when no order names a channel)", "lifetime", o)
	d[oMainChannel] = cat("main_channel", "the sales channel used most (ties: the latest used)", "lifetime", o)
	d[oMainChannelShare] = num("main_channel_share", "share of orders through the main channel", "lifetime", o)
	d[oCLVFrequency] = num("clv_frequency", "repeat purchase days: distinct days with an order, minus 1 (BG/NBD frequency)", "lifetime", o)
	d[oCLVRecency] = num("clv_recency_weeks", "weeks from the first to the last order (BG/NBD recency)", "lifetime", o)
	d[oCLVT] = num("clv_T_weeks", "weeks from the first order to the cutoff (BG/NBD T)", "lifetime", o)
	d[oCLVMonetary] = num("clv_monetary", "mean value per repeat purchase day (Gamma-Gamma monetary; null without repeat days)", "lifetime", o)
	return group{table: o, defs: d}
}

const (
	eN30 = iota
	eN90
	eNLife
	eDaysSince
	eTrend30
	eActiveDays30
	eN
)

func eventsGroup() group {
	e := datasets.Events
	d := make([]Def, eN)
	d[eN30] = num("events_30d", "engagement events in the last 30 days", "30d", e)
	d[eN90] = num("events_90d", "engagement events in the last 90 days", "90d", e)
	d[eNLife] = num("events_lifetime", "engagement events before the cutoff", "lifetime", e)
	d[eDaysSince] = num("days_since_last_event", "days from the last engagement event to the cutoff (null without events)", "lifetime", e)
	d[eTrend30] = num("trend_events_30d", "events in the last 30 days minus events in the 30 days before those", "60d", e)
	d[eActiveDays30] = num("event_active_days_30d", "distinct days with an event in the last 30 days", "30d", e)
	return group{table: e, defs: d}
}

const (
	tN30 = iota
	tN90
	tNLife
	tOpen
	tOpenUrgent
	tSpike
	tDaysSince
	tResolutionMean
	tN
)

func ticketsGroup() group {
	t := datasets.Tickets
	d := make([]Def, tN)
	d[tN30] = num("tickets_30d", "support tickets opened in the last 30 days", "30d", t)
	d[tN90] = num("tickets_90d", "support tickets opened in the last 90 days", "90d", t)
	d[tNLife] = num("tickets_lifetime", "support tickets opened before the cutoff", "lifetime", t)
	d[tOpen] = num("tickets_unresolved", "tickets opened before the cutoff and not closed before it", "at cutoff", t)
	d[tOpenUrgent] = num("tickets_unresolved_urgent", "unresolved tickets with priority high or urgent", "at cutoff", t)
	d[tSpike] = num("tickets_spike_30d", "tickets in the last 30 days minus the monthly average of the 90 days before those", "120d", t)
	d[tDaysSince] = num("days_since_last_ticket", "days from the last ticket to the cutoff (null without tickets)", "lifetime", t)
	d[tResolutionMean] = num("ticket_resolution_days_mean", "mean days to close, over tickets closed before the cutoff (null without any)", "lifetime", t)
	return group{table: t, defs: d}
}

const (
	sNPS = iota
	sNPSChange
	sCSAT
	sCSATChange
	sCES
	sCESChange
	sDaysSince
	sCount
	sN
)

func surveysGroup() group {
	s := datasets.Surveys
	d := make([]Def, sN)
	d[sNPS] = num("nps_last", "latest NPS answer 0-10 (null without one)", "lifetime", s)
	d[sNPSChange] = num("nps_change", "latest NPS answer minus the one before (null with fewer than 2)", "lifetime", s)
	d[sCSAT] = num("csat_last", "latest CSAT answer 1-5", "lifetime", s)
	d[sCSATChange] = num("csat_change", "latest CSAT answer minus the one before", "lifetime", s)
	d[sCES] = num("ces_last", "latest customer effort score 1-7", "lifetime", s)
	d[sCESChange] = num("ces_change", "latest CES answer minus the one before", "lifetime", s)
	d[sDaysSince] = num("days_since_last_survey", "days from the last survey answer to the cutoff (null without one)", "lifetime", s)
	d[sCount] = num("surveys_lifetime", "survey answers before the cutoff", "lifetime", s)
	return group{table: s, defs: d}
}

const (
	bActive = iota
	bPlan
	bMRR
	bMonthsActive
	bCurrentMonths
	bCount
	bDowngrades
	bUpgrades
	bFailedPayments
	bEnded
	bDaysSinceEnd
	bN
)

func subscriptionsGroup() group {
	s := datasets.Subscriptions
	d := make([]Def, bN)
	d[bActive] = num("sub_active", "1 when a subscription is active at the cutoff (started before it, not ended before it), else 0", "at cutoff", s)
	d[bPlan] = cat("sub_plan", "plan of the latest subscription started before the cutoff", "at cutoff", s)
	d[bMRR] = num("sub_mrr", "monthly recurring revenue of the latest subscription started before the cutoff", "at cutoff", s)
	d[bMonthsActive] = num("sub_months_active", "months covered by subscriptions before the cutoff", "lifetime", s)
	d[bCurrentMonths] = num("sub_current_months", "months since the start of the active subscription (null when none is active)", "at cutoff", s)
	d[bCount] = num("sub_count", "subscriptions started before the cutoff", "lifetime", s)
	d[bDowngrades] = num("sub_downgrades", "consecutive subscriptions whose MRR went down", "lifetime", s)
	d[bUpgrades] = num("sub_upgrades", "consecutive subscriptions whose MRR went up", "lifetime", s)
	d[bFailedPayments] = num("sub_failed_payments", "failed payments of subscriptions that ended before the cutoff (running ones' counts are not known point-in-time; null when never recorded)", "lifetime", s)
	d[bEnded] = num("sub_ended_count", "subscriptions that ended before the cutoff", "lifetime", s)
	d[bDaysSinceEnd] = num("days_since_sub_end", "days since the last subscription ended (null when one is active or none ended)", "lifetime", s)
	return group{table: s, defs: d}
}

// The profile group is always built: tenure from whatever tables exist.
const (
	pTenure = iota
	pN
)

func profileGroup() group {
	return group{table: "", defs: []Def{pTenure: {Name: "tenure_days",
		Meaning: "days from the customer's earliest known start (sign-up, first order or first subscription) to the cutoff",
		Window:  "lifetime", Source: "orders,subscriptions,customers", Kind: Numeric}}}
}

const (
	cSignupDays = iota
	cCountry
	cSegment
	cAcqChannel
	cGender
	cAge
	cN
)

func customersGroup() group {
	c := datasets.Customers
	d := make([]Def, cN)
	d[cSignupDays] = num("days_since_signup", "days from sign-up to the cutoff (null without a sign-up date before the cutoff)", "lifetime", c)
	d[cCountry] = cat("country", "country (customers table; unseen countries map to null)", "attribute", c)
	d[cSegment] = cat("segment", "business segment", "attribute", c)
	d[cAcqChannel] = cat("acquisition_channel", "channel that acquired the customer", "attribute", c)
	d[cGender] = cat("gender", "gender as recorded", "attribute", c)
	d[cAge] = num("age", "years from birth year to the cutoff's year", "attribute", c)
	return group{table: c, defs: d}
}

// Families are feature columns whose number depends on the data: one column
// per category of a column (event types, sales channels), the most frequent
// MaxFamilyCategories categories across the snapshot, ordered by name.
type family struct {
	name   string // registry family name
	table  datasets.Table
	subs   []famSub
	prefix string
}

type famSub struct {
	suffix, meaning, window string
}

// MaxFamilyCategories caps the per-category columns of a family.
const MaxFamilyCategories = 16

const (
	famEvents = iota
	famChannels
	famN
)

func families() [famN]family {
	return [famN]family{
		famEvents: {name: "events_by_type", table: datasets.Events, prefix: "events_", subs: []famSub{
			{"_30d", "events of type %q in the last 30 days", "30d"},
			{"_90d", "events of type %q in the last 90 days", "90d"},
		}},
		famChannels: {name: "orders_by_channel", table: datasets.Orders, prefix: "channel_share_", subs: []famSub{
			{"", "share of orders through channel %q (null when no order names a channel)", "lifetime"},
		}},
	}
}

// Registry lists every feature retain can build, in output order, for a
// snapshot holding every table (a table's features appear only when the
// snapshot has that table). Family features appear once as a pattern
// ("events_<type>_30d"). Used by `retain features --list`.
func Registry() []Def {
	var out []Def
	for _, g := range groups() {
		out = append(out, g.defs...)
	}
	for _, f := range families() {
		for _, s := range f.subs {
			out = append(out, Def{Name: f.prefix + "<" + categoryWord(f) + ">" + s.suffix,
				Meaning: fmt.Sprintf(s.meaning, "<"+categoryWord(f)+">") + fmt.Sprintf(" (one column per category, the %d most used)", MaxFamilyCategories),
				Window:  s.window, Source: string(f.table), Kind: Numeric})
		}
	}
	return out
}

func categoryWord(f family) string {
	if f.table == datasets.Events {
		return "type"
	}
	return "channel"
}

// groups returns the fixed groups in output order.
func groups() []group {
	return []group{profileGroup(), ordersGroup(), eventsGroup(), ticketsGroup(), surveysGroup(), subscriptionsGroup(), customersGroup()}
}

func sprintfMeaning(format, category string) string { return fmt.Sprintf(format, category) }
