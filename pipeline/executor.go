package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Stage is one step of a run, given to the executor as a value. A stage
// writes only into the folder it is handed; the executor publishes that folder
// atomically as runs/<run-id>/<name>/ with a manifest.
//
// A whole stage sets Run. A per-shard stage sets RunShard (one customer shard
// into its own folder; shards are independent and may run on different
// machines) and Merge (combine the parts, in shard order, into the stage's
// folder), and optionally Prepare (what every shard needs that is computed
// over all customers at once, written before the shards run).
type Stage struct {
	Name string
	// Version changes when the stage's logic changes its output: completed
	// stages written by another version are redone.
	Version string
	// Inputs fingerprints what the stage reads from outside the run folder
	// (source files, the champion model); optional. Upstream stages' outputs
	// are fingerprinted by the executor.
	Inputs func(ctx context.Context, rc *RunContext) (string, error)
	// Run writes the whole stage into out.
	Run func(ctx context.Context, rc *RunContext, out string) (StageResult, error)
	// RunShard writes shard (of rc.Shards) into out.
	RunShard func(ctx context.Context, rc *RunContext, shard int, out string) (StageResult, error)
	// Merge combines the completed parts (folders, in shard order) into out.
	Merge func(ctx context.Context, rc *RunContext, parts []string, out string) (StageResult, error)
	// Reads names the earlier stages of the run whose folders the stage
	// reads; nil means every earlier stage. With runs in an object store a
	// machine downloads only these before running the stage.
	Reads []string
	// Prepare, optional for a per-shard stage, writes into out what the
	// shards read (rc.PrepDir), once, before they run: the executor publishes
	// it as runs/<run-id>/<stage>.prep/ with a manifest, and the shards' and
	// the merge's inputs include its output hashes.
	Prepare func(ctx context.Context, rc *RunContext, out string) (StageResult, error)
}

// Sharded reports whether the stage runs one job per shard.
func (s *Stage) Sharded() bool { return s.RunShard != nil }

// StageResult is what a stage reports besides its files.
type StageResult struct {
	Rows int64
	Info map[string]any
}

// RunContext is what a stage sees of its run.
type RunContext struct {
	RunID  string
	AsOf   time.Time
	Kind   string
	Shards int
	Config *Config
	Dir    string // runs/<run-id>
	// Now is the executor's clock (stages that stamp times use it).
	Now  func() time.Time
	arts Artifacts
}

// StageDir is the completed folder of an earlier stage of this run.
func (rc *RunContext) StageDir(stage string) string { return rc.arts.StageDir(rc.RunID, stage) }

// PartDir is the completed folder of one shard of an earlier per-shard stage.
func (rc *RunContext) PartDir(stage string, shard int) string {
	return rc.arts.PartDir(rc.RunID, stage, shard)
}

// PrepDir is the completed Prepare folder of a per-shard stage of this run.
func (rc *RunContext) PrepDir(stage string) string { return rc.arts.PrepDir(rc.RunID, stage) }

// Plan is one run: its identity and its stages in order.
type Plan struct {
	RunID    string
	AsOf     time.Time
	Kind     string // nightly, retrain, manual, backfill
	ConfigFP string
	Shards   int
	Stages   []Stage
	Config   *Config
}

// StageIndex returns the position of a stage in the plan, -1 if absent.
func (p *Plan) StageIndex(name string) int {
	for i := range p.Stages {
		if p.Stages[i].Name == name {
			return i
		}
	}
	return -1
}

// Executor runs plans: locally (Run), or one stage or shard at a time for the
// distributed job workers (RunStage, RunPart). It is safe for concurrent use.
type Executor struct {
	Artifacts Artifacts
	// Ledger records runs and stages; optional.
	Ledger *Ledger
	// Metrics counts runs and stages; optional.
	Metrics *Metrics
	// Webhook receives a JSON POST when a run fails; optional.
	Webhook string
	// StageTimeout bounds each attempt of a stage or shard (0 = none).
	StageTimeout time.Duration
	// Retries is the number of extra attempts of a failing stage or shard,
	// after Backoff, doubling (0 = fail at once; job workers leave retrying to
	// the queue).
	Retries int
	Backoff time.Duration
	// Parallel is how many shards a local run processes at once (default GOMAXPROCS).
	Parallel int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Host names this process in the ledger (default hostname:pid).
	Host string
	// Logf prints progress lines; optional.
	Logf func(format string, args ...any)
	// Crash, when set, is called at named points (tests kill the process there).
	Crash func(point string)
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Executor) host() string {
	if e.Host != "" {
		return e.Host
	}
	h, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}

