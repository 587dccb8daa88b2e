package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/retainlab/retain/features"
)

// Retention removes what old runs leave behind (the `retention:` section):
//
//   - runs/<run-id>/ of every run but the newest retention.runs succeeded
//     ones (by as-of date, per the ledger), in data_dir (or the
//     schedule.artifacts folder) and, when schedule.artifacts is an object
//     store, the run's objects there too, together with the run's features
//     file shared under <data_dir>/features/ (the same file, hard-linked).
//     A running run is never removed (it may be under way on another
//     machine); a failed run is kept while its as-of date is within the kept
//     window (it can be resumed) and removed once it is older than the
//     oldest kept succeeded run. The ledger keeps every row: a removed run
//     is marked pruned, `retain runs` shows it, and running it again or
//     writing its reports fails with a message saying so.
//   - the dated export files (risk-<date>.parquet/.csv, queue-<date>.csv) of
//     every date but the newest retention.exports, never the files
//     risk_current.* point at.
//
// Nothing else of a run is read after it finished: a run's stages read only
// earlier stages of the same run (the run id is part of every stage's
// inputs), the champion model lives in <data_dir>/models/ (and models/ in
// the store), scoring copies it into the run's prep folder, reports live in
// <data_dir>/reports/<run-id>/ and are kept.

// PruneOptions tune Prune.
type PruneOptions struct {
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
	// Keep lists run ids never removed (the run that has just finished).
	Keep []string
	// Now is the clock for the ledger (default time.Now).
	Now func() time.Time
	// Logf prints a line per removal; optional.
	Logf func(format string, args ...any)
}

// PruneReport is what Prune removed (or, dry, would remove): the `retain
// prune --json` object.
type PruneReport struct {
	DryRun      bool         `json:"dry_run"`
	KeepRuns    int          `json:"keep_runs"`    // retention.runs (0: all kept)
	KeepExports int          `json:"keep_exports"` // retention.exports (0: all kept)
	Runs        []PrunedRun  `json:"runs"`
	Exports     []PrunedFile `json:"exports"`
	KeptRuns    int          `json:"kept_runs"` // ledger runs whose artifacts stay
	Bytes       int64        `json:"bytes"`     // everything removed, local and store
	Errors      []string     `json:"errors,omitempty"`
}

