package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"
)

// Run kinds, as recorded in the ledger.
const (
	KindNightly  = "nightly"
	KindRetrain  = "retrain"
	KindManual   = "manual"
	KindBackfill = "backfill"
)

// ConfigFingerprint is a short hash of everything in the config that can
// change a run's output. The schedule section is left out (moving the
// nightly time does not make a new run), and so is data_dir: it is where a
// machine keeps its files, and machines sharing runs through an object store
// may keep them in different places; extract_memory only bounds memory (the
// snapshot is the same bytes whatever the budget); retention only decides
// what is deleted later.
func ConfigFingerprint(cfg *Config) (string, error) {
	if cfg == nil {
		return "00000000", nil
	}
	cp := *cfg
	cp.Schedule = ScheduleConfig{}
	cp.DataDir = ""
	cp.ExtractMemory = ""
	cp.Retention = RetentionConfig{} // json:"-" already; kept explicit
	b, err := json.Marshal(&cp)
	if err != nil {
		return "", fmt.Errorf("fingerprinting the config: %w", err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:4]), nil
}

// RunID names a run: <as-of date>-<config fingerprint>, plus the kind when it
// is not a scoring run (retraining runs are separate runs of the same night).
// The same date and config always give the same id, so a repeated run finds
// its own completed stages.
func RunID(asOf time.Time, configFP, kind string) string {
	id := asOf.Format("2006-01-02") + "-" + configFP
	if kind == KindRetrain {
		id += "-retrain"
	}
	return id
}

// ParseAsOf reads an as-of date (YYYY-MM-DD) as midnight UTC.
func ParseAsOf(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, asOfError{s}
	}
	return t, nil
}

type asOfError struct{ v string }

func (e asOfError) Error() string {
	return fmt.Sprintf("as-of date %q is not a date like 2026-12-03", e.v)
}
func (asOfError) BadInput() bool { return true }

// BuildVersion names the build that wrote a manifest: module version and VCS
// revision when known.
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}