func (e *Executor) logf(format string, args ...any) {
	if e.Logf != nil {
		e.Logf(format, args...)
	}
}

func (e *Executor) crash(point string) {
	if e.Crash != nil {
		e.Crash(point)
	}
}

// StageError is a failed stage: the run, the stage (and shard) and the cause.
type StageError struct {
	RunID string
	Stage string
	Shard int // -1 for a whole stage
	Err   error
}

func (e *StageError) Error() string {
	msg := strings.ReplaceAll(e.Err.Error(), "\n", " ")
	if e.Shard >= 0 {
		return fmt.Sprintf("run %s failed in stage %s (shard %d): %s", e.RunID, e.Stage, e.Shard, msg)
	}
	return fmt.Sprintf("run %s failed in stage %s: %s", e.RunID, e.Stage, msg)
}

func (e *StageError) Unwrap() error { return e.Err }

// BadInput passes on the cause's bad-input marking (exit status 2).
func (e *StageError) BadInput() bool {
	var bi interface{ BadInput() bool }
	return errors.As(e.Err, &bi) && bi.BadInput()
}

// StageOutcome is what happened to one stage (or shard) in this call.
type StageOutcome struct {
	Stage    string        `json:"stage"`
	Shard    *int          `json:"shard,omitempty"`
	Skipped  bool          `json:"skipped"`
	Rows     int64         `json:"rows"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"seconds"`
	Dir      string        `json:"dir"`
	// PeakRSSMiB is the process's peak resident memory while the stage ran
	// (for a per-shard stage: prepare, the shards this process ran and the
	// merge together), on the stage's own outcome; omitted where the
	// platform does not say (Linux does).
	PeakRSSMiB float64 `json:"peak_rss_mib,omitempty"`
}

// RunReport summarises a run.
type RunReport struct {
	RunID   string         `json:"run_id"`
	AsOf    string         `json:"as_of"`
	Kind    string         `json:"kind"`
	Status  string         `json:"status"`
	Dir     string         `json:"dir"`
	Stages  []StageOutcome `json:"stages"`
	Seconds float64        `json:"seconds"`
	Error   string         `json:"error,omitempty"`
	Stage   string         `json:"failed_stage,omitempty"`
}

func (e *Executor) runContext(p *Plan) *RunContext {
	return &RunContext{RunID: p.RunID, AsOf: p.AsOf, Kind: p.Kind, Shards: p.Shards, Config: p.Config,
		Dir: e.Artifacts.RunDir(p.RunID), Now: e.now, arts: e.Artifacts}
}

// stageInputs fingerprints stage i: its name and version, the run, the
// outputs of every earlier stage and the stage's own external inputs. The
// earlier stages must be complete.
func (e *Executor) stageInputs(ctx context.Context, p *Plan, i int) (string, error) {
	s := &p.Stages[i]
	parts := []string{"stage", s.Name, s.Version, p.RunID, p.AsOf.UTC().Format(time.RFC3339), fmt.Sprint(p.Shards)}
	for j := 0; j < i; j++ {
		m, err := e.Artifacts.Manifest(ctx, e.Artifacts.StageDir(p.RunID, p.Stages[j].Name))
		if err != nil {
			return "", err
		}
		if m == nil {
			return "", fmt.Errorf("stage %s has not completed", p.Stages[j].Name)
		}
		parts = append(parts, p.Stages[j].Name, m.Digest())
	}
	if s.Inputs != nil {
		x, err := s.Inputs(ctx, e.runContext(p))
		if err != nil {
			return "", fmt.Errorf("fingerprinting inputs: %w", err)
		}
		parts = append(parts, "external", x)
	}
	return fingerprint(parts...), nil
}

