// Package synth owns retain's synthetic customer histories with known ground
// truth: purchases from a BG/NBD process, spend from the Gamma-Gamma model,
// and subscriptions, support tickets, surveys and engagement events whose
// patterns shift in the weeks before a customer dies, written as the
// canonical tables of package datasets (CSV or Parquet) beside a ready-to-use
// retain.yaml and the true parameters (truth.json) and per-customer truth
// (truth.csv / truth.parquet).
//
// Rules: output is a pure function of the Config (byte-identical files for
// the same seed and flags, whatever the number of goroutines): every customer
// draws from its own seeded math/rand/v2 PCG substreams, one per table, so
// choosing fewer tables never changes the others. Customers are generated in
// chunks in parallel and written in customer order by one streaming writer
// per table, so memory is bounded by a few chunks whatever the customer
// count. Time in the generative model is measured in weeks.
package synth

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/retainlab/retain/datasets"
)

// Config says what to generate. Zero values take the documented defaults
// (see Defaults); Validate checks it and names the offending flag.
type Config struct {
	Customers int    // number of customers (required, ≥ 1)
	Seed      uint64 // seed of every random choice
	Format    string // csv (default) or parquet
	// Start and End bound the observation window [Start, End). Defaults:
	// 2023-01-01 and 2025-01-01. Customers sign up uniformly over the first
	// AcquisitionShare of the window (default 0.75).
	Start, End       time.Time
	AcquisitionShare float64
	// Tables to write (default all generated tables: customers, orders,
	// events, subscriptions, tickets, surveys). customers and orders are
	// always written.
	Tables []datasets.Table

	// BG/NBD: purchase rate lambda ~ Gamma(shape R, rate Alpha) per week;
	// after each repeat purchase the customer dies with probability
	// p ~ Beta(A, B). Defaults r=0.9, alpha=6, a=0.8, b=4.
	R, Alpha, A, B float64
	// OrdersPerCustomer, when > 0, overrides Alpha: Alpha is solved so that
	// the expected number of orders per customer (first + repeat, over the
	// window) equals it.
	OrdersPerCustomer float64
	// Gamma-Gamma: each order's value z ~ Gamma(shape P, rate nu) with
	// nu ~ Gamma(shape Q, rate Gamma); a customer's mean spend is P/nu.
	// Defaults are the CDNOW estimates p=6.25, q=3.74, gamma=15.44.
	P, Q, Gamma float64
	// EventsPerWeek is the mean engagement rate (logins, views, email opens)
	// of an active customer (default 0.5).
	EventsPerWeek float64
	// Signal scales how strongly behaviour shifts in the SignalWeeks (default
	// 8) before death: 1 (default) = ticket rate ×5, NPS −4 points, logins
	// −70% by the death time; 0 = no shift (churn is then visible only in
	// RFM). A negative value means 0.
	Signal      float64
	SignalWeeks float64
	// ReturnRate is the share of orders marked returned (default 0.02). They
	// are part of the BG/NBD process like every other order.
	ReturnRate float64
	// ChunkSize is the number of customers generated per work unit (default
	// 1024); Workers the number of generating goroutines (default GOMAXPROCS).
	// Neither changes the output.
	ChunkSize, Workers int
}

// Generated lists the tables the generator can write, in write order.
var Generated = []datasets.Table{datasets.Customers, datasets.Orders, datasets.Events, datasets.Subscriptions, datasets.Tickets, datasets.Surveys}

