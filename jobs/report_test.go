package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retainlab/retain/pipeline"
)

// recordingReporter remembers the runs it was asked to report and answers
// with err (or panics with msg).
type recordingReporter struct {
	mu    sync.Mutex
	runs  []string
	err   error
	panic string
	root  string
}

func (r *recordingReporter) Report(ctx context.Context, plan *pipeline.Plan) error {
	r.mu.Lock()
	r.runs = append(r.runs, plan.RunID)
	r.mu.Unlock()
	// The risk list is published before reporting starts.
	if _, err := os.Stat(filepath.Join(r.root, "store", "risk_current.csv")); err != nil {
		return errors.New("reporter ran before publish: " + err.Error())
	}
	if r.panic != "" {
		panic(r.panic)
	}
	return r.err
}

// waitJobs waits until no job is available, running, retryable or scheduled.
func waitJobs(t *testing.T, n Node, timeout time.Duration) map[string]map[string]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		counts, err := n.JobCounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		busy := false
		for _, c := range counts {
			busy = busy || c["available"]+c["running"]+c["retryable"]+c["scheduled"]+c["pending"] > 0
		}
		if !busy && counts[KindRun]["completed"] > 0 {
			return counts
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the queue to drain: %v", counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestQueuedRunWritesReports: a run worked from the queue (River on SQLite)
// calls the Reporter once after publish; a failing or panicking Reporter is
// recorded as a failed "report" row in the ledger, and neither fails the
// published run nor makes River retry its job.
func TestQueuedRunWritesReports(t *testing.T) {
	for _, tc := range []struct {
		name, panic string
		err         error
		wantStatus  string
		wantErr     string
	}{
		{name: "ok", wantStatus: pipeline.StatusSucceeded},
		{name: "fails", err: errors.New("no champion model report"), wantStatus: pipeline.StatusFailed, wantErr: "no champion model report"},
		{name: "panics", panic: "boom", wantStatus: pipeline.StatusFailed, wantErr: "panic: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			if err := writeToyInput(root); err != nil {
				t.Fatal(err)
			}
			rep := &recordingReporter{err: tc.err, panic: tc.panic, root: root}
			n, l := newTestNode(t, ctx, root, pipeline.LedgerPath(root), "", Options{
				Plans: toyPlans(root, 2, toyCrash{row: -1}, ""), Workers: 2, Reporter: rep,
				Schedule: pipeline.ScheduleConfig{RetryBackoff: "10ms"},
			})
			if err := n.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer n.Stop(ctx)
			asOf, _ := pipeline.ParseAsOf("2026-11-30")
			if _, err := n.EnqueueRun(ctx, asOf, pipeline.KindManual); err != nil {
				t.Fatal(err)
			}
			counts := waitJobs(t, n, 30*time.Second)
			for kind, c := range counts {
				if len(c) != 1 || c["completed"] == 0 {
					t.Fatalf("%s jobs: %v (want all completed)", kind, c)
				}
			}
			runs, err := l.Runs(ctx, pipeline.RunsFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 1 || runs[0].Status != pipeline.StatusSucceeded || runs[0].Attempts != 1 {
				t.Fatalf("runs: %+v", runs)
			}
			if len(rep.runs) != 1 || rep.runs[0] != runs[0].RunID {
				t.Fatalf("reporter called for %v, want once for %s", rep.runs, runs[0].RunID)
			}
			st := runs[0].Stages // extract, features, score.prep, score, publish, report
			last := st[len(st)-1]
			if len(st) != 6 || last.Stage != pipeline.StageReport || last.Status != tc.wantStatus || !strings.Contains(last.Error, tc.wantErr) {
				t.Fatalf("stages: %+v", st)
			}
		})
	}
}
