package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/retainlab/retain/pipeline"
)

type tickWorker[TDriver riverdriver.Driver[TTx], TTx any] struct {
	river.WorkerDefaults[TickArgs]
	n *node[TDriver, TTx]
}

// Work enqueues, per schedule, the earliest due night that has not run yet.
// Nights run one after another: the end of a run ticks again for the next.
func (w *tickWorker[TDriver, TTx]) Work(ctx context.Context, _ *river.Job[TickArgs]) error {
	return w.n.tick(ctx)
}

func (n *node[TDriver, TTx]) tick(ctx context.Context) error {
	now := n.opts.clock()
	window := n.opts.Schedule.CatchUpWindow()
	scheds := []struct {
		kind string
		cron *pipeline.Cron
	}{{pipeline.KindNightly, n.opts.Schedule.NightlyCron()}, {pipeline.KindRetrain, n.opts.Schedule.RetrainCron()}}
	for _, s := range scheds {
		if s.cron == nil {
			continue
		}
		for _, d := range DueNights(s.cron, now, window) {
			plan, err := n.opts.Plans(ctx, d, s.kind)
			if err != nil {
				return fmt.Errorf("planning %s run of %s: %w", s.kind, d.Format("2006-01-02"), err)
			}
			st, err := n.ledger.RunStatus(ctx, plan.RunID)
			if err != nil {
				return err
			}
			if st == pipeline.StatusSucceeded || st == pipeline.StatusFailed {
				continue // done, or failed for good (rerun by hand with `retain run --as-of`)
			}
			queued, err := n.EnqueueRun(ctx, d, s.kind)
			if err != nil {
				return err
			}
			if queued {
				n.opts.logf("queued %s run %s", s.kind, plan.RunID)
			}
			break // one night at a time, in order
		}
	}
	return nil
}

type runWorker[TDriver riverdriver.Driver[TTx], TTx any] struct {
	river.WorkerDefaults[RunArgs]
	n *node[TDriver, TTx]
}

func (w *runWorker[TDriver, TTx]) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	n := w.n
	asOf, err := pipeline.ParseAsOf(job.Args.AsOf)
	if err != nil {
		return river.JobCancel(err)
	}
	plan, err := n.opts.Plans(ctx, asOf, job.Args.RunKind)
	if err != nil {
		return river.JobCancel(fmt.Errorf("planning run: %w", err))
	}
	st, err := n.ledger.RunStatus(ctx, plan.RunID)
	if err != nil {
		return err
	}
	if st == pipeline.StatusSucceeded {
		return nil
	}
	if err := n.opts.Executor.BeginRun(ctx, plan); err != nil {
		return err
	}
	return n.advance(ctx, plan, 0, job.JobRow.Attempt, job.JobRow.MaxAttempts, func(ctx context.Context, tx TTx) error {
		_, err := river.JobCompleteTx[TDriver](ctx, tx, job)
		return err
	})
}

// advance runs the plan's stages from index from: whole stages inline, and
// at the first per-shard stage it runs the stage's Prepare step (if any),
// then queues one job per shard and completes the current job in the same
// transaction. The run ends when all stages are done.
func (n *node[TDriver, TTx]) advance(ctx context.Context, plan *pipeline.Plan, from, attempt, maxAttempts int, complete func(context.Context, TTx) error) error {
	ex := n.opts.Executor
	for i := from; i < len(plan.Stages); i++ {
		s := &plan.Stages[i]
		if s.Sharded() {
			done, err := ex.StageComplete(ctx, plan, i)
			if err != nil {
				return n.failed(ctx, plan, s.Name, err, attempt, maxAttempts)
			}
			if !done {
				// What every shard reads is computed once, here, before the fan-out.
				if _, err := ex.RunPrepare(ctx, plan, i); err != nil {
					return n.failed(ctx, plan, s.Name, err, attempt, maxAttempts)
				}
				return n.fanOut(ctx, plan, i, complete)
			}
		}
		if _, err := ex.RunStage(ctx, plan, i); err != nil {
			return n.failed(ctx, plan, s.Name, err, attempt, maxAttempts)
		}
	}
	if err := ex.EndRun(ctx, plan, time.Time{}); err != nil {
		return err
	}
	n.report(ctx, plan)
	// Retention (the config's retention: section) after publish and the
	// reports; a failure is recorded and logged, never fails the job.
	n.opts.Executor.PruneAfterRun(ctx, plan)
	if plan.Kind == pipeline.KindNightly || plan.Kind == pipeline.KindRetrain {
		if err := n.Tick(ctx); err != nil { // catch up the next missed night
			n.opts.logf("warning: %v", err)
		}
	}
	return nil
}

// report writes the reports of a scoring run that has just succeeded. A
// failure is recorded and logged (Executor.RecordReport) and does not fail
// the job: the run is published. A worker killed while reporting leaves the
// run succeeded without reports (`retain report --run ID` writes them).
func (n *node[TDriver, TTx]) report(ctx context.Context, plan *pipeline.Plan) {
	if n.opts.Reporter == nil || !plan.HasScores() {
		return
	}
	start := time.Now()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return n.opts.Reporter.Report(ctx, plan)
	}()
	n.opts.Executor.RecordReport(ctx, plan, time.Since(start), err)
}

