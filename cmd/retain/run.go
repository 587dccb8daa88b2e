package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/retainlab/retain/jobs"
	"github.com/retainlab/retain/pipeline"
)

// Owned by issue 7: run, runs, backfill, worker.

// runEnv is what run and backfill share: config, ledger, executor.
type runEnv struct {
	cfg *pipeline.Config
	ex  *pipeline.Executor
}

func openRunEnv(ctx context.Context, cfgPath string, pr *progress) (*runEnv, error) {
	if cfgPath == "" {
		return nil, usagef("--config FILE is required")
	}
	cfg, err := pipeline.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, &pipeline.ConfigError{File: cfgPath, Msg: err.Error()}
	}
	arts, err := pipeline.OpenArtifacts(ctx, cfg)
	if err != nil {
		return nil, &pipeline.ConfigError{File: cfgPath, Msg: err.Error()}
	}
	l, err := pipeline.OpenLedger(ctx, pipeline.LedgerDatabase(cfg), cfg.Schedule.Schema)
	if err != nil {
		arts.Close()
		return nil, err
	}
	ex := &pipeline.Executor{Artifacts: arts, Ledger: l, Webhook: cfg.Schedule.Webhook,
		StageTimeout: cfg.Schedule.StageTimeoutDuration(), Retries: cfg.Schedule.RetriesOrDefault(),
		Backoff: cfg.Schedule.RetryBackoffDuration(), Logf: pr.Printf}
	return &runEnv{cfg: cfg, ex: ex}, nil
}

func (e *runEnv) close() {
	e.ex.Ledger.Close()
	e.ex.Artifacts.Close()
}

// plan builds the run of one date, following the champion shared in the
// artifact store when there is one.
func (e *runEnv) plan(ctx context.Context, asOf time.Time, kind string) (*pipeline.Plan, error) {
	return pipeline.NewSharedPlan(ctx, e.cfg, e.ex.Artifacts, asOf, kind)
}

// today is the current date in the schedule's time zone.
func today(cfg *pipeline.Config) time.Time {
	n := time.Now().In(cfg.Schedule.Location())
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
}

// oneLine turns an error into the one-line reason the run commands print.
type oneLineErr struct{ err error }

func (o oneLineErr) Error() string { return strings.ReplaceAll(o.err.Error(), "\n", " ") }
func (o oneLineErr) Unwrap() error { return o.err }

