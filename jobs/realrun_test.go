package jobs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/datasets/synth"
	"github.com/retainlab/retain/pipeline"
)

// The real pipeline (extract → features → score per shard → publish) on
// generated customers, for the scale-out acceptance test.

var (
	realAsOf = time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)
	// realNow is the clock of every executor: scored_at is the same in both runs.
	realNow = time.Date(2024, 12, 1, 2, 30, 0, 0, time.UTC)
)

// writeRealData generates customers into dir with their retain.yaml (4
// shards, a quick GBDT), extracts the snapshot and trains the champion
// once; it returns the config file.
func writeRealData(t *testing.T, dir string, customers int) string {
	t.Helper()
	ctx := context.Background()
	if _, err := synth.Generate(ctx, synth.Config{Customers: customers, Seed: 9,
		Tables: []datasets.Table{datasets.Customers, datasets.Orders, datasets.Events}}, dir, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, synth.ConfigFile)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "shards: 4\nmodel:\n  kind: gbdt\n  calibration_folds: 2\n  gbdt:\n    trees: 40\n    learning_rate: 0.2\n    no_refit: true\n")
	f.Close()
	cfg, err := pipeline.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Extract(ctx, cfg, pipeline.ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Train(ctx, cfg, pipeline.TrainOptions{AsOf: realAsOf}); err != nil {
		t.Fatal(err)
	}
	return path
}

func realPlans(cfg *pipeline.Config) PlanFunc {
	return func(_ context.Context, asOf time.Time, kind string) (*pipeline.Plan, error) {
		return pipeline.NewPlan(cfg, asOf, kind)
	}
}

