package jobs

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/retainlab/retain/pipeline"
)

const testDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// testSchema makes a uniquely named Postgres schema, dropped after the test.
func testSchema(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testDSN)
	if err != nil {
		t.Skipf("Postgres not reachable: %v", err)
	}
	conn.Close(ctx)
	name := fmt.Sprintf("retain_jobs_test_%d_%d", os.Getpid(), rand.Uint32())
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testDSN)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE")
			c.Close(context.Background())
		}
	})
	return name
}

// fakeClock is an adjustable clock shared by nodes.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

func waitRuns(t *testing.T, l *pipeline.Ledger, want int, timeout time.Duration) []pipeline.RunRecord {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		runs, err := l.Runs(context.Background(), pipeline.RunsFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		ok := 0
		for _, r := range runs {
			if r.Status == pipeline.StatusSucceeded {
				ok++
			}
			if r.Status == pipeline.StatusFailed {
				t.Fatalf("run %s failed in %s: %s", r.RunID, r.FailedStage, r.Error)
			}
		}
		if ok >= want {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d successful runs: %+v", want, runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newTestNode(t *testing.T, ctx context.Context, root, database, schema string, opts Options) (Node, *pipeline.Ledger) {
	t.Helper()
	l, err := pipeline.OpenLedger(ctx, database, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	opts.Executor = &pipeline.Executor{Artifacts: pipeline.Artifacts{Root: root}, Ledger: l}
	if opts.PollInterval == 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	n, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return n, l
}

// TestClockJumpCatchesUpInOrder: embedded River on SQLite. The first start
// catches up the nights inside the 3-day window; then the clock jumps two
// days ahead and the two missed nights run, oldest first, each once.
func TestClockJumpCatchesUpInOrder(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	if err := writeToyInput(root); err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	clock := &fakeClock{}
	clock.Set(time.Date(2026, 11, 30, 3, 0, 0, 0, berlin))
	n, l := newTestNode(t, ctx, root, pipeline.LedgerPath(root), "", Options{
		Plans:    toyPlans(root, 4, toyCrash{row: -1}, ""),
		Schedule: pipeline.ScheduleConfig{Timezone: "Europe/Berlin", Nightly: "0 2 * * *", CatchUp: "3d"},
		Clock:    clock.Now, Workers: 2,
	})
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctx)
	if err := n.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, l, 3, 30*time.Second)
	clock.Add(48 * time.Hour)
	if err := n.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	runs := waitRuns(t, l, 5, 30*time.Second)
	var got []string
	for i := len(runs) - 1; i >= 0; i-- {
		got = append(got, runs[i].AsOf)
		if i > 0 && runs[i-1].StartedAt.Before(*runs[i].FinishedAt) {
			t.Errorf("%s started %v before %s finished %v", runs[i-1].AsOf, runs[i-1].StartedAt, runs[i].AsOf, runs[i].FinishedAt)
		}
	}
	if strings.Join(got, " ") != "2026-11-28 2026-11-29 2026-11-30 2026-12-01 2026-12-02" {
		t.Fatalf("runs: %v", got)
	}
	// Ticking again queues nothing.
	if err := n.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	counts, err := n.JobCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts[KindRun]; c["completed"] != 5 || len(c) != 1 {
		t.Fatalf("run jobs: %v", counts)
	}
}

// TestSchedulersAndWorkersOnePostgres: 3 scheduler nodes and 3 worker nodes
// share one Postgres; every scheduler ticks repeatedly (as after restarts and
// leader changes): exactly one run per night and every shard processed once.
func TestSchedulersAndWorkersOnePostgres(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	root := t.TempDir()
	if err := writeToyInput(root); err != nil {
		t.Fatal(err)
	}
	calls := filepath.Join(root, "calls.log")
	clock := &fakeClock{}
	clock.Set(time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC))
	sched := pipeline.ScheduleConfig{Nightly: "0 2 * * *", CatchUp: "3d"}
	var nodes []Node
	var ledger *pipeline.Ledger
	for i := 0; i < 6; i++ {
		n, l := newTestNode(t, ctx, root, testDSN, schema, Options{
			Plans: toyPlans(root, 4, toyCrash{row: -1}, calls), Schedule: sched, Clock: clock.Now,
			Scheduler: i < 3, TickEvery: 200 * time.Millisecond, Workers: 2, ID: fmt.Sprintf("node-%d", i),
		})
		nodes = append(nodes, n)
		ledger = l
	}
	for _, n := range nodes {
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, n := range nodes {
			n.Stop(ctx)
		}
	}()
	hammer := func() {
		var wg sync.WaitGroup
		for _, n := range nodes[:3] {
			wg.Add(1)
			go func(n Node) {
				defer wg.Done()
				for k := 0; k < 3; k++ {
					if err := n.Tick(ctx); err != nil {
						t.Error(err)
					}
				}
			}(n)
		}
		wg.Wait()
	}
	hammer()
	waitRuns(t, ledger, 3, 40*time.Second)
	clock.Add(24 * time.Hour)
	hammer()
	runs := waitRuns(t, ledger, 4, 40*time.Second)
	time.Sleep(500 * time.Millisecond) // let any duplicate show itself
	runs, _ = ledger.Runs(ctx, pipeline.RunsFilter{})
	if len(runs) != 4 {
		t.Fatalf("%d runs, want 4: %+v", len(runs), runs)
	}
	for _, r := range runs {
		if r.Attempts != 1 || r.Status != pipeline.StatusSucceeded {
			t.Fatalf("run %s: %d attempts, %s", r.RunID, r.Attempts, r.Status)
		}
	}
	f, err := os.Open(calls)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		seen[sc.Text()]++
	}
	if len(seen) != 4*2*4 {
		t.Fatalf("%d distinct shard executions, want 32", len(seen))
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("shard %s processed %d times", k, c)
		}
	}
	counts, err := nodes[0].JobCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[KindRun]["completed"] != 4 || counts[KindShard]["completed"] != 32 || counts[KindContinue]["completed"] != 8 {
		t.Fatalf("job counts: %v", counts)
	}
}