// Run executes a plan on this machine: every stage in order, each skipped
// when its manifest matches its inputs, so a crashed or repeated run resumes
// from the first incomplete stage. Per-shard stages run their shards in
// parallel goroutines. The ledger, metrics and webhook hear about it.
func (e *Executor) Run(ctx context.Context, p *Plan) (*RunReport, error) {
	start := e.now()
	rep := &RunReport{RunID: p.RunID, AsOf: p.AsOf.Format("2006-01-02"), Kind: p.Kind, Status: StatusRunning, Dir: e.Artifacts.RunDir(p.RunID)}
	if err := e.checkPruned(ctx, p); err != nil {
		return rep, err
	}
	if err := e.Artifacts.CleanTemp(p.RunID); err != nil {
		return rep, err
	}
	// A run the ledger already has as succeeded is rerun quietly: complete
	// stages are reported as skipped without touching its record; only if a
	// stage has to run again (its inputs changed) is the run restarted.
	quiet := false
	if e.Ledger != nil {
		st, err := e.Ledger.RunStatus(ctx, p.RunID)
		if err != nil {
			return rep, err
		}
		quiet = st == StatusSucceeded
	}
	if !quiet {
		if err := e.BeginRun(ctx, p); err != nil {
			return rep, err
		}
	}
	for i := range p.Stages {
		if quiet {
			if ok, _ := e.StageComplete(ctx, p, i); ok {
				dir := e.Artifacts.StageDir(p.RunID, p.Stages[i].Name)
				m, _ := e.Artifacts.Manifest(ctx, dir)
				o := StageOutcome{Stage: p.Stages[i].Name, Skipped: true, Dir: dir}
				if m != nil {
					o.Rows = m.Rows
				}
				e.logf("  %-9s skipped (complete: %d rows)", o.Stage, o.Rows)
				rep.Stages = append(rep.Stages, o)
				continue
			}
			quiet = false
			if err := e.BeginRun(ctx, p); err != nil {
				return rep, err
			}
		}
		measured := resetPeakRSS()
		outs, err := e.RunStage(ctx, p, i)
		if k := len(outs) - 1; measured && k >= 0 && outs[k].Shard == nil && outs[k].Stage == p.Stages[i].Name && !outs[k].Skipped {
			outs[k].PeakRSSMiB = peakRSSMiB()
			if outs[k].PeakRSSMiB > 0 {
				e.logf("  %-9s peak memory %.0f MiB", outs[k].Stage, outs[k].PeakRSSMiB)
			}
		}
		rep.Stages = append(rep.Stages, outs...)
		if err != nil {
			rep.Status, rep.Error, rep.Stage = StatusFailed, err.Error(), p.Stages[i].Name
			rep.Seconds = e.now().Sub(start).Seconds()
			e.FailRun(context.WithoutCancel(ctx), p, p.Stages[i].Name, err)
			return rep, err
		}
	}
	rep.Status = StatusSucceeded
	rep.Seconds = e.now().Sub(start).Seconds()
	if quiet {
		e.logf("run %s was already complete", p.RunID)
		return rep, nil
	}
	if err := e.EndRun(ctx, p, start); err != nil {
		return rep, err
	}
	return rep, nil
}

// BeginRun records a run (re)starting.
func (e *Executor) BeginRun(ctx context.Context, p *Plan) error {
	e.logf("run %s (as of %s, %s)", p.RunID, p.AsOf.Format("2006-01-02"), p.Kind)
	if e.Ledger != nil {
		return e.Ledger.StartRun(ctx, p.RunID, p.AsOf.Format("2006-01-02"), p.Kind, p.ConfigFP, e.host(), e.now())
	}
	return nil
}

// EndRun records a successful run (started may be zero when unknown).
func (e *Executor) EndRun(ctx context.Context, p *Plan, started time.Time) error {
	var d time.Duration
	if !started.IsZero() {
		d = e.now().Sub(started)
	}
	e.Metrics.runFinished(p.Kind, StatusSucceeded, d, e.now())
	e.logf("run %s succeeded", p.RunID)
	if e.Ledger != nil {
		return e.Ledger.FinishRun(ctx, p.RunID, StatusSucceeded, "", "", e.now())
	}
	return nil
}

// FailRun records a failed run (stage and error), counts it and calls the
// webhook. Its own errors are logged, not returned: the run's error matters.
func (e *Executor) FailRun(ctx context.Context, p *Plan, stage string, cause error) {
	e.Metrics.runFinished(p.Kind, StatusFailed, 0, e.now())
	msg := cause.Error()
	if e.Ledger != nil {
		if err := e.Ledger.FinishRun(ctx, p.RunID, StatusFailed, stage, msg, e.now()); err != nil {
			e.logf("warning: %v", err)
		}
	}
	if e.Webhook != "" {
		if err := postFailure(ctx, e.Webhook, FailureEvent{RunID: p.RunID, AsOf: p.AsOf.Format("2006-01-02"), Kind: p.Kind,
			Stage: stage, Error: msg, Host: e.host(), At: e.now().UTC()}); err != nil {
			e.logf("warning: failure webhook: %v", err)
		}
	}
}