// Defaults returns cfg with zero fields set to their defaults.
func (c Config) Defaults() Config {
	if c.Format == "" {
		c.Format = "csv"
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.End.IsZero() {
		c.End = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c.Start, c.End = c.Start.UTC(), c.End.UTC()
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.AcquisitionShare, 0.75)
	def(&c.R, 0.9)
	def(&c.Alpha, 6)
	def(&c.A, 0.8)
	def(&c.B, 4)
	def(&c.P, 6.25)
	def(&c.Q, 3.74)
	def(&c.Gamma, 15.44)
	def(&c.EventsPerWeek, 0.5)
	def(&c.SignalWeeks, 8)
	def(&c.ReturnRate, 0.02)
	if c.Signal == 0 {
		c.Signal = 1
	}
	if c.Signal < 0 {
		c.Signal = 0
	}
	if len(c.Tables) == 0 {
		c.Tables = slices.Clone(Generated)
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 1024
	}
	return c
}

// Validate checks a defaulted Config; messages name the CLI flag.
func (c Config) Validate() error {
	if c.Customers < 1 {
		return fmt.Errorf("--customers: %d, want at least 1", c.Customers)
	}
	if c.Customers > 99_999_999 {
		return fmt.Errorf("--customers: %d, at most 99,999,999", c.Customers)
	}
	if c.Format != "csv" && c.Format != "parquet" {
		return fmt.Errorf("--format: %q is not csv or parquet", c.Format)
	}
	if !c.End.After(c.Start) {
		return fmt.Errorf("--end: %s is not after --start %s", c.End.Format(time.DateOnly), c.Start.Format(time.DateOnly))
	}
	if c.AcquisitionShare <= 0 || c.AcquisitionShare > 1 {
		return fmt.Errorf("acquisition share %g is not in (0, 1]", c.AcquisitionShare)
	}
	for _, p := range []struct {
		flag string
		v    float64
	}{{"--r", c.R}, {"--alpha", c.Alpha}, {"--a", c.A}, {"--b", c.B}, {"--p", c.P}, {"--q", c.Q}, {"--gamma", c.Gamma}, {"--events-per-week", c.EventsPerWeek}, {"--signal-weeks", c.SignalWeeks}} {
		if !(p.v > 0) || math.IsInf(p.v, 0) {
			return fmt.Errorf("%s: %g, want a positive number", p.flag, p.v)
		}
	}
	if c.OrdersPerCustomer < 0 || math.IsNaN(c.OrdersPerCustomer) {
		return fmt.Errorf("--orders-per-customer: %g, want a positive number", c.OrdersPerCustomer)
	}
	if c.OrdersPerCustomer > 0 && c.OrdersPerCustomer <= 1 {
		return fmt.Errorf("--orders-per-customer: %g, want more than 1 (every customer has a first order)", c.OrdersPerCustomer)
	}
	if c.ReturnRate < 0 || c.ReturnRate >= 1 {
		return fmt.Errorf("--return-rate: %g is not in [0, 1)", c.ReturnRate)
	}
	seen := map[datasets.Table]bool{}
	for _, t := range c.Tables {
		if !slices.Contains(Generated, t) {
			names := make([]string, len(Generated))
			for i, g := range Generated {
				names[i] = string(g)
			}
			return fmt.Errorf("--tables: %q is not a generated table (%s)", t, strings.Join(names, ", "))
		}
		seen[t] = true
	}
	if !seen[datasets.Customers] || !seen[datasets.Orders] {
		return fmt.Errorf("--tables: customers and orders are always generated; list them too")
	}
	return nil
}

// has reports whether table t is generated.
func (c Config) has(t datasets.Table) bool { return slices.Contains(c.Tables, t) }

// windowWeeks is the length of the observation window in weeks.
func (c Config) windowWeeks() float64 { return c.End.Sub(c.Start).Hours() / (24 * 7) }

// Resolve returns the defaulted, validated Config with Alpha solved from
// OrdersPerCustomer when that is set.
func (c Config) Resolve() (Config, error) {
	c = c.Defaults()
	if err := c.Validate(); err != nil {
		return c, err
	}
	if c.OrdersPerCustomer > 0 {
		alpha, err := SolveAlpha(c.R, c.A, c.B, c.windowWeeks(), c.AcquisitionShare, c.OrdersPerCustomer)
		if err != nil {
			return c, fmt.Errorf("--orders-per-customer: %w", err)
		}
		c.Alpha = alpha
	}
	return c, nil
}
