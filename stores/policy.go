package stores

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Policy is the `policy:` section: the campaigns that turn tonight's risk list
// into the intervention queue.
type Policy struct {
	// Campaigns in order of precedence: a customer eligible for several goes
	// to the first and is suppressed ("in_other_campaign") in the others.
	Campaigns []Campaign `yaml:"campaigns,omitempty" json:"campaigns,omitempty"`
	// OptedOutFile is a CSV file with a customer_id column (header required)
	// of customers who must never be contacted; relative to data_dir.
	OptedOutFile string `yaml:"opted_out_file,omitempty" json:"opted_out_file,omitempty"`
	// OptedOutTable is a table in the store with a customer_id column, read
	// at publish time (e.g. synced from the CRM).
	OptedOutTable string `yaml:"opted_out_table,omitempty" json:"opted_out_table,omitempty"`
}

// Campaign is one intervention with its eligibility, capacity, cost,
// cool-down and control group.
type Campaign struct {
	// Name identifies the campaign in the queue (required, unique).
	Name string `yaml:"name" json:"name"`
	// Tiers eligible (default all).
	Tiers []string `yaml:"tiers,omitempty" json:"tiers,omitempty"`
	// Segments eligible (default all).
	Segments []string `yaml:"segments,omitempty" json:"segments,omitempty"`
	// MinValueAtRisk is the least value at risk worth contacting (default 0).
	MinValueAtRisk float64 `yaml:"min_value_at_risk,omitempty" json:"min_value_at_risk,omitempty"`
	// MinCLV is the least predicted CLV (default 0).
	MinCLV float64 `yaml:"min_clv,omitempty" json:"min_clv,omitempty"`
	// MinProbability is the least churn probability (default 0).
	MinProbability float64 `yaml:"min_probability,omitempty" json:"min_probability,omitempty"`
	// DailyCapacity is how many treated customers one night may queue
	// (default 0 = unlimited); the rest are suppressed "over_capacity".
	DailyCapacity int `yaml:"daily_capacity,omitempty" json:"daily_capacity,omitempty"`
	// CostPerContact: customers whose expected value saved is below it are
	// suppressed "below_cost" (default 0).
	CostPerContact float64 `yaml:"cost_per_contact,omitempty" json:"cost_per_contact,omitempty"`
	// Cooldown after a contact in any campaign, like "30d" (default 30d).
	Cooldown string `yaml:"cooldown,omitempty" json:"cooldown,omitempty"`
	// ControlShare is the share of eligible customers held out as control
	// (default 0.1; 0 disables the control group).
	ControlShare *float64 `yaml:"control_share,omitempty" json:"control_share,omitempty"`
	// Salt for the control assignment hash (default the name). Changing it
	// reshuffles the control group.
	Salt string `yaml:"salt,omitempty" json:"salt,omitempty"`
	// ExpiresAfter: queue rows expire this long after they are published (default 7d).
	ExpiresAfter string `yaml:"expires_after,omitempty" json:"expires_after,omitempty"`
}

// Validate checks the section; messages name the key.
func (p *Policy) Validate() error {
	seen := map[string]bool{}
	for i := range p.Campaigns {
		c := &p.Campaigns[i]
		key := fmt.Sprintf("policy.campaigns[%d]", i)
		if c.Name == "" {
			return badInput("%s.name: missing", key)
		}
		if strings.ContainsAny(c.Name, "|") || len(c.Name) > 100 {
			return badInput("%s.name: %q must be at most 100 characters without '|'", key, c.Name)
		}
		if seen[c.Name] {
			return badInput("%s.name: %q appears twice", key, c.Name)
		}
		seen[c.Name] = true
		for _, t := range c.Tiers {
			if t != TierHigh && t != TierMedium && t != TierLow {
				return badInput("%s.tiers: %q is not high, medium or low", key, t)
			}
		}
		if c.DailyCapacity < 0 {
			return badInput("%s.daily_capacity: %d is negative", key, c.DailyCapacity)
		}
		if c.CostPerContact < 0 {
			return badInput("%s.cost_per_contact: %g is negative", key, c.CostPerContact)
		}
		if c.ControlShare != nil && (*c.ControlShare < 0 || *c.ControlShare >= 1) {
			return badInput("%s.control_share: %g is not in [0, 1)", key, *c.ControlShare)
		}
		if _, err := ParseDays(c.Cooldown, 30); err != nil {
			return badInput("%s.cooldown: %v", key, err)
		}
		if _, err := ParseDays(c.ExpiresAfter, 7); err != nil {
			return badInput("%s.expires_after: %v", key, err)
		}
	}
	if p.OptedOutTable != "" && !identRe.MatchString(p.OptedOutTable) {
		return badInput("policy.opted_out_table: %q is not a lower-case SQL identifier", p.OptedOutTable)
	}
	return nil
}

// ParseDays reads "30d", "4w", "36h" or a plain number of days; empty gives def days.
func ParseDays(s string, def float64) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Duration(def * 24 * float64(time.Hour)), nil
	}
	unit := 24 * time.Hour
	num := s
	switch {
	case strings.HasSuffix(s, "d"):
		num = s[:len(s)-1]
	case strings.HasSuffix(s, "w"):
		num, unit = s[:len(s)-1], 7*24*time.Hour
	case strings.HasSuffix(s, "h"):
		num, unit = s[:len(s)-1], time.Hour
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a duration like 30d, 4w or 36h", s)
	}
	return time.Duration(n * float64(unit)), nil
}