// StageComplete reports whether stage i is complete with its current inputs
// (the stages before it must be complete).
func (e *Executor) StageComplete(ctx context.Context, p *Plan, i int) (bool, error) {
	inputs, err := e.stageInputs(ctx, p, i)
	if err != nil {
		return false, err
	}
	_, ok := e.Artifacts.complete(ctx, e.Artifacts.StageDir(p.RunID, p.Stages[i].Name), inputs)
	return ok, nil
}

// RunStage brings stage i to completion: skipped when complete with the
// same inputs; a per-shard stage runs its missing shards here, then merges.
// Stages before i must be complete.
func (e *Executor) RunStage(ctx context.Context, p *Plan, i int) ([]StageOutcome, error) {
	s := &p.Stages[i]
	stErr := func(err error) error {
		var se *StageError
		if errors.As(err, &se) {
			return err
		}
		return &StageError{RunID: p.RunID, Stage: s.Name, Shard: -1, Err: err}
	}
	if err := e.checkPruned(ctx, p); err != nil {
		return nil, stErr(err)
	}
	inputs, err := e.stageInputs(ctx, p, i)
	if err != nil {
		return nil, stErr(err)
	}
	final := e.Artifacts.StageDir(p.RunID, s.Name)
	if m, ok := e.Artifacts.complete(ctx, final, inputs); ok {
		e.logf("  %-9s skipped (complete: %d rows)", s.Name, m.Rows)
		e.recordSkip(ctx, p, i, m.Rows)
		return []StageOutcome{{Stage: s.Name, Skipped: true, Rows: m.Rows, Dir: final}}, nil
	}
	start := e.now()
	if e.Ledger != nil {
		if err := e.Ledger.StageStarted(ctx, p.RunID, s.Name, i, start); err != nil {
			return nil, err
		}
	}
	var outs []StageOutcome
	fail := func(err error) ([]StageOutcome, error) {
		err = stErr(err)
		e.Metrics.stageFinished(s.Name, StatusFailed, e.now().Sub(start), 0)
		if e.Ledger != nil {
			if lerr := e.Ledger.StageFinished(context.WithoutCancel(ctx), p.RunID, s.Name, StatusFailed, false, 0, e.now().Sub(start), err.Error(), e.now()); lerr != nil {
				e.logf("warning: %v", lerr)
			}
		}
		return outs, err
	}
	// a per-shard stage's prepare and shards fetch what they read when they
	// run; its merge reads only their folders
	if !s.Sharded() {
		if err := e.fetchEarlier(ctx, p, i); err != nil {
			return fail(err)
		}
	}
	var partDirs []string
	partInputs := map[string]string{}
	if s.Sharded() {
		if s.Merge == nil {
			return fail(fmt.Errorf("per-shard stage has no Merge"))
		}
		if s.Prepare != nil {
			o, err := e.runPrepare(ctx, p, i, inputs)
			if err != nil {
				return fail(err)
			}
			outs = append(outs, o)
			m, err := e.Artifacts.Manifest(ctx, o.Dir)
			if err != nil || m == nil {
				return fail(fmt.Errorf("prepare has no manifest: %v", err))
			}
			partInputs["prepare"] = m.Digest()
			if err := e.Artifacts.Fetch(ctx, o.Dir); err != nil {
				return fail(err)
			}
		}
		parts, err := e.runParts(ctx, p, i, inputs)
		outs = append(outs, parts...)
		if err != nil {
			return fail(err)
		}
		for sh := 0; sh < p.Shards; sh++ {
			dir := e.Artifacts.PartDir(p.RunID, s.Name, sh)
			m, err := e.Artifacts.Manifest(ctx, dir)
			if err != nil || m == nil {
				return fail(fmt.Errorf("shard %d has no manifest: %v", sh, err))
			}
			// The merge reads every part (and the prep) here.
			if err := e.Artifacts.Fetch(ctx, dir); err != nil {
				return fail(err)
			}
			partDirs = append(partDirs, dir)
			partInputs[fmt.Sprintf("part-%05d", sh)] = m.Digest()
		}
	}
	var res StageResult
	err = e.attempt(ctx, s.Name, -1, func(ctx context.Context) error {
		var err error
		res, err = e.produce(ctx, p, s, final, inputs, nil, partInputs, func(ctx context.Context, out string) (StageResult, error) {
			if s.Sharded() {
				return s.Merge(ctx, e.runContext(p), partDirs, out)
			}
			if s.Run == nil {
				return StageResult{}, fmt.Errorf("stage has neither Run nor RunShard")
			}
			return s.Run(ctx, e.runContext(p), out)
		})
		return err
	})
	if err != nil {
		return fail(err)
	}
	d := e.now().Sub(start)
	e.logf("  %-9s done: %d rows in %s", s.Name, res.Rows, d.Round(time.Millisecond))
	e.Metrics.stageFinished(s.Name, StatusSucceeded, d, res.Rows)
	if e.Ledger != nil {
		if err := e.Ledger.StageFinished(ctx, p.RunID, s.Name, StatusSucceeded, false, res.Rows, d, "", e.now()); err != nil {
			return outs, err
		}
	}
	outs = append(outs, StageOutcome{Stage: s.Name, Rows: res.Rows, Duration: d, Seconds: d.Seconds(), Dir: final})
	return outs, nil
}

