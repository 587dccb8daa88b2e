package features

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Churn kinds: what "churned" means.
const (
	// KindOrders is non-contractual churn: a customer is eligible at D with at
	// least one order before D (within the lookback when one is set) and
	// churned when they place no order in [D, D+horizon).
	KindOrders = "orders"
	// KindSubscriptions is contractual churn: a customer is eligible at D with
	// a subscription active at D and churned when no subscription of theirs is
	// active any more at D+horizon (all coverage ended in [D, D+horizon)).
	KindSubscriptions = "subscriptions"
)

// DefaultHorizon is the churn horizon when churn.horizon is not set.
const DefaultHorizon = 90 * Day

// Day is 24 hours; feature windows and horizons are whole days.
const Day = 24 * time.Hour

// ChurnConfig is the `churn:` section of the config: what churn means for
// this business (non-contractual orders or contractual subscriptions), the
// horizon and the lookback that decides eligibility.
//
// Defaults: kind orders, horizon 90d, lookback empty (all history).
type ChurnConfig struct {
	Kind     string `yaml:"kind,omitempty" json:"kind,omitempty"`         // orders (default) or subscriptions
	Horizon  string `yaml:"horizon,omitempty" json:"horizon,omitempty"`   // e.g. 90d (default)
	Lookback string `yaml:"lookback,omitempty" json:"lookback,omitempty"` // e.g. 365d; empty = all history
}

// badConfig is a config error: exit status 2 in the CLI.
type badConfig struct{ msg string }

func (e badConfig) Error() string         { return e.msg }
func (badConfig) BadInput() bool          { return true }
func badConfigf(f string, a ...any) error { return badConfig{fmt.Sprintf(f, a...)} }

// Validate checks the section; messages name the offending key.
func (c ChurnConfig) Validate() error {
	switch c.Kind {
	case "", KindOrders, KindSubscriptions:
	default:
		return badConfigf("churn.kind: %q is not orders or subscriptions", c.Kind)
	}
	if c.Horizon != "" {
		d, err := ParseDuration(c.Horizon)
		if err != nil || d <= 0 {
			return badConfigf("churn.horizon: %q is not a duration like 90d", c.Horizon)
		}
	}
	if c.Lookback != "" {
		d, err := ParseDuration(c.Lookback)
		if err != nil || d <= 0 {
			return badConfigf("churn.lookback: %q is not a duration like 365d", c.Lookback)
		}
	}
	return nil
}

// KindOrDefault returns the churn kind, orders when unset.
func (c ChurnConfig) KindOrDefault() string {
	if c.Kind == "" {
		return KindOrders
	}
	return c.Kind
}

// HorizonDuration returns the horizon (default 90 days). Call Validate first.
func (c ChurnConfig) HorizonDuration() time.Duration {
	if c.Horizon == "" {
		return DefaultHorizon
	}
	d, _ := ParseDuration(c.Horizon)
	return d
}

// LookbackDuration returns the lookback, 0 meaning all history.
func (c ChurnConfig) LookbackDuration() time.Duration {
	if c.Lookback == "" {
		return 0
	}
	d, _ := ParseDuration(c.Lookback)
	return d
}

// ParseDuration reads durations written in days or weeks ("90d", "12w"),
// plus anything time.ParseDuration accepts ("36h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	unit := time.Duration(0)
	switch s[len(s)-1] {
	case 'd':
		unit = Day
	case 'w':
		unit = 7 * Day
	}
	if unit != 0 {
		n, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err != nil || math.IsNaN(n) || math.Abs(n*float64(unit)) >= math.MaxInt64 {
			return 0, fmt.Errorf("%q is not a duration like 90d", s)
		}
		return time.Duration(n * float64(unit)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 90d", s)
	}
	return d, nil
}
