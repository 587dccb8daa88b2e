package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/retainlab/retain/pipeline"
)

// TestMain doubles as the child process of the crash and multi-process
// tests: with RETAIN_TEST_CHILD set the test binary runs one role and exits.
func TestMain(m *testing.M) {
	switch os.Getenv("RETAIN_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "run":
		os.Exit(childRun())
	case "worker":
		os.Exit(childWorker())
	case "realworker":
		os.Exit(childRealWorker())
	case "bucketworker":
		os.Exit(childBucketWorker())
	default:
		fmt.Fprintln(os.Stderr, "unknown RETAIN_TEST_CHILD")
		os.Exit(3)
	}
}

// childRun runs the toy plan locally once (RETAIN_TEST_ROOT, RETAIN_TEST_ASOF,
// RETAIN_TEST_SHARDS), printing the report as JSON.
func childRun() int {
	ctx := context.Background()
	root := os.Getenv("RETAIN_TEST_ROOT")
	asOf, _ := pipeline.ParseAsOf(os.Getenv("RETAIN_TEST_ASOF"))
	shards := 4
	fmt.Sscan(os.Getenv("RETAIN_TEST_SHARDS"), &shards)
	l, err := pipeline.OpenLedger(ctx, pipeline.LedgerPath(root), "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer l.Close()
	point := os.Getenv("RETAIN_TEST_CRASH_POINT")
	ex := &pipeline.Executor{Artifacts: pipeline.Artifacts{Root: root}, Ledger: l, Parallel: 2,
		Crash: func(p string) {
			if p == point {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Hour)
			}
		}}
	plan, _ := toyPlans(root, shards, crashFromEnv(), "")(ctx, asOf, pipeline.KindManual)
	rep, err := ex.Run(ctx, plan)
	json.NewEncoder(os.Stdout).Encode(rep)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childWorker works jobs against Postgres (RETAIN_TEST_DSN, RETAIN_TEST_SCHEMA)
// until RETAIN_TEST_ROOT/stop exists.
func childWorker() int {
	root := os.Getenv("RETAIN_TEST_ROOT")
	return workUntilStop(root, pipeline.Artifacts{Root: root}, toyPlans(root, 4, toyCrash{row: -1}, filepath.Join(root, "calls.log")), nil)
}

// workUntilStop runs one River worker (child process RETAIN_TEST_ID) on the
// plans against the ledger in RETAIN_TEST_DSN/RETAIN_TEST_SCHEMA, with the
// artifacts arts and the executor clock now (nil: the wall clock), until
// root/stop exists. It returns the process exit status.
func workUntilStop(root string, arts pipeline.Artifacts, plans PlanFunc, now func() time.Time) int {
	ctx := context.Background()
	l, err := pipeline.OpenLedger(ctx, os.Getenv("RETAIN_TEST_DSN"), os.Getenv("RETAIN_TEST_SCHEMA"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer l.Close()
	ex := &pipeline.Executor{Artifacts: arts, Ledger: l, Now: now}
	n, err := Open(ctx, Options{Plans: plans, Executor: ex, Workers: 1, PollInterval: 50 * time.Millisecond,
		ID: "child-" + os.Getenv("RETAIN_TEST_ID")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := n.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "stop")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.Stop(sctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