func newRunCmd() *cobra.Command {
	var cfgPath, asOfS, kind, stage, until string
	var shard, shards int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run --config FILE [--as-of YYYY-MM-DD]",
		Short: "One pass of the nightly flow (extract → features → score → publish), resuming a crashed run",
		Long: `Runs every stage of one as-of date in order. Each stage writes runs/<run-id>/<stage>/
atomically with a manifest; stages already complete with the same inputs are skipped, so
rerunning after a crash resumes from the first incomplete stage and never publishes twice.

--stage S --shard I --shards N runs a single shard of a per-shard stage (a Kubernetes
Indexed Job gives I in JOB_COMPLETION_INDEX); --until S stops after stage S, and
--until S.prep after the prepare step of per-shard stage S (e.g. score.prep: the
churn probabilities, tiers and CLV fitted over all customers, before the shards explain).

After a successful run, retention (the config's retention: section; default runs: 14,
exports: 30) removes the runs/<run-id>/ folders (and store objects) of older runs and old
dated export files; see retain prune. A run whose artifacts were removed is not run again.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pr := newProgress()
			env, err := openRunEnv(ctx, cfgPath, pr)
			if err != nil {
				return err
			}
			defer env.close()
			asOf := today(env.cfg)
			if asOfS != "" {
				if asOf, err = pipeline.ParseAsOf(asOfS); err != nil {
					return usagef("run: --as-of: %v", err)
				}
			}
			if kind != pipeline.KindManual && kind != pipeline.KindRetrain && kind != pipeline.KindNightly {
				return usagef("run: --kind %q is not manual, nightly or retrain", kind)
			}
			plan, err := env.plan(ctx, asOf, kind)
			if err != nil {
				return err
			}
			if stage != "" || cmd.Flags().Changed("shard") {
				return runOneShard(ctx, cmd, env, plan, stage, shard, shards, asJSON)
			}
			if until != "" {
				// --until S.prep runs the stages before per-shard stage S
				// and S's prepare step (what every shard reads).
				name, prep := strings.CutSuffix(until, ".prep")
				i := plan.StageIndex(name)
				if i < 0 || (prep && plan.Stages[i].Prepare == nil) {
					return usagef("run: --until %q is not a stage of this run (%s)", until, stageNames(plan))
				}
				last := i
				if prep {
					last = i - 1
				}
				var outs []pipeline.StageOutcome
				for j := 0; j <= last; j++ {
					o, err := env.ex.RunStage(ctx, plan, j)
					outs = append(outs, o...)
					if err != nil {
						return oneLineErr{err}
					}
				}
				if prep {
					o, err := env.ex.RunPrepare(ctx, plan, i)
					outs = append(outs, o)
					if err != nil {
						return oneLineErr{err}
					}
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]any{"run_id": plan.RunID, "until": until, "stages": outs})
				}
				return nil
			}
			rep, err := env.ex.Run(ctx, plan)
			if asJSON && rep != nil {
				if jerr := printJSON(cmd.OutOrStdout(), rep); jerr != nil {
					return jerr
				}
			}
			if err != nil {
				return oneLineErr{err}
			}
			if !asJSON {
				pr.Printf("run %s succeeded in %.1fs (%s)", rep.RunID, rep.Seconds, rep.Dir)
			}
			// Every scoring run leaves its reports; a report failure is
			// recorded and printed but does not fail the run that already
			// published (exit status 0).
			if plan.HasScores() {
				start := time.Now()
				sum, err := writeRunReports(ctx, env.cfg, rep.RunID, "", pr.Printf)
				env.ex.RecordReport(ctx, plan, time.Since(start), err)
				if err == nil {
					pr.Printf("reports: %s", sum.Index)
				}
			}
			// Retention (retention.runs, retention.exports) after publish
			// and the reports; a failure is recorded and printed only.
			env.ex.PruneAfterRun(ctx, plan)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().StringVar(&asOfS, "as-of", "", "as-of date YYYY-MM-DD (default today in schedule.timezone)")
	cmd.Flags().StringVar(&kind, "kind", pipeline.KindManual, "manual (score) or retrain (train a model)")
	cmd.Flags().StringVar(&stage, "stage", "", "with --shard: the per-shard stage to run")
	cmd.Flags().IntVar(&shard, "shard", 0, "run only this shard (0-based; default $JOB_COMPLETION_INDEX)")
	cmd.Flags().IntVar(&shards, "shards", 0, "number of shards (must equal the config's shards)")
	cmd.Flags().StringVar(&until, "until", "", "stop after this stage (or S.prep: after per-shard stage S's prepare step)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	return cmd
}

func stageNames(p *pipeline.Plan) string {
	var s []string
	for _, st := range p.Stages {
		n := st.Name
		if st.Sharded() {
			n += " (per shard)"
		}
		if st.Prepare != nil {
			n += ", " + st.Name + ".prep"
		}
		s = append(s, n)
	}
	return strings.Join(s, ", ")
}

func runOneShard(ctx context.Context, cmd *cobra.Command, env *runEnv, plan *pipeline.Plan, stage string, shard, shards int, asJSON bool) error {
	if !cmd.Flags().Changed("shard") {
		v := os.Getenv("JOB_COMPLETION_INDEX")
		if v == "" {
			return usagef("run: --stage needs --shard I (or JOB_COMPLETION_INDEX)")
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return usagef("run: JOB_COMPLETION_INDEX=%q is not a number", v)
		}
		shard = n
	}
	if shards != 0 && shards != plan.Shards {
		return usagef("run: --shards %d differs from the config's shards (%d)", shards, plan.Shards)
	}
	if shard < 0 || shard >= plan.Shards {
		return usagef("run: --shard %d is outside 0..%d", shard, plan.Shards-1)
	}
	i := plan.StageIndex(stage)
	if i < 0 || !plan.Stages[i].Sharded() {
		return usagef("run: --stage %q is not a per-shard stage of this run (%s)", stage, stageNames(plan))
	}
	for j := 0; j < i; j++ {
		ok, err := env.ex.StageComplete(ctx, plan, j)
		if err != nil || !ok {
			return fmt.Errorf("run: stage %s is not complete yet; run `retain run --until %s` first", plan.Stages[j].Name, plan.Stages[j].Name)
		}
	}
	// What every shard reads: normally prepared by `--until S.prep`; a shard
	// that finds it missing prepares it. Pods racing here each publish their
	// own (atomically); shards done against one that was replaced are redone
	// by the finishing `retain run`, which checks every part's inputs.
	if _, err := env.ex.RunPrepare(ctx, plan, i); err != nil {
		return oneLineErr{err}
	}
	out, err := env.ex.RunPart(ctx, plan, i, shard)
	if err != nil {
		return oneLineErr{err}
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), map[string]any{"run_id": plan.RunID, "stage": stage, "shard": shard, "shards": plan.Shards,
			"skipped": out.Skipped, "rows": out.Rows, "seconds": out.Seconds, "dir": out.Dir})
	}
	newProgress().Printf("run %s: %s shard %d/%d done (%d rows)", plan.RunID, stage, shard, plan.Shards, out.Rows)
	return nil
}

func newRunsCmd() *cobra.Command {
	var cfgPath, asOf string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "runs --config FILE [--json]",
		Short: "List runs from the ledger: status, stage timings, row counts, errors",
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := openRunEnv(cmd.Context(), cfgPath, newProgress())
			if err != nil {
				return err
			}
			defer env.close()
			runs, err := env.ex.Ledger.Runs(cmd.Context(), pipeline.RunsFilter{Limit: limit, AsOf: asOf})
			if err != nil {
				return err
			}
			if asJSON {
				if runs == nil {
					runs = []pipeline.RunRecord{}
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"runs": runs})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tAS OF\tKIND\tSTATUS\tTRIES\tSTARTED\tSECONDS\tARTIFACTS\tSTAGES\tERROR")
			for _, r := range runs {
				secs := "-"
				if r.FinishedAt != nil {
					secs = fmt.Sprintf("%.1f", r.FinishedAt.Sub(r.StartedAt).Seconds())
				}
				var st []string
				for _, s := range r.Stages {
					x := fmt.Sprintf("%s %d rows %.1fs", s.Stage, s.Rows, float64(s.DurationMS)/1000)
					if s.Skipped {
						x = s.Stage + " skipped"
					} else if s.Status != pipeline.StatusSucceeded {
						x = s.Stage + " " + s.Status
					}
					st = append(st, x)
				}
				msg := r.Error
				if r.FailedStage != "" {
					msg = r.FailedStage + ": " + msg
				}
				if len(msg) > 80 {
					msg = msg[:77] + "..."
				}
				arts := "kept"
				if r.Pruned {
					arts = "pruned " + r.PrunedAt.Local().Format("2006-01-02")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.RunID, r.AsOf, r.Kind, r.Status, r.Attempts,
					r.StartedAt.Local().Format("2006-01-02 15:04"), secs, arts, strings.Join(st, ", "), msg)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().StringVar(&asOf, "as-of", "", "only runs of this date")
	cmd.Flags().IntVar(&limit, "limit", 50, "newest runs to list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object on stdout")
	return cmd
}

func newBackfillCmd() *cobra.Command {
	var cfgPath, fromS, toS string
	var asJSON, toQueue bool
	cmd := &cobra.Command{
		Use:   "backfill --config FILE --from YYYY-MM-DD --to YYYY-MM-DD",
		Short: "Run every date in a range that has no successful run yet, oldest first",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if fromS == "" || toS == "" {
				return usagef("backfill: --from and --to are required")
			}
			from, err := pipeline.ParseAsOf(fromS)
			if err != nil {
				return usagef("backfill: --from: %v", err)
			}
			to, err := pipeline.ParseAsOf(toS)
			if err != nil {
				return usagef("backfill: --to: %v", err)
			}
			if to.Before(from) {
				return usagef("backfill: --to %s is before --from %s", toS, fromS)
			}
			pr := newProgress()
			env, err := openRunEnv(ctx, cfgPath, pr)
			if err != nil {
				return err
			}
			defer env.close()
			type item struct {
				AsOf   string `json:"as_of"`
				RunID  string `json:"run_id"`
				Status string `json:"status"` // succeeded, failed, already (succeeded before), queued, already queued
				Error  string `json:"error,omitempty"`
			}
			var items []item
			var runErr error
			var queue jobs.Node
			if toQueue {
				if queue, err = jobs.Open(ctx, jobs.Options{Executor: env.ex, InsertOnly: true, Schedule: env.cfg.Schedule,
					Plans: func(ctx context.Context, asOf time.Time, kind string) (*pipeline.Plan, error) {
						return env.plan(ctx, asOf, kind)
					}}); err != nil {
					return err
				}
			}
			for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
				plan, err := env.plan(ctx, d, pipeline.KindBackfill)
				if err != nil {
					return err
				}
				st, err := env.ex.Ledger.RunStatus(ctx, plan.RunID)
				if err != nil {
					return err
				}
				if st == pipeline.StatusSucceeded {
					pr.Printf("%s: already done (%s)", d.Format("2006-01-02"), plan.RunID)
					items = append(items, item{AsOf: d.Format("2006-01-02"), RunID: plan.RunID, Status: "already"})
					continue
				}
				if queue != nil {
					queued, err := queue.EnqueueRun(ctx, d, pipeline.KindBackfill)
					if err != nil {
						return err
					}
					st := "queued"
					if !queued {
						st = "already queued"
					}
					pr.Printf("%s: %s (%s)", d.Format("2006-01-02"), st, plan.RunID)
					items = append(items, item{AsOf: d.Format("2006-01-02"), RunID: plan.RunID, Status: st})
					continue
				}
				if _, err := env.ex.Run(ctx, plan); err != nil {
					items = append(items, item{AsOf: d.Format("2006-01-02"), RunID: plan.RunID, Status: pipeline.StatusFailed, Error: err.Error()})
					runErr = oneLineErr{err}
					break
				}
				items = append(items, item{AsOf: d.Format("2006-01-02"), RunID: plan.RunID, Status: pipeline.StatusSucceeded})
				// Retention after each night, so a long backfill does not fill the disk first.
				env.ex.PruneAfterRun(ctx, plan)
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), map[string]any{"from": fromS, "to": toS, "runs": items}); err != nil {
					return err
				}
			}
			return runErr
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().StringVar(&fromS, "from", "", "first as-of date")
	cmd.Flags().StringVar(&toS, "to", "", "last as-of date (inclusive)")
	cmd.Flags().BoolVar(&toQueue, "queue", false, "queue the dates for `retain worker` processes instead of running them here")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout")
	return cmd
}

func newWorkerCmd() *cobra.Command {
	var cfgPath, metricsAddr string
	var workers int
	var noSchedule bool
	cmd := &cobra.Command{
		Use:   "worker --config FILE",
		Short: "Work scheduled runs and shard jobs from the queue (River on the ledger database)",
		Long: `Starts a River client on schedule.database (Postgres in production; SQLite by default):
it works run, shard and merge jobs, and takes part in leader election for the nightly and
retraining schedules unless --no-schedule. Start any number, on any machines sharing the
database and the artifacts folder. Stops on SIGINT/SIGTERM after the running jobs.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if cfgPath == "" {
				return usagef("worker: --config FILE is required")
			}
			cfg, err := pipeline.Load(cfgPath)
			if err != nil {
				return err
			}
			if err := cfg.Schedule.Validate(); err != nil {
				return &pipeline.ConfigError{File: cfgPath, Msg: err.Error()}
			}
			pr := newProgress()
			svc, err := jobs.NewService(ctx, cfg, jobs.ServiceOptions{Scheduler: !noSchedule, Workers: workers, Logf: pr.Printf,
				Reporter: runReporter(cfg, pr.Printf)})
			if err != nil {
				return err
			}
			if metricsAddr != "" {
				ln, err := net.Listen("tcp", metricsAddr)
				if err != nil {
					return usagef("worker: --metrics-addr %s: %v", metricsAddr, err)
				}
				mux := http.NewServeMux()
				mux.Handle("/metrics", svc.Metrics.Handler())
				srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
				go srv.Serve(ln)
				defer srv.Close()
				pr.Printf("metrics on http://%s/metrics", ln.Addr())
			}
			if err := svc.Start(ctx); err != nil {
				return err
			}
			pr.Printf("worker started (%d at once, scheduler %v, database %s)", max(workers, 1), !noSchedule, redactDSN(pipeline.LedgerDatabase(cfg)))
			<-ctx.Done()
			pr.Printf("stopping: waiting for running jobs (up to 60s)")
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
			defer cancel()
			if err := svc.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().IntVar(&workers, "workers", 1, "jobs worked at once by this process")
	cmd.Flags().BoolVar(&noSchedule, "no-schedule", false, "only work jobs; never enqueue scheduled nights")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (e.g. :9090)")
	return cmd
}

