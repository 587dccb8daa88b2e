package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/retainlab/retain/pipeline"
)

// ServiceOptions tune a Service.
type ServiceOptions struct {
	// Scheduler makes this process a candidate leader that enqueues due
	// nights (`retain serve` and `retain worker` default to true).
	Scheduler bool
	// Workers is how many jobs run at once in this process (default 1).
	Workers int
	// Logf prints progress lines; optional.
	Logf func(format string, args ...any)
	// Metrics receives run and stage metrics (default: a new registry).
	Metrics *pipeline.Metrics
	// Reporter writes each finished scoring run's reports; optional (see Reporter).
	Reporter Reporter
}

// Service is the long-running scheduler and worker of one config: the run
// ledger, the executor and a River node on the ledger's database (embedded
// SQLite by default, Postgres in production). `retain serve` starts one
// inside the API process; `retain worker` is nothing else.
type Service struct {
	Ledger   *pipeline.Ledger
	Executor *pipeline.Executor
	Metrics  *pipeline.Metrics
	Node     Node
}

// NewService opens the ledger and the job queue of cfg.
func NewService(ctx context.Context, cfg *pipeline.Config, so ServiceOptions) (*Service, error) {
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, err
	}
	arts, err := pipeline.OpenArtifacts(ctx, cfg)
	if err != nil {
		return nil, err
	}
	l, err := pipeline.OpenLedger(ctx, pipeline.LedgerDatabase(cfg), cfg.Schedule.Schema)
	if err != nil {
		arts.Close()
		return nil, err
	}
	m := so.Metrics
	if m == nil {
		m = pipeline.NewMetrics()
	}
	ex := &pipeline.Executor{Artifacts: arts, Ledger: l, Metrics: m, Webhook: cfg.Schedule.Webhook,
		StageTimeout: cfg.Schedule.StageTimeoutDuration(), Logf: so.Logf}
	n, err := Open(ctx, Options{
		Plans: func(ctx context.Context, asOf time.Time, kind string) (*pipeline.Plan, error) {
			return pipeline.NewSharedPlan(ctx, cfg, arts, asOf, kind)
		},
		Executor:  ex,
		Schedule:  cfg.Schedule,
		Scheduler: so.Scheduler,
		Workers:   so.Workers,
		Logf:      so.Logf,
		Reporter:  so.Reporter,
	})
	if err != nil {
		l.Close()
		arts.Close()
		return nil, err
	}
	return &Service{Ledger: l, Executor: ex, Metrics: m, Node: n}, nil
}

// Start begins scheduling and working.
func (s *Service) Start(ctx context.Context) error { return s.Node.Start(ctx) }

// Stop waits up to the context's deadline for running jobs, then closes the
// ledger. Jobs cut off are resumed by another process (or the next start).
func (s *Service) Stop(ctx context.Context) error {
	err := s.Node.Stop(ctx)
	s.Ledger.Close()
	s.Executor.Artifacts.Close()
	if err != nil {
		return fmt.Errorf("stopping the job service: %w", err)
	}
	return nil
}
