package pipeline

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/retainlab/retain/pipeline/blobstore"
)

// ScheduleConfig is the `schedule:` section of the config: when nightly
// scoring and retraining run, where the run ledger and the job queue live,
// and how stages are retried and timed out.
//
//	schedule:
//	  timezone: Europe/Berlin      # default UTC
//	  nightly: "30 2 * * *"        # cron (minute hour day-of-month month day-of-week); default "0 2 * * *"
//	  retrain: "0 4 * * 0"         # empty: no periodic retraining
//	  catch_up: 3d                 # missed nights older than this are not caught up (default 3d)
//	  database: ""                 # run ledger + job queue: empty = SQLite <data_dir>/retain.db,
//	                               # a file path, or postgres://… for production
//	  schema: ""                   # Postgres schema for the ledger and River tables (default public)
//	  stage_timeout: 2h            # per stage (default 2h)
//	  retries: 3                   # attempts per stage after the first (default 3)
//	  retry_backoff: 10s           # first retry delay, doubling each attempt (default 10s)
//	  webhook: https://…           # optional: POSTed a JSON body when a run fails
//	  artifacts: ""                # where runs/ live: default <data_dir>; a folder on a shared filesystem;
//	                               # or an object store URL (file:///shared/retain, s3://bucket/prefix?region=…,
//	                               # gs://bucket/prefix) with <data_dir> as each machine's local copy
//	  embedded: true               # `retain serve` schedules and works runs itself (default true)
type ScheduleConfig struct {
	Timezone     string `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	Nightly      string `yaml:"nightly,omitempty" json:"nightly,omitempty"`
	Retrain      string `yaml:"retrain,omitempty" json:"retrain,omitempty"`
	CatchUp      string `yaml:"catch_up,omitempty" json:"catch_up,omitempty"`
	Database     string `yaml:"database,omitempty" json:"database,omitempty"`
	Schema       string `yaml:"schema,omitempty" json:"schema,omitempty"`
	StageTimeout string `yaml:"stage_timeout,omitempty" json:"stage_timeout,omitempty"`
	Retries      *int   `yaml:"retries,omitempty" json:"retries,omitempty"`
	RetryBackoff string `yaml:"retry_backoff,omitempty" json:"retry_backoff,omitempty"`
	Webhook      string `yaml:"webhook,omitempty" json:"webhook,omitempty"`
	Artifacts    string `yaml:"artifacts,omitempty" json:"artifacts,omitempty"`
	// Embedded runs the scheduler and a worker inside `retain serve` (default true).
	Embedded *bool `yaml:"embedded,omitempty" json:"embedded,omitempty"`
}

// EmbeddedOrDefault reports whether `retain serve` runs the scheduler (default true).
func (s ScheduleConfig) EmbeddedOrDefault() bool { return s.Embedded == nil || *s.Embedded }

// Schedule defaults.
const (
	DefaultNightly      = "0 2 * * *"
	DefaultCatchUp      = 72 * time.Hour
	DefaultStageTimeout = 2 * time.Hour
	DefaultRetries      = 3
	DefaultRetryBackoff = 10 * time.Second
)

// scheduleError is a bad `schedule:` value: exit status 2.
type scheduleError struct{ msg string }

func (e scheduleError) Error() string { return e.msg }
func (scheduleError) BadInput() bool  { return true }

func schedErrf(f string, a ...any) error { return scheduleError{fmt.Sprintf(f, a...)} }

// Validate checks the section; messages name the offending key.
func (s ScheduleConfig) Validate() error {
	if s.Timezone != "" {
		if _, err := time.LoadLocation(s.Timezone); err != nil {
			return schedErrf("schedule.timezone: %q is not a time zone like Europe/Berlin", s.Timezone)
		}
	}
	if s.Nightly != "" {
		if _, err := ParseCron(s.Nightly); err != nil {
			return schedErrf("schedule.nightly: %v", err)
		}
	}
	if s.Retrain != "" {
		if _, err := ParseCron(s.Retrain); err != nil {
			return schedErrf("schedule.retrain: %v", err)
		}
	}
	for _, d := range []struct{ key, v, like string }{
		{"schedule.catch_up", s.CatchUp, "3d"},
		{"schedule.stage_timeout", s.StageTimeout, "2h"},
		{"schedule.retry_backoff", s.RetryBackoff, "10s"},
	} {
		if d.v == "" {
			continue
		}
		v, err := parseSpan(d.v)
		if err != nil || v <= 0 {
			return schedErrf("%s: %q is not a duration like %s", d.key, d.v, d.like)
		}
	}
	if s.Retries != nil && (*s.Retries < 0 || *s.Retries > 100) {
		return schedErrf("schedule.retries: %d is not between 0 and 100", *s.Retries)
	}
	if s.Webhook != "" {
		u, err := url.Parse(s.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return schedErrf("schedule.webhook: %q is not an http(s) URL", s.Webhook)
		}
	}
	if isArtifactsURL(s.Artifacts) {
		if _, err := blobstore.Parse(os.ExpandEnv(s.Artifacts)); err != nil {
			return schedErrf("schedule.artifacts: %v", err)
		}
	}
	if s.Schema != "" && !isIdent(s.Schema) {
		return schedErrf("schedule.schema: %q is not a plain SQL identifier (letters, digits, _)", s.Schema)
	}
	return nil
}

func isIdent(s string) bool {
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return s != ""
}

// Location returns the schedule's time zone (UTC by default). Call Validate first.
func (s ScheduleConfig) Location() *time.Location {
	if s.Timezone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// NightlyCron returns the nightly schedule (default "0 2 * * *").
func (s ScheduleConfig) NightlyCron() *Cron {
	expr := s.Nightly
	if expr == "" {
		expr = DefaultNightly
	}
	c, err := ParseCron(expr)
	if err != nil {
		c, _ = ParseCron(DefaultNightly)
	}
	return c.In(s.Location())
}

// RetrainCron returns the retraining schedule, nil when none is configured.
func (s ScheduleConfig) RetrainCron() *Cron {
	if s.Retrain == "" {
		return nil
	}
	c, err := ParseCron(s.Retrain)
	if err != nil {
		return nil
	}
	return c.In(s.Location())
}

func (s ScheduleConfig) dur(v string, def time.Duration) time.Duration {
	if v == "" {
		return def
	}
	d, err := parseSpan(v)
	if err != nil || d <= 0 {
		return def
	}
	return d
}

// CatchUpWindow is how far back missed nights are still run (default 3 days).
func (s ScheduleConfig) CatchUpWindow() time.Duration { return s.dur(s.CatchUp, DefaultCatchUp) }

// StageTimeoutDuration is the per-stage timeout (default 2h).
func (s ScheduleConfig) StageTimeoutDuration() time.Duration {
	return s.dur(s.StageTimeout, DefaultStageTimeout)
}

// RetryBackoffDuration is the first retry delay (default 10s), doubled per attempt.
func (s ScheduleConfig) RetryBackoffDuration() time.Duration {
	return s.dur(s.RetryBackoff, DefaultRetryBackoff)
}

// RetriesOrDefault is the number of retries per stage after the first attempt (default 3).
func (s ScheduleConfig) RetriesOrDefault() int {
	if s.Retries == nil {
		return DefaultRetries
	}
	return *s.Retries
}

// IsPostgres reports whether the ledger and job queue live in Postgres.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// parseSpan reads durations in days or weeks ("3d", "2w") or anything
// time.ParseDuration accepts ("90m", "2h").
func parseSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	unit := time.Duration(0)
	switch s[len(s)-1] {
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	}
	if unit != 0 {
		n, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		return time.Duration(n * float64(unit)), nil
	}
	return time.ParseDuration(s)
}
