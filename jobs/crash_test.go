package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/retainlab/retain/pipeline"
)

type childResult struct {
	killed bool
	code   int
	report pipeline.RunReport
	stderr string
}

func runChild(t *testing.T, root string, env ...string) childResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"RETAIN_TEST_CHILD=run", "RETAIN_TEST_ROOT=" + root, "RETAIN_TEST_ASOF=2026-11-30"}, env...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := childResult{stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			res.killed = true
			return res
		}
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("child: %v", err)
	}
	json.Unmarshal(out.Bytes(), &res.report)
	return res
}

func queueState(t *testing.T, root string) (rows int, distinct int) {
	t.Helper()
	db, err := openToyQueue(filepath.Join(root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT customer_id) FROM queue`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

// TestKillNineResumes kills a run with SIGKILL at random rows of every stage
// (and between writing and publishing a stage folder), reruns it, and checks
// the risk list equals an uninterrupted run's and the queue has no duplicate.
func TestKillNineResumes(t *testing.T) {
	golden := t.TempDir()
	if err := writeToyInput(golden); err != nil {
		t.Fatal(err)
	}
	if r := runChild(t, golden); r.killed || r.code != 0 {
		t.Fatalf("uninterrupted run failed: %+v", r)
	}
	want, err := os.ReadFile(filepath.Join(golden, "store", "risk_current.csv"))
	if err != nil {
		t.Fatal(err)
	}
	wantQ, _ := queueState(t, golden)
	if wantQ == 0 || len(want) == 0 {
		t.Fatal("toy run published nothing")
	}

	rng := rand.New(rand.NewPCG(42, 7))
	stages := []string{"extract", "features", "features-merge", "score-prep", "score", "score-merge", "publish"}
	points := []string{"before-commit:extract", "after-commit:features/2", "before-commit:features", "before-commit:score.prep",
		"after-commit:score.prep", "after-commit:score/0", "before-commit:score", "before-commit:publish", "after-commit:publish"}
	trials := 16
	if testing.Short() {
		trials = 6
	}
	for trial := 0; trial < trials; trial++ {
		var crashEnv string
		if trial%4 == 3 {
			crashEnv = "RETAIN_TEST_CRASH_POINT=" + points[rng.IntN(len(points))]
		} else {
			st := stages[rng.IntN(len(stages))]
			k := rng.IntN(toyCustomers)
			if st == "features" || st == "score" {
				k = rng.IntN(4)*1000 + rng.IntN(toyCustomers/4)
			}
			if st == "score-prep" {
				k = 0
			}
			crashEnv = fmt.Sprintf("RETAIN_TEST_CRASH=%s:%d", st, k)
		}
		second := ""
		if rng.IntN(3) == 0 { // a second crash, in publish, sometimes
			second = fmt.Sprintf("RETAIN_TEST_CRASH=publish:%d", rng.IntN(toyCustomers))
		}
		t.Run(fmt.Sprintf("%d-%s", trial, crashEnv), func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			if err := writeToyInput(root); err != nil {
				t.Fatal(err)
			}
			first := runChild(t, root, crashEnv)
			if !first.killed {
				t.Logf("crash point not reached (exit %d)", first.code)
			}
			if second != "" {
				runChild(t, root, second)
			}
			r := runChild(t, root)
			if r.killed || r.code != 0 {
				t.Fatalf("rerun failed: code %d: %s", r.code, r.stderr)
			}
			got, err := os.ReadFile(filepath.Join(root, "store", "risk_current.csv"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("risk list differs from the uninterrupted run")
			}
			rows, distinct := queueState(t, root)
			if rows != wantQ || distinct != rows {
				t.Fatalf("queue: %d rows, %d distinct customers; want %d", rows, distinct, wantQ)
			}
			// A third run publishes nothing again: every stage is skipped.
			again := runChild(t, root)
			for _, s := range again.report.Stages {
				if s.Shard == nil && !s.Skipped {
					t.Fatalf("stage %s ran again on a complete run", s.Stage)
				}
			}
			// Leftovers of interrupted writes are gone.
			matches, _ := filepath.Glob(filepath.Join(root, "runs", "*", ".tmp-*"))
			if len(matches) > 0 {
				t.Fatalf("leftover temporary folders: %v", matches)
			}
		})
	}
}

// TestRunResumesFromFirstIncompleteStage: after a crash in score, the rerun
// skips extract and features.
func TestRunResumesFromFirstIncompleteStage(t *testing.T) {
	root := t.TempDir()
	if err := writeToyInput(root); err != nil {
		t.Fatal(err)
	}
	if r := runChild(t, root, "RETAIN_TEST_CRASH=score-merge:10"); !r.killed {
		t.Fatalf("expected a crash, got %+v", r)
	}
	r := runChild(t, root)
	if r.code != 0 {
		t.Fatalf("rerun: %s", r.stderr)
	}
	skipped := map[string]bool{}
	for _, s := range r.report.Stages {
		if s.Shard == nil {
			skipped[s.Stage] = s.Skipped
		}
	}
	want := map[string]bool{"extract": true, "features": true, "score": false, "publish": false}
	for k, v := range want {
		if skipped[k] != v {
			t.Errorf("stage %s skipped=%v, want %v (%v)", k, skipped[k], v, skipped)
		}
	}
	l, err := pipeline.OpenLedger(context.Background(), pipeline.LedgerPath(root), "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	runs, err := l.Runs(context.Background(), pipeline.RunsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Status != pipeline.StatusSucceeded || runs[0].Attempts != 2 || len(runs[0].Stages) != 5 { // with score.prep
		t.Fatalf("ledger: %+v", runs)
	}
}