func (c *Campaign) controlShare() float64 {
	if c.ControlShare == nil {
		return 0.1
	}
	return *c.ControlShare
}

func (c *Campaign) salt() string {
	if c.Salt != "" {
		return c.Salt
	}
	return c.Name
}

// Eligible reports whether a risk row meets the campaign's eligibility rules.
func (c *Campaign) Eligible(r *RiskRow) bool {
	if len(c.Tiers) > 0 && !slices.Contains(c.Tiers, r.RiskTier) {
		return false
	}
	if len(c.Segments) > 0 && !slices.Contains(c.Segments, r.Segment) {
		return false
	}
	return r.ValueAtRisk >= c.MinValueAtRisk && r.PredictedCLV >= c.MinCLV && r.ChurnProbability >= c.MinProbability
}

// IsControl is the deterministic control assignment: a hash of the campaign
// salt and the customer, so the same customer stays in (or out of) a
// campaign's control group every night while the salt is unchanged.
func (c *Campaign) IsControl(customer string) bool {
	return controlDraw(c.salt(), customer) < c.controlShare()
}

func controlDraw(salt, customer string) float64 {
	h := fnv.New64a()
	h.Write([]byte(salt))
	h.Write([]byte{0})
	h.Write([]byte(customer))
	// FNV-1a leaves its top bits poorly mixed for keys differing in the last
	// bytes; the splitmix64 finaliser spreads every input bit over all 64.
	// Never change this function: it would reshuffle every control group.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// ControlFor reports whether the customer is held out as control in the
// first campaign the row is eligible for (the risk row's control_group).
func (p *Policy) ControlFor(r *RiskRow) bool {
	for i := range p.Campaigns {
		if p.Campaigns[i].Eligible(r) {
			return p.Campaigns[i].IsControl(r.CustomerID)
		}
	}
	return false
}

// Contacts is what the store knows about earlier nights: the last time each
// customer was handed out (claimed) in any campaign.
type Contacts map[string]time.Time

// Suppression reasons.
const (
	ReasonOptedOut        = "opted_out"
	ReasonCooldown        = "cooldown"
	ReasonOtherCampaign   = "in_other_campaign"
	ReasonBelowCost       = "below_cost"
	ReasonOverCapacity    = "over_capacity"
	ReasonAlreadyInFlight = "in_flight"
)

// Plan turns the risk list into queue rows, campaign by campaign in order:
// eligible customers by priority (expected value saved = value at risk until
// uplift estimates exist), each either treated (pending), held out as control
// (pending, treatment=control, never handed out) or suppressed with its
// reason. Treated rows consume the daily capacity; control rows do not, but
// stop with it, so both come from the same priority range and lift is
// measured fairly.
func (p *Policy) Plan(rows []RiskRow, runID string, asOf, now time.Time, optedOut map[string]bool, contacts Contacts) []QueueRow {
	assigned := make(map[string]string) // customer → campaign tonight
	asOfDay := asOf.UTC().Truncate(24 * time.Hour)
	// each campaign's eligible rows by priority, first: the output is
	// allocated once (queue rows are large; growing the slice copied them)
	eligible := make([][]int32, len(p.Campaigns))
	total := 0
	for ci := range p.Campaigns {
		c := &p.Campaigns[ci]
		var idx []int32
		for i := range rows {
			if c.Eligible(&rows[i]) {
				idx = append(idx, int32(i))
			}
		}
		slices.SortFunc(idx, func(a, b int32) int {
			if d := cmp.Compare(rows[b].ValueAtRisk, rows[a].ValueAtRisk); d != 0 {
				return d
			}
			return strings.Compare(rows[a].CustomerID, rows[b].CustomerID)
		})
		eligible[ci] = idx
		total += len(idx)
	}
	out := make([]QueueRow, 0, total)
	for ci := range p.Campaigns {
		c := &p.Campaigns[ci]
		cool, _ := ParseDays(c.Cooldown, 30)
		exp, _ := ParseDays(c.ExpiresAfter, 7)
		treated := 0
		for _, i := range eligible[ci] {
			r := &rows[i]
			q := QueueRow{
				IdempotencyKey: IdempotencyKey(r.CustomerID, c.Name, asOf),
				RunID:          runID,
				CustomerID:     r.CustomerID,
				Campaign:       c.Name,
				AsOf:           asOfDay,
				Priority:       r.ValueAtRisk,
				Status:         StatusPending,
				Treatment:      Treatment,
				NotBefore:      now,
				ExpiresAt:      now.Add(exp),
				CreatedAt:      now,
				UpdatedAt:      now,
			}
			if c.IsControl(r.CustomerID) {
				q.Treatment = Control
			}
			last, contacted := contacts[r.CustomerID]
			switch {
			case optedOut[r.CustomerID]:
				q.SuppressionReason = ReasonOptedOut
			case assigned[r.CustomerID] != "":
				q.SuppressionReason = ReasonOtherCampaign + ":" + assigned[r.CustomerID]
			case contacted && now.Sub(last) < cool:
				q.SuppressionReason = ReasonCooldown
			case r.ValueAtRisk < c.CostPerContact:
				q.SuppressionReason = ReasonBelowCost
			case c.DailyCapacity > 0 && treated >= c.DailyCapacity:
				q.SuppressionReason = ReasonOverCapacity
			}
			if q.SuppressionReason != "" {
				q.Status = StatusSuppressed
			} else {
				assigned[r.CustomerID] = c.Name
				if q.Treatment == Treatment {
					treated++
				}
			}
			out = append(out, q)
		}
	}
	return out
}
