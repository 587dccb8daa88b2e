package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cron is a parsed five-field cron expression (minute hour day-of-month month
// day-of-week) evaluated in a time zone. Fields take *, lists (1,15), ranges
// (1-5), steps (*/15, 0-30/10) and the names jan…dec and sun…sat. As in
// classic cron, when both day-of-month and day-of-week are restricted a day
// matches if either does. The descriptors @daily, @weekly, @monthly, @hourly
// are accepted too.
type Cron struct {
	expr                     string
	minute, hour, dom, month uint64 // bit i set = value i allowed
	dow                      uint64
	domStar, dowStar         bool
	loc                      *time.Location
}

var cronDescriptors = map[string]string{
	"@hourly":   "0 * * * *",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@weekly":   "0 0 * * 0",
	"@monthly":  "0 0 1 * *",
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
}

var monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseCron parses a five-field cron expression, evaluated in UTC until In
// sets a time zone.
func ParseCron(expr string) (*Cron, error) {
	e := strings.TrimSpace(expr)
	if d, ok := cronDescriptors[strings.ToLower(e)]; ok {
		e = d
	}
	f := strings.Fields(e)
	if len(f) != 5 {
		return nil, fmt.Errorf("%q is not a cron expression like \"30 2 * * *\" (minute hour day-of-month month day-of-week)", expr)
	}
	c := &Cron{expr: expr, loc: time.UTC}
	var err error
	parts := []struct {
		name     string
		lo, hi   int
		names    []string
		nameBase int
		dst      *uint64
	}{
		{"minute", 0, 59, nil, 0, &c.minute},
		{"hour", 0, 23, nil, 0, &c.hour},
		{"day-of-month", 1, 31, nil, 0, &c.dom},
		{"month", 1, 12, monthNames, 1, &c.month},
		{"day-of-week", 0, 7, dayNames, 0, &c.dow},
	}
	for i, p := range parts {
		if *p.dst, err = parseCronField(f[i], p.lo, p.hi, p.names, p.nameBase); err != nil {
			return nil, fmt.Errorf("%q: %s field %q: %v", expr, p.name, f[i], err)
		}
	}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow |= 1
	}
	c.domStar = strings.HasPrefix(f[2], "*")
	c.dowStar = strings.HasPrefix(f[4], "*")
	return c, nil
}

func parseCronField(s string, lo, hi int, names []string, nameBase int) (uint64, error) {
	var bits uint64
	num := func(v string) (int, error) {
		for i, n := range names {
			if strings.EqualFold(v, n) {
				return i + nameBase, nil
			}
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", v)
		}
		if n < lo || n > hi {
			return 0, fmt.Errorf("%d is outside %d-%d", n, lo, hi)
		}
		return n, nil
	}
	for _, item := range strings.Split(s, ",") {
		rng, stepS, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			var err error
			if step, err = strconv.Atoi(stepS); err != nil || step <= 0 {
				return 0, fmt.Errorf("step %q is not a positive number", stepS)
			}
		}
		a, b := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			as, bs, _ := strings.Cut(rng, "-")
			var err error
			if a, err = num(as); err != nil {
				return 0, err
			}
			if b, err = num(bs); err != nil {
				return 0, err
			}
			if b < a {
				return 0, fmt.Errorf("range %q runs backwards", rng)
			}
		default:
			n, err := num(rng)
			if err != nil {
				return 0, err
			}
			a = n
			if hasStep {
				b = hi
			} else {
				b = n
			}
		}
		for v := a; v <= b; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

// In returns a copy evaluated in loc.
func (c *Cron) In(loc *time.Location) *Cron {
	cp := *c
	cp.loc = loc
	return &cp
}

// Location is the time zone the expression is evaluated in.
func (c *Cron) Location() *time.Location { return c.loc }

// String returns the expression as written.
func (c *Cron) String() string { return c.expr }

func (c *Cron) dayMatches(t time.Time) bool {
	domOK := c.dom&(1<<uint(t.Day())) != 0
	dowOK := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domStar || c.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
}

// Next returns the first matching time strictly after t (in the schedule's
// zone; the result carries that zone). It implements river.PeriodicSchedule.
// Local times skipped by a daylight-saving jump fire at the first instant after
// the jump.
func (c *Cron) Next(t time.Time) time.Time {
	t = t.In(c.loc).Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		if c.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, c.loc)
			continue
		}
		if !c.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, c.loc)
			continue
		}
		if c.hour&(1<<uint(t.Hour())) == 0 {
			want := t.Hour() + 1
			n := time.Date(t.Year(), t.Month(), t.Day(), want, 0, 0, 0, c.loc)
			if want < 24 && n.Hour() != want && n.After(t) && c.hour&(1<<uint(want)) != 0 && c.dayMatches(n) {
				return n // the wanted hour was skipped by a DST jump: fire right after it
			}
			if !n.After(t) { // DST fold: step an absolute hour
				n = t.Add(time.Hour).Truncate(time.Hour)
			}
			t = n
			continue
		}
		if c.minute&(1<<uint(t.Minute())) == 0 {
			t = t.Add(time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}

// Between lists the fire times in (from, to], oldest first.
func (c *Cron) Between(from, to time.Time) []time.Time {
	var out []time.Time
	for t := c.Next(from); !t.IsZero() && !t.After(to); t = c.Next(t) {
		out = append(out, t)
	}
	return out
}