// PrunedRun is one run whose artifacts are removed.
type PrunedRun struct {
	RunID  string `json:"run_id"`
	AsOf   string `json:"as_of"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	// AlreadyPruned: the ledger had it pruned; only a local copy (another
	// machine's scratch folder) was left.
	AlreadyPruned bool   `json:"already_pruned,omitempty"`
	Local         string `json:"local,omitempty"` // the run folder removed
	LocalBytes    int64  `json:"local_bytes"`
	Store         string `json:"store,omitempty"` // the store prefix removed
	StoreObjects  int    `json:"store_objects"`
	StoreBytes    int64  `json:"store_bytes"`
	// Features is <data_dir>/features/features-<as-of>.parquet: a hard link of
	// the run's features file, so its bytes are counted in LocalBytes already.
	Features *PrunedFile  `json:"features,omitempty"`
	Files    []PrunedFile `json:"-"`
}

// PrunedFile is one file removed.
type PrunedFile struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// prunedError is running or reporting a run whose artifacts retention removed.
type prunedError struct {
	runID string
	at    time.Time
	rerun bool // running it again, rather than reading it
}

func (e prunedError) Error() string {
	msg := fmt.Sprintf("run %s: its artifacts (runs/%s/) were removed by retention (retention.runs) on %s",
		e.runID, e.runID, e.at.UTC().Format("2006-01-02 15:04 MST"))
	if e.rerun {
		msg += "; it succeeded, so it is not run again (that would publish that night again)"
	}
	return msg + "; `retain runs` still lists it, and its reports, if written, stay in <data_dir>/reports/" + e.runID + "/"
}

// BadInput: asking for a pruned run is bad usage (exit status 2), and a job
// worker does not retry it.
func (prunedError) BadInput() bool { return true }

// IsPruned reports whether err says a run's artifacts were pruned.
func IsPruned(err error) bool {
	var pe prunedError
	return errors.As(err, &pe)
}

// Prune applies cfg's retention to the runs in arts and the ledger l, and to
// the export folder. Errors on one run or file do not stop the others; they
// are joined into the returned error and listed in the report.
func Prune(ctx context.Context, cfg *Config, arts Artifacts, l *Ledger, o PruneOptions) (*PruneReport, error) {
	rep := &PruneReport{DryRun: o.DryRun, KeepRuns: cfg.Retention.KeepRuns(), KeepExports: cfg.Retention.KeepExports(),
		Runs: []PrunedRun{}, Exports: []PrunedFile{}}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	logf := func(format string, args ...any) {
		if o.Logf != nil {
			o.Logf(format, args...)
		}
	}
	verb := "removed"
	if o.DryRun {
		verb = "would remove"
	}
	var errs []error
	fail := func(err error) {
		errs = append(errs, err)
		rep.Errors = append(rep.Errors, err.Error())
	}
	if rep.KeepRuns > 0 && l != nil {
		runs, err := l.retentionRuns(ctx)
		if err != nil {
			return rep, err
		}
		drop, kept := pruneCandidates(runs, rep.KeepRuns, o.Keep)
		rep.KeptRuns = kept
		for _, r := range drop {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			pr, err := pruneRun(ctx, cfg, arts, r, o.DryRun)
			if err == nil && !o.DryRun && !r.Pruned {
				err = l.MarkPruned(ctx, r.RunID, pr.LocalBytes+pr.StoreBytes, now())
			}
			if err != nil {
				fail(fmt.Errorf("pruning run %s: %w", r.RunID, err))
			}
			if pr.Local == "" && pr.Store == "" && pr.Features == nil && r.Pruned {
				continue // nothing left of it here
			}
			b := pr.LocalBytes + pr.StoreBytes
			rep.Bytes += b
			rep.Runs = append(rep.Runs, pr)
			logf("retention: %s run %s (as of %s, %s): %s", verb, r.RunID, r.AsOf, r.Status, HumanBytes(b))
		}
	}
	if rep.KeepExports > 0 {
		files, err := pruneExports(cfg, rep.KeepExports, o.DryRun)
		if err != nil {
			fail(err)
		}
		for _, f := range files {
			rep.Bytes += f.Bytes
			logf("retention: %s %s (%s)", verb, f.Path, HumanBytes(f.Bytes))
		}
		rep.Exports = append(rep.Exports, files...)
	}
	return rep, errors.Join(errs...)
}

// pruneCandidates splits the ledger's runs (newest first) into the runs to
// remove and the number kept: the newest keep succeeded runs stay, running
// runs stay, failed runs stay while their as-of date is not older than the
// oldest kept succeeded run (or while fewer than keep runs succeeded), and
// the runs named in always stay.
func pruneCandidates(runs []retentionRun, keep int, always []string) (drop []retentionRun, kept int) {
	pinned := map[string]bool{}
	for _, id := range always {
		pinned[id] = true
	}
	succeeded, oldestKept := 0, ""
	for _, r := range runs {
		if r.Status == StatusSucceeded && succeeded < keep {
			succeeded++
			oldestKept = r.AsOf
		}
	}
	succeeded = 0
	for _, r := range runs {
		keepIt := false
		switch r.Status {
		case StatusSucceeded:
			keepIt = succeeded < keep
			succeeded++
		case StatusFailed:
			keepIt = succeeded < keep || r.AsOf >= oldestKept
		default: // running (or anything unknown): it may be under way somewhere
			keepIt = true
		}
		if keepIt || pinned[r.RunID] {
			kept++
			continue
		}
		drop = append(drop, r)
	}
	return drop, kept
}

// pruneRun removes one run's artifacts: the shared features link first
// (it is found through the run folder), the local run folder, then the
// run's objects in the store (manifests first, so a reader never sees a
// manifest whose outputs are gone). Already pruned runs only lose what is
// left locally.
func pruneRun(ctx context.Context, cfg *Config, arts Artifacts, r retentionRun, dry bool) (PrunedRun, error) {
	pr := PrunedRun{RunID: r.RunID, AsOf: r.AsOf, Kind: r.Kind, Status: r.Status, AlreadyPruned: r.Pruned}
	if r.RunID == "" || strings.ContainsAny(r.RunID, `/\`) || strings.HasPrefix(r.RunID, ".") {
		return pr, fmt.Errorf("run id %q cannot be a folder name", r.RunID)
	}
	dir := arts.RunDir(r.RunID)
	// <data_dir>/features/features-<as-of>.parquet is a hard link of the run's
	// features file (shareFeatures): remove it only when it still is.
	if asOf, err := ParseAsOf(r.AsOf); err == nil {
		name := features.FileName([]time.Time{asOf})
		shared := filepath.Join(cfg.DataDir, "features", name)
		a, errA := os.Stat(shared)
		b, errB := os.Stat(filepath.Join(dir, StageFeatures, name))
		if errA == nil && errB == nil && os.SameFile(a, b) {
			pr.Features = &PrunedFile{Path: shared, Bytes: a.Size()}
			if !dry {
				if err := os.Remove(shared); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return pr, fmt.Errorf("removing %s: %w", shared, err)
				}
			}
		}
	}
	if n, err := dirBytes(dir); err != nil {
		return pr, err
	} else if n >= 0 {
		pr.Local, pr.LocalBytes = dir, n
		if !dry {
			if err := os.RemoveAll(dir); err != nil {
				return pr, fmt.Errorf("removing %s: %w", dir, err)
			}
		}
	}
	if arts.Store == nil || r.Pruned {
		return pr, nil
	}
	lister, ok := arts.Store.(interface {
		List(ctx context.Context, prefix string, fn func(key string, size int64) error) error
	})
	if !ok {
		return pr, fmt.Errorf("the artifact store %s cannot list objects", arts.Store)
	}
	prefix := "runs/" + r.RunID + "/"
	var manifests, others []string
	err := lister.List(ctx, prefix, func(key string, size int64) error {
		pr.StoreObjects++
		pr.StoreBytes += size
		if path := strings.TrimPrefix(key, prefix); filepath.Base(path) == manifestName {
			manifests = append(manifests, key)
		} else {
			others = append(others, key)
		}
		return nil
	})
	if err != nil {
		return pr, err
	}
	if pr.StoreObjects > 0 {
		pr.Store = arts.Store.String() + "/" + prefix
	}
	if dry {
		return pr, nil
	}
	for _, k := range append(manifests, others...) {
		if err := arts.Store.Delete(ctx, k); err != nil {
			return pr, err
		}
	}
	return pr, nil
}

// dirBytes is the size of the files under dir, -1 when dir does not exist.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return -1, nil
		}
	}
	if err != nil {
		return 0, fmt.Errorf("sizing %s: %w", dir, err)
	}
	return n, nil
}

// exportDate reads the date of a dated export file name: risk-<date>.parquet,
// risk-<date>.csv, queue-<date>.csv.
func exportDate(name string) (string, bool) {
	var rest string
	switch {
	case strings.HasPrefix(name, "risk-"):
		rest = strings.TrimPrefix(name, "risk-")
		if r, ok := strings.CutSuffix(rest, ".parquet"); ok {
			rest = r
		} else if r, ok := strings.CutSuffix(rest, ".csv"); ok {
			rest = r
		} else {
			return "", false
		}
	case strings.HasPrefix(name, "queue-"):
		r, ok := strings.CutSuffix(strings.TrimPrefix(name, "queue-"), ".csv")
		if !ok {
			return "", false
		}
		rest = r
	default:
		return "", false
	}
	if _, err := time.Parse(time.DateOnly, rest); err != nil {
		return "", false
	}
	return rest, true
}

// pruneExports removes the dated export files of every date but the newest
// keep, and never a file that risk_current.parquet/.csv is (they are hard
// links of the night published last, which a backfill may have made an older
// date).
func pruneExports(cfg *Config, keep int, dry bool) ([]PrunedFile, error) {
	dir := cfg.Stores.Resolved(cfg.DataDir).Files
	if dir == "" || dir == "off" {
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing exports: %w", err)
	}
	var current []os.FileInfo
	for _, n := range []string{"risk_current.parquet", "risk_current.csv"} {
		if st, err := os.Stat(filepath.Join(dir, n)); err == nil {
			current = append(current, st)
		}
	}
	byDate := map[string][]string{}
	var dates []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		d, ok := exportDate(e.Name())
		if !ok {
			continue
		}
		if _, seen := byDate[d]; !seen {
			dates = append(dates, d)
		}
		byDate[d] = append(byDate[d], e.Name())
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dates)))
	var out []PrunedFile
	var errs []error
	for i, d := range dates {
		if i < keep {
			continue
		}
		pinned := false
		infos := map[string]os.FileInfo{}
		for _, n := range byDate[d] {
			st, err := os.Stat(filepath.Join(dir, n))
			if err != nil {
				continue
			}
			infos[n] = st
			for _, c := range current {
				pinned = pinned || os.SameFile(st, c)
			}
		}
		if pinned {
			continue // what risk_current is: keep the whole date
		}
		for _, n := range byDate[d] {
			st, ok := infos[n]
			if !ok {
				continue
			}
			p := filepath.Join(dir, n)
			if !dry {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, fmt.Errorf("removing %s: %w", p, err))
					continue
				}
			}
			out = append(out, PrunedFile{Path: p, Bytes: st.Size()})
		}
	}
	return out, errors.Join(errs...)
}

// HumanBytes prints a size like 143.2 MB (powers of 1000).
func HumanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// StagePrune is the ledger name of the retention step after a successful
// run; like the report step it is not a stage of the plan and its failure
// never fails the run.
const StagePrune = "prune"

// PruneAfterRun applies the config's retention after run p succeeded (never
// removing p itself). What it removed is logged and recorded as a "prune"
// row among the run's stages (rows = runs removed); a failure is logged and
// recorded as a failed "prune" row; the run stays succeeded either way.
func (e *Executor) PruneAfterRun(ctx context.Context, p *Plan) *PruneReport {
	if p.Config == nil || (p.Config.Retention.KeepRuns() == 0 && p.Config.Retention.KeepExports() == 0) {
		return nil
	}
	start := e.now()
	rep, err := Prune(ctx, p.Config, e.Artifacts, e.Ledger, PruneOptions{Keep: []string{p.RunID}, Now: e.now, Logf: e.logf})
	d := e.now().Sub(start)
	status, msg, removed := StatusSucceeded, "", int64(0)
	if rep != nil {
		removed = int64(len(rep.Runs))
	}
	if err != nil {
		status, msg = StatusFailed, strings.ReplaceAll(err.Error(), "\n", "; ")
		e.logf("warning: run %s succeeded but retention failed: %s", p.RunID, msg)
	} else if rep != nil && (len(rep.Runs) > 0 || len(rep.Exports) > 0) {
		e.logf("  %-9s %d runs and %d export files removed (%s) in %s", StagePrune, len(rep.Runs), len(rep.Exports), HumanBytes(rep.Bytes), d.Round(time.Millisecond))
	}
	e.Metrics.stageFinished(StagePrune, status, d, removed)
	// The ledger gets a "prune" row when retention removed or failed something.
	if e.Ledger == nil || (err == nil && (rep == nil || (len(rep.Runs) == 0 && len(rep.Exports) == 0))) {
		return rep
	}
	lctx := context.WithoutCancel(ctx)
	now := e.now()
	lerr := e.Ledger.StageStarted(lctx, p.RunID, StagePrune, len(p.Stages)+1, now.Add(-d))
	if lerr == nil {
		lerr = e.Ledger.StageFinished(lctx, p.RunID, StagePrune, status, false, removed, d, msg, now)
	}
	if lerr != nil {
		e.logf("warning: %v", lerr)
	}
	return rep
}

// checkPruned refuses to run a succeeded run whose artifacts were pruned
// (rerunning it would publish that night again); a failed or unfinished run
// that was pruned starts afresh, so its pruned mark is dropped.
func (e *Executor) checkPruned(ctx context.Context, p *Plan) error {
	if e.Ledger == nil {
		return nil
	}
	at, err := e.Ledger.PrunedAt(ctx, p.RunID)
	if err != nil || at == nil {
		return err
	}
	st, err := e.Ledger.RunStatus(ctx, p.RunID)
	if err != nil {
		return err
	}
	if st == StatusSucceeded {
		return prunedError{runID: p.RunID, at: *at, rerun: true}
	}
	return e.Ledger.Unprune(ctx, p.RunID)
}

// RunPruned reports whether the ledger at cfg's schedule.database has run
// runID's artifacts removed by retention; the error says so in full.
func RunPruned(ctx context.Context, cfg *Config, runID string) error {
	db := LedgerDatabase(cfg)
	if !IsPostgres(db) {
		if _, err := os.Stat(db); err != nil {
			return nil // no ledger: nothing was pruned
		}
	}
	l, err := OpenLedger(ctx, db, cfg.Schedule.Schema)
	if err != nil {
		return err
	}
	defer l.Close()
	at, err := l.PrunedAt(ctx, runID)
	if err != nil || at == nil {
		return err
	}
	return prunedError{runID: runID, at: *at}
}