func (e *Executor) recordSkip(ctx context.Context, p *Plan, i int, rows int64) {
	e.Metrics.stageSkipped(p.Stages[i].Name)
	if e.Ledger == nil {
		return
	}
	now := e.now()
	if err := e.Ledger.StageStarted(ctx, p.RunID, p.Stages[i].Name, i, now); err == nil {
		err = e.Ledger.StageFinished(ctx, p.RunID, p.Stages[i].Name, StatusSucceeded, true, rows, 0, "", now)
		if err != nil {
			e.logf("warning: %v", err)
		}
	}
}

// runParts runs the incomplete shards of a per-shard stage, Parallel at a time.
func (e *Executor) runParts(ctx context.Context, p *Plan, i int, inputs string) ([]StageOutcome, error) {
	par := e.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	outs := make([]StageOutcome, p.Shards)
	errs := make([]error, p.Shards)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for sh := 0; sh < p.Shards; sh++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(sh int) {
			defer wg.Done()
			defer func() { <-sem }()
			outs[sh], errs[sh] = e.runPart(ctx, p, i, sh, inputs)
			if errs[sh] != nil {
				cancel()
			}
		}(sh)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return outs, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return outs, err
		}
	}
	return outs, nil
}

// RunPart brings one shard of per-shard stage i to completion (skipped when
// complete with the same inputs). Stages before i must be complete.
func (e *Executor) RunPart(ctx context.Context, p *Plan, i, shard int) (StageOutcome, error) {
	if err := e.checkPruned(ctx, p); err != nil {
		return StageOutcome{}, &StageError{RunID: p.RunID, Stage: p.Stages[i].Name, Shard: shard, Err: err}
	}
	inputs, err := e.stageInputs(ctx, p, i)
	if err != nil {
		return StageOutcome{}, &StageError{RunID: p.RunID, Stage: p.Stages[i].Name, Shard: shard, Err: err}
	}
	return e.runPart(ctx, p, i, shard, inputs)
}

// RunPrepare brings the Prepare step of per-shard stage i to completion
// (skipped when complete with the same inputs; nothing to do when the stage
// has none). Stages before i must be complete. Job workers run it before
// fanning out; a shard needs it complete.
func (e *Executor) RunPrepare(ctx context.Context, p *Plan, i int) (StageOutcome, error) {
	if err := e.checkPruned(ctx, p); err != nil {
		return StageOutcome{}, &StageError{RunID: p.RunID, Stage: p.Stages[i].Name, Shard: -1, Err: err}
	}
	inputs, err := e.stageInputs(ctx, p, i)
	if err != nil {
		return StageOutcome{}, &StageError{RunID: p.RunID, Stage: p.Stages[i].Name, Shard: -1, Err: err}
	}
	return e.runPrepare(ctx, p, i, inputs)
}

