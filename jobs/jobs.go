package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/retainlab/retain/pipeline"
)

// PlanFunc builds the plan of a run for an as-of date and kind. Every process
// must build the same plan (same config, same stages) for the same arguments;
// it may fetch shared state first (pipeline.NewSharedPlan pulls the champion
// from the artifact store).
type PlanFunc func(ctx context.Context, asOf time.Time, kind string) (*pipeline.Plan, error)

// Reporter writes the reports of a scoring run that has just succeeded (the
// same reports `retain run` leaves). jobs cannot import the reports package;
// cmd/retain wires one in. A Reporter's error is recorded in the ledger (a
// failed "report" row among the run's stages) and logged, but the run stays
// succeeded and its job completes: the risk list is already published, and
// `retain report --run ID` writes the reports again.
type Reporter interface {
	Report(ctx context.Context, plan *pipeline.Plan) error
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(ctx context.Context, plan *pipeline.Plan) error

// Report implements Reporter.
func (f ReporterFunc) Report(ctx context.Context, plan *pipeline.Plan) error { return f(ctx, plan) }

// Options configure a Node.
type Options struct {
	// Plans builds runs. Required.
	Plans PlanFunc
	// Executor runs stages; its Ledger must be set and be the database River
	// uses. Required.
	Executor *pipeline.Executor
	// Schedule holds the cron expressions, time zone, catch-up window,
	// retries and timeouts.
	Schedule pipeline.ScheduleConfig
	// Scheduler makes this node a candidate leader that enqueues due nights
	// (every node may be one; River elects a single leader).
	Scheduler bool
	// Workers is how many jobs this node works at once (default 1).
	Workers int
	// TickEvery is how often the leader looks for due nights (default 1 min).
	TickEvery time.Duration
	// Clock is the time used to decide which nights are due (default time.Now).
	Clock func() time.Time
	// ID names this node in River (default host:pid).
	ID string
	// Logf prints progress lines; optional.
	Logf func(format string, args ...any)
	// InsertOnly makes a client that only queues jobs (works none).
	InsertOnly bool
	// PollInterval is how often idle workers look for jobs (default 1 s; tests use less).
	PollInterval time.Duration
	// Reporter, when set, writes the reports of every scoring run this node
	// finishes; optional.
	Reporter Reporter
}

// Job kinds (stable: they are stored in the queue).
const (
	KindTick     = "retain_tick"
	KindRun      = "retain_run"
	KindShard    = "retain_shard"
	KindContinue = "retain_continue"
)

// TickArgs asks the scheduler to enqueue the earliest due night.
type TickArgs struct{}

// Kind implements river.JobArgs.
func (TickArgs) Kind() string { return KindTick }

// RunArgs starts (or resumes) the run of one as-of date and kind. Unique by
// both: a night is never queued twice.
type RunArgs struct {
	AsOf    string `json:"as_of" river:"unique"`
	RunKind string `json:"kind" river:"unique"`
}

// Kind implements river.JobArgs.
func (RunArgs) Kind() string { return KindRun }

// ShardArgs works one shard of a per-shard stage.
type ShardArgs struct {
	RunID   string `json:"run_id" river:"unique"`
	AsOf    string `json:"as_of"`
	RunKind string `json:"kind"`
	Stage   string `json:"stage" river:"unique"`
	Shard   int    `json:"shard" river:"unique"`
	Shards  int    `json:"shards"`
}

// Kind implements river.JobArgs.
func (ShardArgs) Kind() string { return KindShard }

// ContinueArgs merges a per-shard stage whose shards are all done and carries
// the run on: enqueued by the last shard to finish.
type ContinueArgs struct {
	RunID   string `json:"run_id" river:"unique"`
	AsOf    string `json:"as_of"`
	RunKind string `json:"kind"`
	Stage   string `json:"stage" river:"unique"`
}

// Kind implements river.JobArgs.
func (ContinueArgs) Kind() string { return KindContinue }

var uniqueByArgs = &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}

// Node is one River client (scheduler and/or worker) over the ledger's database.
type Node interface {
	// Start begins leader election, periodic ticks and working jobs.
	Start(ctx context.Context) error
	// Stop waits for running jobs to finish (they are resumed elsewhere if cut off).
	Stop(ctx context.Context) error
	// Tick enqueues a scheduling pass now (the earliest due night, if any).
	Tick(ctx context.Context) error
	// EnqueueRun queues the run of one as-of date (unique: a queued or
	// finished run is not queued again).
	EnqueueRun(ctx context.Context, asOf time.Time, kind string) (queued bool, err error)
	// JobCounts counts jobs by kind and state (for tests and `retain runs`).
	JobCounts(ctx context.Context) (map[string]map[string]int, error)
}

// txOps are the driver-specific transaction helpers.
type txOps[TTx any] struct {
	begin    func(ctx context.Context) (TTx, error)
	commit   func(ctx context.Context, tx TTx) error
	rollback func(ctx context.Context, tx TTx)
}

type node[TDriver riverdriver.Driver[TTx], TTx any] struct {
	opts   Options
	client *river.Client[TTx]
	tx     txOps[TTx]
	ledger *pipeline.Ledger
}