// TestShardedOnTwoProcessesMatchesSingle: a 4-shard run worked by 2 worker
// processes publishes the same bytes as a single-machine run.
func TestShardedOnTwoProcessesMatchesSingle(t *testing.T) {
	ctx := context.Background()
	single := t.TempDir()
	if err := writeToyInput(single); err != nil {
		t.Fatal(err)
	}
	if r := runChild(t, single, "RETAIN_TEST_SHARDS=4"); r.code != 0 || r.killed {
		t.Fatalf("single run: %+v", r)
	}
	schema := testSchema(t)
	root := t.TempDir()
	if err := writeToyInput(root); err != nil {
		t.Fatal(err)
	}
	// The test process only queues; two child processes work.
	n, l := newTestNode(t, ctx, root, testDSN, schema, Options{Plans: toyPlans(root, 4, toyCrash{row: -1}, ""), InsertOnly: true})
	defer startWorkers(t, 2, "worker", root, schema)()
	asOf, _ := pipeline.ParseAsOf("2026-11-30")
	if _, err := n.EnqueueRun(ctx, asOf, pipeline.KindManual); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, l, 1, 60*time.Second)
	a, err := os.ReadFile(filepath.Join(single, "store", "risk_current.csv"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "store", "risk_current.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) || len(a) == 0 {
		t.Fatal("risk lists differ between the single-machine and the 2-process sharded run")
	}
}

// startWorkers starts n child test processes in the given RETAIN_TEST_CHILD
// role (env adds to the common RETAIN_TEST_* variables; each child gets its
// RETAIN_TEST_ID) and returns the function that stops them through root's
// stop file and waits for them.
func startWorkers(t *testing.T, n int, child, root, schema string, env ...string) (stop func()) {
	t.Helper()
	var procs []*exec.Cmd
	stop = func() {
		os.WriteFile(filepath.Join(root, "stop"), nil, 0o644)
		for _, p := range procs {
			p.Wait()
		}
	}
	for i := 0; i < n; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), "RETAIN_TEST_CHILD="+child, "RETAIN_TEST_ROOT="+root, "RETAIN_TEST_DSN="+testDSN,
			"RETAIN_TEST_SCHEMA="+schema, fmt.Sprintf("RETAIN_TEST_ID=%d", i)), env...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			stop()
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	return stop
}