func (e *Executor) runPrepare(ctx context.Context, p *Plan, i int, stageInputs string) (StageOutcome, error) {
	s := &p.Stages[i]
	name := s.Name + ".prep"
	final := e.Artifacts.PrepDir(p.RunID, s.Name)
	if s.Prepare == nil {
		return StageOutcome{Stage: name, Skipped: true, Dir: final}, nil
	}
	inputs := fingerprint(stageInputs, "prepare")
	if m, ok := e.Artifacts.complete(ctx, final, inputs); ok {
		return StageOutcome{Stage: name, Skipped: true, Rows: m.Rows, Dir: final}, nil
	}
	if err := e.fetchEarlier(ctx, p, i); err != nil {
		return StageOutcome{}, &StageError{RunID: p.RunID, Stage: s.Name, Shard: -1, Err: fmt.Errorf("prepare: %w", err)}
	}
	start := e.now()
	// The ledger and the metrics show the prepare step as stage "<stage>.prep".
	if e.Ledger != nil {
		if err := e.Ledger.StageStarted(ctx, p.RunID, name, i, start); err != nil {
			return StageOutcome{}, err
		}
	}
	finished := func(status string, rows int64, msg string) {
		d := e.now().Sub(start)
		e.Metrics.stageFinished(name, status, d, rows)
		if e.Ledger != nil {
			if err := e.Ledger.StageFinished(context.WithoutCancel(ctx), p.RunID, name, status, false, rows, d, msg, e.now()); err != nil {
				e.logf("warning: %v", err)
			}
		}
	}
	ps := *s
	ps.Name = name
	var res StageResult
	err := e.attempt(ctx, name, -1, func(ctx context.Context) error {
		var err error
		res, err = e.produce(ctx, p, &ps, final, inputs, nil, nil, func(ctx context.Context, out string) (StageResult, error) {
			return s.Prepare(ctx, e.runContext(p), out)
		})
		return err
	})
	if err != nil {
		se := &StageError{RunID: p.RunID, Stage: s.Name, Shard: -1, Err: fmt.Errorf("prepare: %w", err)}
		finished(StatusFailed, 0, se.Error())
		return StageOutcome{}, se
	}
	finished(StatusSucceeded, res.Rows, "")
	d := e.now().Sub(start)
	e.logf("  %-9s prepared: %d rows in %s", s.Name, res.Rows, d.Round(time.Millisecond))
	return StageOutcome{Stage: name, Rows: res.Rows, Duration: d, Seconds: d.Seconds(), Dir: final}, nil
}

func (e *Executor) runPart(ctx context.Context, p *Plan, i, shard int, stageInputs string) (StageOutcome, error) {
	s := &p.Stages[i]
	if !s.Sharded() {
		return StageOutcome{}, &StageError{RunID: p.RunID, Stage: s.Name, Shard: shard, Err: fmt.Errorf("not a per-shard stage")}
	}
	if shard < 0 || shard >= p.Shards {
		return StageOutcome{}, &StageError{RunID: p.RunID, Stage: s.Name, Shard: shard, Err: fmt.Errorf("shard %d is outside 0..%d", shard, p.Shards-1)}
	}
	inputs := fingerprint(stageInputs, "shard", fmt.Sprint(shard))
	if s.Prepare != nil {
		// The shard reads what Prepare wrote: its hashes are part of the inputs.
		m, ok := e.Artifacts.complete(ctx, e.Artifacts.PrepDir(p.RunID, s.Name), fingerprint(stageInputs, "prepare"))
		if !ok {
			return StageOutcome{}, &StageError{RunID: p.RunID, Stage: s.Name, Shard: shard, Err: fmt.Errorf("the stage's prepare step has not completed")}
		}
		inputs = fingerprint(stageInputs, "prepare", m.Digest(), "shard", fmt.Sprint(shard))
	}
	final := e.Artifacts.PartDir(p.RunID, s.Name, shard)
	sh := shard
	if m, ok := e.Artifacts.complete(ctx, final, inputs); ok {
		return StageOutcome{Stage: s.Name, Shard: &sh, Skipped: true, Rows: m.Rows, Dir: final}, nil
	}
	// A shard reads the earlier stages and the prep: local copies first.
	if err := e.fetchEarlier(ctx, p, i); err != nil {
		return StageOutcome{}, &StageError{RunID: p.RunID, Stage: s.Name, Shard: shard, Err: err}
	}
	if s.Prepare != nil {
		if err := e.Artifacts.Fetch(ctx, e.Artifacts.PrepDir(p.RunID, s.Name)); err != nil {
			return StageOutcome{}, &StageError{RunID: p.RunID, Stage: s.Name, Shard: shard, Err: err}
		}
	}
	start := e.now()
	var res StageResult
	err := e.attempt(ctx, s.Name, shard, func(ctx context.Context) error {
		var err error
		res, err = e.produce(ctx, p, s, final, inputs, &sh, nil, func(ctx context.Context, out string) (StageResult, error) {
			return s.RunShard(ctx, e.runContext(p), shard, out)
		})
		return err
	})
	if err != nil {
		return StageOutcome{}, &StageError{RunID: p.RunID, Stage: s.Name, Shard: shard, Err: err}
	}
	d := e.now().Sub(start)
	e.Metrics.shardFinished(s.Name, d)
	return StageOutcome{Stage: s.Name, Shard: &sh, Rows: res.Rows, Duration: d, Seconds: d.Seconds(), Dir: final}, nil
}