// childRealWorker works real runs of RETAIN_TEST_CONFIG against Postgres
// (RETAIN_TEST_DSN, RETAIN_TEST_SCHEMA) with artifacts in RETAIN_TEST_ROOT,
// until RETAIN_TEST_ROOT/stop exists.
func childRealWorker() int {
	root := os.Getenv("RETAIN_TEST_ROOT")
	cfg, err := pipeline.Load(os.Getenv("RETAIN_TEST_CONFIG"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return workUntilStop(root, pipeline.Artifacts{Root: root}, realPlans(cfg), func() time.Time { return realNow })
}

// bucketMachine is the config of one machine sharing runs through the
// file:// bucket: its own data_dir (scratch) under root.
func bucketMachine(cfgPath, dataDir, bucket string) (*pipeline.Config, error) {
	cfg, err := pipeline.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	cfg.DataDir = dataDir
	cfg.Schedule.Artifacts = "file://" + filepath.ToSlash(bucket)
	return cfg, nil
}

// childBucketWorker is one machine of TestRealShardedRunThroughBucket: a
// worker with its own data_dir (RETAIN_TEST_ROOT/machine-<id>) that shares
// runs and the champion only through the bucket RETAIN_TEST_BUCKET.
func childBucketWorker() int {
	root := os.Getenv("RETAIN_TEST_ROOT")
	cfg, err := bucketMachine(os.Getenv("RETAIN_TEST_CONFIG"), filepath.Join(root, "machine-"+os.Getenv("RETAIN_TEST_ID")), os.Getenv("RETAIN_TEST_BUCKET"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	arts, err := pipeline.OpenArtifacts(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer arts.Close()
	plans := func(ctx context.Context, asOf time.Time, kind string) (*pipeline.Plan, error) {
		return pipeline.NewSharedPlan(ctx, cfg, arts, asOf, kind)
	}
	return workUntilStop(root, arts, plans, func() time.Time { return realNow })
}

// TestRealShardedRunThroughBucket: the River scale-out with no shared
// filesystem. Two worker processes, each with its own empty data_dir, share
// the Postgres queue and a file:// bucket; the champion was trained
// elsewhere and shared in the bucket. They run a night (extract and features
// in the run job, score's prepare step, four shard jobs, the merge and
// publish) and publish the same risk list bytes as a local run.
func TestRealShardedRunThroughBucket(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	data := t.TempDir()
	cfgPath := writeRealData(t, data, 2000)
	cfg, err := pipeline.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.NewPlan(cfg, realAsOf, pipeline.KindManual)
	if err != nil {
		t.Fatal(err)
	}
	ex := &pipeline.Executor{Artifacts: pipeline.Artifacts{Root: t.TempDir()}, Now: func() time.Time { return realNow }}
	if _, err := ex.Run(ctx, plan); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(cfg.DataDir, "exports", "risk_current.parquet"))
	if err != nil {
		t.Fatal(err)
	}

	root, bucket := t.TempDir(), t.TempDir()
	trainer, err := bucketMachine(cfgPath, cfg.DataDir, bucket)
	if err != nil {
		t.Fatal(err)
	}
	arts, err := pipeline.OpenArtifacts(ctx, trainer)
	if err != nil {
		t.Fatal(err)
	}
	defer arts.Close()
	if err := arts.PushModels(ctx, pipeline.ModelsDir(trainer)); err != nil {
		t.Fatal(err)
	}
	n, l := newTestNode(t, ctx, t.TempDir(), testDSN, schema, Options{Plans: realPlans(cfg), InsertOnly: true})
	defer startWorkers(t, 2, "bucketworker", root, schema, "RETAIN_TEST_CONFIG="+cfgPath, "RETAIN_TEST_BUCKET="+bucket)()
	if _, err := n.EnqueueRun(ctx, realAsOf, pipeline.KindManual); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, l, 1, 120*time.Second)
	published := 0
	for i := 0; i < 2; i++ {
		got, err := os.ReadFile(filepath.Join(root, fmt.Sprintf("machine-%d", i), "exports", "risk_current.parquet"))
		if err != nil {
			continue
		}
		published++
		if !bytes.Equal(got, want) {
			t.Errorf("machine %d published %d bytes that differ from the local run's %d", i, len(got), len(want))
		}
	}
	if published != 1 {
		t.Fatalf("%d machines published, want 1", published)
	}
	for _, rel := range []string{"publish/manifest.json", "score/scores.parquet", "score.parts/part-00003/manifest.json"} {
		if _, err := os.Stat(filepath.Join(bucket, "runs", plan.RunID, filepath.FromSlash(rel))); err != nil {
			t.Errorf("bucket: %v", err)
		}
	}
	counts := waitJobs(t, n, 30*time.Second)
	if counts[KindShard]["completed"] != 4 || counts[KindContinue]["completed"] != 1 || counts[KindRun]["completed"] != 1 {
		t.Fatalf("job counts: %v", counts)
	}
}

// TestRealShardedRunOnTwoProcessesMatchesSingle is the scale-out acceptance
// test on the real stages: generated customers, the champion trained once;
// a single-machine run (retain run) and a 4-shard run worked by 2 worker
// processes over Postgres (features and publish in a run job, score's
// prepare step in the run job, one job per score shard, the last shard
// queueing the merge and publish) publish byte-identical risk lists.
func TestRealShardedRunOnTwoProcessesMatchesSingle(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	data := t.TempDir()
	cfgPath := writeRealData(t, data, 4000)
	cfg, err := pipeline.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	exports := filepath.Join(cfg.DataDir, "exports")
	published := func() map[string][]byte {
		out := map[string][]byte{}
		for _, f := range []string{"risk_current.csv", "risk_current.parquet"} {
			b, err := os.ReadFile(filepath.Join(exports, f))
			if err != nil {
				t.Fatal(err)
			}
			out[f] = b
		}
		return out
	}

	// One machine: the local executor (shards side by side in goroutines).
	single := t.TempDir()
	l1, err := pipeline.OpenLedger(ctx, filepath.Join(single, "ledger.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	plan, err := pipeline.NewPlan(cfg, realAsOf, pipeline.KindManual)
	if err != nil {
		t.Fatal(err)
	}
	ex := &pipeline.Executor{Artifacts: pipeline.Artifacts{Root: single}, Ledger: l1, Now: func() time.Time { return realNow }}
	if _, err := ex.Run(ctx, plan); err != nil {
		t.Fatal(err)
	}
	want := published()
	if err := os.RemoveAll(exports); err != nil { // the sharded run must write them anew
		t.Fatal(err)
	}

	// Four shards on two worker processes; this process only queues.
	root := t.TempDir()
	n, l := newTestNode(t, ctx, root, testDSN, schema, Options{Plans: realPlans(cfg), InsertOnly: true})
	defer startWorkers(t, 2, "realworker", root, schema, "RETAIN_TEST_CONFIG="+cfgPath)()
	if _, err := n.EnqueueRun(ctx, realAsOf, pipeline.KindManual); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, l, 1, 120*time.Second)
	got := published()
	for f := range want {
		if len(want[f]) == 0 || !bytes.Equal(want[f], got[f]) {
			t.Errorf("%s differs between the single-machine run (%d bytes) and the 4-shard run on 2 processes (%d bytes)", f, len(want[f]), len(got[f]))
		}
	}
	a, _ := os.ReadFile(filepath.Join(ex.Artifacts.StageDir(plan.RunID, pipeline.StageScore), "scores.parquet"))
	b, _ := os.ReadFile(filepath.Join(root, "runs", plan.RunID, pipeline.StageScore, "scores.parquet"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("scores.parquet differs (%d vs %d bytes)", len(a), len(b))
	}
	// Every score shard ran as its own job, once; the last queued the merge.
	counts := waitJobs(t, n, 30*time.Second)
	if counts[KindShard]["completed"] != 4 || counts[KindContinue]["completed"] != 1 || counts[KindRun]["completed"] != 1 {
		t.Fatalf("job counts: %v", counts)
	}
	shards, err := l.ShardsDone(ctx, plan.RunID, pipeline.StageScore)
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 4 {
		t.Fatalf("ledger: %d score shards done, want 4", len(shards))
	}
}