func (o *Options) clock() time.Time {
	if o.Clock != nil {
		return o.Clock()
	}
	return time.Now()
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

func newNode[TDriver riverdriver.Driver[TTx], TTx any](driver TDriver, schema string, opts Options, tx txOps[TTx]) (*node[TDriver, TTx], error) {
	if opts.Plans == nil || opts.Executor == nil || opts.Executor.Ledger == nil {
		return nil, errors.New("jobs: Plans, Executor and Executor.Ledger are required")
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.TickEvery <= 0 {
		opts.TickEvery = time.Minute
	}
	if opts.ID == "" {
		h, _ := os.Hostname()
		opts.ID = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	n := &node[TDriver, TTx]{opts: opts, tx: tx, ledger: opts.Executor.Ledger}
	workers := river.NewWorkers()
	river.AddWorker(workers, &tickWorker[TDriver, TTx]{n: n})
	river.AddWorker(workers, &runWorker[TDriver, TTx]{n: n})
	river.AddWorker(workers, &shardWorker[TDriver, TTx]{n: n})
	river.AddWorker(workers, &continueWorker[TDriver, TTx]{n: n})
	cfg := &river.Config{
		ID:          opts.ID,
		Schema:      schema,
		Queues:      map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Workers}},
		Workers:     workers,
		MaxAttempts: opts.Schedule.RetriesOrDefault() + 1,
		RetryPolicy: backoffPolicy{first: opts.Schedule.RetryBackoffDuration()},
		JobTimeout:  opts.Schedule.StageTimeoutDuration(),
		// Keep finished jobs for the whole catch-up window so uniqueness holds
		// across it; the ledger guards beyond.
		CompletedJobRetentionPeriod: opts.Schedule.CatchUpWindow() + 48*time.Hour,
		FetchPollInterval:           opts.PollInterval,
		FetchCooldown:               opts.PollInterval / 5,
		RescueStuckJobsAfter:        opts.Schedule.StageTimeoutDuration() + 5*time.Minute,
	}
	if opts.PollInterval <= 0 {
		cfg.FetchPollInterval, cfg.FetchCooldown = 0, 0
	}
	if opts.InsertOnly {
		cfg.Queues = nil
	}
	if opts.Scheduler && !opts.InsertOnly {
		cfg.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(opts.TickEvery),
			func() (river.JobArgs, *river.InsertOpts) { return TickArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true, ID: "retain_tick"})}
	}
	c, err := river.NewClient[TTx](driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: starting the River client: %w", err)
	}
	n.client = c
	return n, nil
}

func (n *node[TDriver, TTx]) Start(ctx context.Context) error {
	if err := n.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: starting: %w", err)
	}
	return nil
}

// Stop waits for running jobs until ctx ends, then cancels them: a cancelled
// job is retried (by this or another process) and resumes from its last
// complete stage or shard.
func (n *node[TDriver, TTx]) Stop(ctx context.Context) error {
	err := n.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = n.client.StopAndCancel(cctx)
	}
	if err != nil {
		return fmt.Errorf("jobs: stopping: %w", err)
	}
	return nil
}

func (n *node[TDriver, TTx]) Tick(ctx context.Context) error {
	_, err := n.client.Insert(ctx, TickArgs{}, nil)
	if err != nil {
		return fmt.Errorf("jobs: queueing a tick: %w", err)
	}
	return nil
}

func (n *node[TDriver, TTx]) EnqueueRun(ctx context.Context, asOf time.Time, kind string) (bool, error) {
	r, err := n.client.Insert(ctx, RunArgs{AsOf: asOf.Format("2006-01-02"), RunKind: kind}, uniqueByArgs)
	if err != nil {
		return false, fmt.Errorf("jobs: queueing run %s %s: %w", kind, asOf.Format("2006-01-02"), err)
	}
	return !r.UniqueSkippedAsDuplicate, nil
}

func (n *node[TDriver, TTx]) JobCounts(ctx context.Context) (map[string]map[string]int, error) {
	out := map[string]map[string]int{}
	params := river.NewJobListParams().First(10000).States(
		rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted, rivertype.JobStateDiscarded,
		rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled)
	res, err := n.client.JobList(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("jobs: listing jobs: %w", err)
	}
	for _, j := range res.Jobs {
		if out[j.Kind] == nil {
			out[j.Kind] = map[string]int{}
		}
		out[j.Kind][string(j.State)]++
	}
	return out, nil
}

// backoffPolicy retries after first, 2×first, 4×first, … (capped at 1 h).
type backoffPolicy struct{ first time.Duration }

func (p backoffPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := p.first
	for i := 1; i < job.Attempt && d < time.Hour; i++ {
		d *= 2
	}
	if d > time.Hour {
		d = time.Hour
	}
	return time.Now().Add(d)
}

// DueNights lists the as-of dates whose scheduled time (cron, in its zone)
// falls in (now-window, now], oldest first. The as-of date of a firing is its
// local calendar date (a run at 02:00 on 4 December scores as of 4 December,
// i.e. with data up to midnight).
func DueNights(c *pipeline.Cron, now time.Time, window time.Duration) []time.Time {
	var out []time.Time
	seen := map[string]bool{}
	for _, f := range c.Between(now.Add(-window), now) {
		l := f.In(c.Location())
		d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
		if k := d.Format("2006-01-02"); !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}
