package pipeline

import (
	"fmt"
	"strconv"
	"strings"
)

// RetentionConfig is the `retention:` section of the config: how much of the
// nightly output is kept on disk and in the artifact store (retention.go).
//
//	retention:
//	  runs: 14      # keep runs/<run-id>/ of the newest 14 succeeded runs (default 14); 0 or off keeps all
//	  exports: 30   # keep the dated export files (risk-<date>.*, queue-<date>.csv) of the newest 30 dates (default 30); 0 or off keeps all
//
// It is left out of the config fingerprint: changing it never makes new runs.
type RetentionConfig struct {
	Runs    string `yaml:"runs,omitempty" json:"runs,omitempty"`
	Exports string `yaml:"exports,omitempty" json:"exports,omitempty"`
}

// Retention defaults.
const (
	DefaultRetentionRuns    = 14
	DefaultRetentionExports = 30
)

// Validate checks the section; messages name the offending key.
func (r *RetentionConfig) Validate() error {
	for _, k := range []struct{ key, v, what string }{
		{"retention.runs", r.Runs, "runs"},
		{"retention.exports", r.Exports, "dates"},
	} {
		if _, err := parseKeep(k.v, 0); err != nil {
			return fmt.Errorf("%s: %q is not a number of %s to keep (like 14) or off", k.key, k.v, k.what)
		}
	}
	return nil
}

// KeepRuns is how many succeeded runs keep their artifacts (0: all of them).
func (r RetentionConfig) KeepRuns() int {
	n, _ := parseKeep(r.Runs, DefaultRetentionRuns)
	return n
}

// KeepExports is how many dates of export files are kept (0: all of them).
func (r RetentionConfig) KeepExports() int {
	n, _ := parseKeep(r.Exports, DefaultRetentionExports)
	return n
}

// parseKeep reads a retention count: "" is def, "off" (or "0", "false",
// "no") is 0, meaning keep everything.
func parseKeep(s string, def int) (int, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return def, nil
	case "off", "false", "no":
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1000000 {
		return def, fmt.Errorf("bad retention count %q", s)
	}
	return n, nil
}
