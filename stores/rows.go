package stores

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"math"
	"time"
)

// Reason is one of a customer's top churn drivers: the feature, its
// contribution to the log-odds and a sentence in words.
type Reason struct {
	Feature      string  `json:"feature"`
	Contribution float64 `json:"contribution"`
	Text         string  `json:"text"`
}

// RiskRow is DESIGN.md's risk list row: one per customer and publish.
// Dates are UTC; ExpectedNextOrder is zero when unknown.
type RiskRow struct {
	CustomerID        string    `json:"customer_id"`
	AsOf              time.Time `json:"as_of"`
	ScoredAt          time.Time `json:"scored_at"`
	RunID             string    `json:"run_id"`
	ModelVersion      string    `json:"model_version"`
	ChurnProbability  float64   `json:"churn_probability"`
	RiskTier          string    `json:"risk_tier"`
	ChurnPercentile   float64   `json:"churn_percentile"`
	PAlive            float64   `json:"p_alive"`
	ExpectedPurchases float64   `json:"expected_purchases"`
	PredictedCLV      float64   `json:"predicted_clv"`
	HistoricCLV       float64   `json:"historic_clv"`
	ValueAtRisk       float64   `json:"value_at_risk"`
	ExpectedNextOrder time.Time `json:"expected_next_order_date"`
	Reasons           []Reason  `json:"reasons"`
	Segment           string    `json:"segment"`
	ValueRiskCell     string    `json:"value_risk_cell"`
	ControlGroup      bool      `json:"control_group"`
}

// Risk tiers.
const (
	TierHigh   = "high"
	TierMedium = "medium"
	TierLow    = "low"
)

// ReasonsJSON encodes the reasons as the JSON list stored in the tables and
// files: json.Marshal's bytes (appendReasonsJSON).
func (r *RiskRow) ReasonsJSON() string {
	if len(r.Reasons) == 0 {
		return "[]"
	}
	n := 2
	for i := range r.Reasons {
		n += len(r.Reasons[i].Feature) + len(r.Reasons[i].Text) + 64
	}
	b, ok := appendReasonsJSON(make([]byte, 0, n), r.Reasons)
	if !ok {
		return "" // as json.Marshal's nil result for a NaN or infinite contribution
	}
	return string(b)
}

// Hash is the row's content hash: it changes exactly when something a CRM
// acts on changes (scores, tier, CLV, reasons, segment, control flag, model),
// not when only the as-of date, run or scoring time move on. Reverse-ETL
// tools sync rows whose updated_at moved, and updated_at only moves with it.
func (r *RiskRow) Hash() string { return r.hashWith(r.ReasonsJSON()) }

// hashWith is Hash given the row's ReasonsJSON.
func (r *RiskRow) hashWith(reasons string) string {
	h := fnv.New128a()
	var b [8]byte
	f := func(v float64) {
		// round to 1e-9 so float noise from re-scoring the same inputs does not count as change
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(math.Round(v*1e9)/1e9))
		h.Write(b[:])
	}
	s := func(v string) { h.Write([]byte(v)); h.Write([]byte{0}) }
	s(r.CustomerID)
	s(r.ModelVersion)
	f(r.ChurnProbability)
	s(r.RiskTier)
	f(r.ChurnPercentile)
	f(r.PAlive)
	f(r.ExpectedPurchases)
	f(r.PredictedCLV)
	f(r.HistoricCLV)
	f(r.ValueAtRisk)
	s(dateString(r.ExpectedNextOrder))
	s(reasons)
	s(r.Segment)
	s(r.ValueRiskCell)
	if r.ControlGroup {
		s("1")
	} else {
		s("0")
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Queue statuses.
const (
	StatusPending    = "pending"
	StatusClaimed    = "claimed"
	StatusDone       = "done"
	StatusSuppressed = "suppressed"
	StatusExpired    = "expired"
	StatusFailed     = "failed"
)

// Treatments.
const (
	Treatment = "treatment"
	Control   = "control"
)

// QueueRow is DESIGN.md's intervention queue row.
type QueueRow struct {
	ID                int64     `json:"id"`
	IdempotencyKey    string    `json:"idempotency_key"`
	RunID             string    `json:"run_id"`
	CustomerID        string    `json:"customer_id"`
	Campaign          string    `json:"campaign"`
	AsOf              time.Time `json:"as_of"`
	Priority          float64   `json:"priority"`
	Status            string    `json:"status"`
	SuppressionReason string    `json:"suppression_reason,omitempty"`
	Treatment         string    `json:"treatment"`
	NotBefore         time.Time `json:"not_before"`
	ExpiresAt         time.Time `json:"expires_at"`
	ClaimedBy         string    `json:"claimed_by,omitempty"`
	ClaimedAt         time.Time `json:"claimed_at,omitzero"`
	LeaseUntil        time.Time `json:"lease_until,omitzero"`
	Attempts          int       `json:"attempts"`
	Outcome           string    `json:"outcome,omitempty"`
	OutcomeValue      float64   `json:"outcome_value,omitempty"`
	OutcomeAt         time.Time `json:"outcome_at,omitzero"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// IdempotencyKey is the queue row's unique key: customer, campaign and as-of date.
func IdempotencyKey(customer, campaign string, asOf time.Time) string {
	return customer + "|" + campaign + "|" + dateString(asOf)
}

func dateString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}