func (n *node[TDriver, TTx]) fanOut(ctx context.Context, plan *pipeline.Plan, i int, complete func(context.Context, TTx) error) error {
	s := &plan.Stages[i]
	tx, err := n.tx.begin(ctx)
	if err != nil {
		return fmt.Errorf("fan-out of %s: %w", s.Name, err)
	}
	defer n.tx.rollback(ctx, tx)
	lt, err := n.ledger.InTx(tx)
	if err != nil {
		return err
	}
	if err := lt.StageStarted(ctx, plan.RunID, s.Name, i, time.Now()); err != nil {
		return err
	}
	params := make([]river.InsertManyParams, plan.Shards)
	for sh := range params {
		params[sh] = river.InsertManyParams{Args: ShardArgs{RunID: plan.RunID, AsOf: plan.AsOf.Format("2006-01-02"),
			RunKind: plan.Kind, Stage: s.Name, Shard: sh, Shards: plan.Shards}, InsertOpts: uniqueByArgs}
	}
	if _, err := n.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("queueing %d shards of %s: %w", plan.Shards, s.Name, err)
	}
	if err := complete(ctx, tx); err != nil {
		return fmt.Errorf("completing job: %w", err)
	}
	if err := n.tx.commit(ctx, tx); err != nil {
		return fmt.Errorf("fan-out of %s: %w", s.Name, err)
	}
	n.opts.logf("run %s: %s fanned out to %d shard jobs", plan.RunID, s.Name, plan.Shards)
	return nil
}

// failed records a run's failure once River has no attempts left, or at once
// for bad input (which retrying cannot fix).
func (n *node[TDriver, TTx]) failed(ctx context.Context, plan *pipeline.Plan, stage string, err error, attempt, maxAttempts int) error {
	var bi interface{ BadInput() bool }
	bad := errors.As(err, &bi) && bi.BadInput()
	if bad || attempt >= maxAttempts {
		n.opts.Executor.FailRun(context.WithoutCancel(ctx), plan, stage, err)
	}
	if bad {
		return river.JobCancel(err)
	}
	return err
}

type shardWorker[TDriver riverdriver.Driver[TTx], TTx any] struct {
	river.WorkerDefaults[ShardArgs]
	n *node[TDriver, TTx]
}

// Work writes one shard's output, then in one transaction records the shard
// in the ledger, queues the continuation when it was the last one, and
// completes its own job.
func (w *shardWorker[TDriver, TTx]) Work(ctx context.Context, job *river.Job[ShardArgs]) error {
	n := w.n
	a := job.Args
	plan, err := n.planFor(ctx, a.AsOf, a.RunKind, a.RunID)
	if err != nil {
		return river.JobCancel(err)
	}
	i := plan.StageIndex(a.Stage)
	if i < 0 || plan.Shards != a.Shards {
		return river.JobCancel(fmt.Errorf("run %s has no per-shard stage %s with %d shards", a.RunID, a.Stage, a.Shards))
	}
	out, err := n.opts.Executor.RunPart(ctx, plan, i, a.Shard)
	if err != nil {
		return n.failed(ctx, plan, a.Stage, err, job.Attempt, job.MaxAttempts)
	}
	tx, err := n.tx.begin(ctx)
	if err != nil {
		return fmt.Errorf("completing shard %d of %s: %w", a.Shard, a.Stage, err)
	}
	defer n.tx.rollback(ctx, tx)
	lt, err := n.ledger.InTx(tx)
	if err != nil {
		return err
	}
	if err := lt.LockRun(ctx, plan.RunID); err != nil {
		return err
	}
	done, _, err := lt.ShardDone(ctx, plan.RunID, a.Stage, a.Shard, a.Shards, out.Rows, n.opts.ID, time.Now())
	if err != nil {
		return err
	}
	if done >= a.Shards {
		if _, err := n.client.InsertTx(ctx, tx, ContinueArgs{RunID: a.RunID, AsOf: a.AsOf, RunKind: a.RunKind, Stage: a.Stage}, uniqueByArgs); err != nil {
			return fmt.Errorf("queueing the merge of %s: %w", a.Stage, err)
		}
	}
	if _, err := river.JobCompleteTx[TDriver](ctx, tx, job); err != nil {
		return fmt.Errorf("completing shard job: %w", err)
	}
	if err := n.tx.commit(ctx, tx); err != nil {
		return fmt.Errorf("completing shard %d of %s: %w", a.Shard, a.Stage, err)
	}
	return nil
}

func (n *node[TDriver, TTx]) planFor(ctx context.Context, asOf, kind, runID string) (*pipeline.Plan, error) {
	d, err := pipeline.ParseAsOf(asOf)
	if err != nil {
		return nil, err
	}
	plan, err := n.opts.Plans(ctx, d, kind)
	if err != nil {
		return nil, fmt.Errorf("planning run: %w", err)
	}
	if plan.RunID != runID {
		return nil, fmt.Errorf("this worker's config makes run %s, the job is for %s: workers must share one config", plan.RunID, runID)
	}
	return plan, nil
}

type continueWorker[TDriver riverdriver.Driver[TTx], TTx any] struct {
	river.WorkerDefaults[ContinueArgs]
	n *node[TDriver, TTx]
}

// Work merges a per-shard stage and carries the run on.
func (w *continueWorker[TDriver, TTx]) Work(ctx context.Context, job *river.Job[ContinueArgs]) error {
	n := w.n
	a := job.Args
	plan, err := n.planFor(ctx, a.AsOf, a.RunKind, a.RunID)
	if err != nil {
		return river.JobCancel(err)
	}
	i := plan.StageIndex(a.Stage)
	if i < 0 {
		return river.JobCancel(fmt.Errorf("run %s has no stage %s", a.RunID, a.Stage))
	}
	if _, err := n.opts.Executor.RunStage(ctx, plan, i); err != nil {
		return n.failed(ctx, plan, a.Stage, err, job.Attempt, job.MaxAttempts)
	}
	return n.advance(ctx, plan, i+1, job.Attempt, job.MaxAttempts, func(ctx context.Context, tx TTx) error {
		_, err := river.JobCompleteTx[TDriver](ctx, tx, job)
		return err
	})
}