// runReporter gives queued runs (retain worker, retain serve) the reports
// `retain run` writes: <data_dir>/reports/<run-id>/.
func runReporter(cfg *pipeline.Config, logf func(string, ...any)) jobs.Reporter {
	return jobs.ReporterFunc(func(ctx context.Context, plan *pipeline.Plan) error {
		sum, err := writeRunReports(ctx, cfg, plan.RunID, "", logf)
		if err != nil {
			return err
		}
		logf("run %s: reports %s", plan.RunID, sum.Index)
		return nil
	})
}

// redactDSN hides a password in a database URL for printing.
func redactDSN(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if at := strings.Index(s[i+3:], "@"); at >= 0 {
			cred := s[i+3 : i+3+at]
			if c := strings.Index(cred, ":"); c >= 0 {
				return s[:i+3] + cred[:c] + ":***" + s[i+3+at:]
			}
		}
	}
	return s
}

// addScheduler starts the embedded scheduler and worker inside `retain
// serve` (River on the ledger database: SQLite by default), unless
// schedule.embedded is false. Run metrics join the API's /metrics.
func addScheduler(ctx context.Context, env *serveEnv) error {
	cfg := env.Config
	if !cfg.Schedule.EmbeddedOrDefault() {
		return nil
	}
	if err := cfg.Schedule.Validate(); err != nil {
		return &pipeline.ConfigError{File: cfg.Path(), Msg: err.Error()}
	}
	m, err := pipeline.NewMetricsIn(env.API.Registry())
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { env.Logger.Info(fmt.Sprintf(format, args...)) }
	svc, err := jobs.NewService(ctx, cfg, jobs.ServiceOptions{Scheduler: true, Workers: 1, Logf: logf, Metrics: m,
		Reporter: runReporter(cfg, logf)})
	if err != nil {
		return err
	}
	env.Background = append(env.Background, func(ctx context.Context) error {
		if err := svc.Start(ctx); err != nil {
			return err
		}
		env.Logger.Info("scheduler started", "nightly", cfg.Schedule.NightlyCron().String(), "timezone", cfg.Schedule.Location().String(),
			"database", redactDSN(pipeline.LedgerDatabase(cfg)))
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return svc.Stop(sctx)
	})
	return nil
}