// attempt runs fn with the per-stage timeout, retrying with doubling backoff.
func (e *Executor) attempt(ctx context.Context, stage string, shard int, fn func(ctx context.Context) error) error {
	backoff := e.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	for try := 0; ; try++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if e.StageTimeout > 0 {
			actx, cancel = context.WithTimeout(ctx, e.StageTimeout)
		}
		err := fn(actx)
		timedOut := actx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		if err == nil {
			return nil
		}
		if timedOut {
			err = fmt.Errorf("timed out after %s (schedule.stage_timeout): %w", e.StageTimeout, err)
		}
		var bi interface{ BadInput() bool }
		if try >= e.Retries || ctx.Err() != nil || (errors.As(err, &bi) && bi.BadInput()) {
			return err
		}
		where := stage
		if shard >= 0 {
			where = fmt.Sprintf("%s shard %d", stage, shard)
		}
		e.logf("  %s failed (attempt %d of %d), retrying in %s: %v", where, try+1, e.Retries+1, backoff, err)
		e.Metrics.stageRetried(stage)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// fetchEarlier makes local copies of the folders of the stages before i
// that stage i reads (Stage.Reads; all of them when nil) when runs live in an
// object store; a no-op otherwise.
func (e *Executor) fetchEarlier(ctx context.Context, p *Plan, i int) error {
	reads := p.Stages[i].Reads
	for j := 0; j < i; j++ {
		if reads != nil && !slices.Contains(reads, p.Stages[j].Name) {
			continue
		}
		if err := e.Artifacts.Fetch(ctx, e.Artifacts.StageDir(p.RunID, p.Stages[j].Name)); err != nil {
			return fmt.Errorf("fetching stage %s: %w", p.Stages[j].Name, err)
		}
	}
	return nil
}

// produce runs write into a fresh temporary folder, adds the manifest and
// publishes the folder atomically as final.
func (e *Executor) produce(ctx context.Context, p *Plan, s *Stage, final, inputs string, shard *int, parts map[string]string,
	write func(ctx context.Context, out string) (StageResult, error)) (StageResult, error) {
	tmp, err := newTempDir(final)
	if err != nil {
		return StageResult{}, err
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()
	start := e.now()
	res, err := write(ctx, tmp)
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	outs, err := hashOutputs(tmp)
	if err != nil {
		return res, err
	}
	end := e.now()
	m := &StageManifest{ManifestVersion: ManifestVersion, RunID: p.RunID, Stage: s.Name, StageVersion: s.Version,
		Shard: shard, Inputs: inputs, InputParts: parts, Outputs: outs, Rows: res.Rows, Info: res.Info,
		StartedAt: start.UTC(), FinishedAt: end.UTC(), DurationMS: end.Sub(start).Milliseconds(), Build: BuildVersion()}
	if shard != nil {
		m.Shards = p.Shards
	}
	if err := writeManifest(tmp, m); err != nil {
		return res, err
	}
	point := s.Name
	if shard != nil {
		point = fmt.Sprintf("%s/%d", s.Name, *shard)
	}
	e.crash("before-commit:" + point)
	if err := e.Artifacts.publish(ctx, tmp, final); err != nil {
		return res, err
	}
	committed = true
	e.crash("after-commit:" + point)
	return res, nil
}
