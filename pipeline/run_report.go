package pipeline

import (
	"context"
	"strings"
	"time"
)

// StageReport is the ledger name of the step that writes a scoring run's
// reports after publish. It is not a stage of the plan: it has no folder or
// manifest under runs/, and its failure never fails the run (the risk list is
// already published); it is recorded as a failed "report" row in
// retain_run_stages, counted in retain_stages_total{stage="report"} and logged.
const StageReport = "report"

// HasScores reports whether the plan scores customers (and so leaves reports).
func (p *Plan) HasScores() bool { return p.StageIndex(StageScore) >= 0 }

// RecordReport records how writing the reports of a finished run went (in d):
// a "report" row in the ledger's stages (status succeeded, or failed with the
// error), the stage metrics and a log line. Its own errors are logged only:
// the run has already succeeded.
func (e *Executor) RecordReport(ctx context.Context, p *Plan, d time.Duration, cause error) {
	status, msg := StatusSucceeded, ""
	if cause != nil {
		status, msg = StatusFailed, strings.ReplaceAll(cause.Error(), "\n", " ")
		e.logf("warning: run %s succeeded but its reports were not written: %s", p.RunID, msg)
	} else {
		e.logf("  %-9s done in %s", StageReport, d.Round(time.Millisecond))
	}
	e.Metrics.stageFinished(StageReport, status, d, 0)
	if e.Ledger == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	now := e.now()
	err := e.Ledger.StageStarted(ctx, p.RunID, StageReport, len(p.Stages), now.Add(-d))
	if err == nil {
		err = e.Ledger.StageFinished(ctx, p.RunID, StageReport, status, false, 0, d, msg, now)
	}
	if err != nil {
		e.logf("warning: %v", err)
	}
}
