package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retainlab/retain/datasets"
)

// machine is one "machine" of a run shared through a bucket: its own config
// (data_dir = its local scratch folder) and executor.
type machine struct {
	cfg *Config
	ex  *Executor
}

func newMachine(t *testing.T, cfgPath, dataDir, bucket string, now time.Time) *machine {
	t.Helper()
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if dataDir != "" {
		cfg.DataDir = dataDir
	}
	cfg.Schedule.Artifacts = bucket
	if !strings.Contains(bucket, "://") {
		cfg.Schedule.Artifacts = "file://" + filepath.ToSlash(bucket)
	}
	arts, err := OpenArtifacts(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if arts.Store == nil || arts.Root != cfg.DataDir {
		t.Fatalf("artifacts %+v: want the bucket with data_dir as the local copy", arts)
	}
	t.Cleanup(func() { arts.Close() })
	return &machine{cfg: cfg, ex: &Executor{Artifacts: arts, Now: func() time.Time { return now }, Parallel: 2}}
}

// prepareScore runs p's stages before the score stage (index i) and its
// prepare step on m.
func (m *machine) prepareScore(t *testing.T, p *Plan, i int) {
	t.Helper()
	m.runBefore(t, p, i)
	if _, err := m.ex.RunPrepare(context.Background(), p, i); err != nil {
		t.Fatal(err)
	}
}

// runBefore runs p's stages before stage i on m.
func (m *machine) runBefore(t *testing.T, p *Plan, i int) {
	t.Helper()
	for j := 0; j < i; j++ {
		if _, err := m.ex.RunStage(context.Background(), p, j); err != nil {
			t.Fatal(err)
		}
	}
}

// runSkipped runs p on m and fails the test for every stage that was not
// skipped (what: which run, for the message).
func (m *machine) runSkipped(t *testing.T, p *Plan, what string) {
	t.Helper()
	rep, err := m.ex.Run(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rep.Stages {
		if !o.Skipped {
			t.Errorf("%s: %s was not skipped", what, o.Stage)
		}
	}
}

func (m *machine) plan(t *testing.T, asOf time.Time) *Plan {
	t.Helper()
	p, err := NewSharedPlan(context.Background(), m.cfg, m.ex.Artifacts, asOf, KindManual)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// localRun is the reference for runs shared through a bucket: the night at
// asOf run on one machine without a bucket. It returns the plan, the
// published exports and scores.parquet.
func localRun(t *testing.T, cfgPath string, asOf, now time.Time) (*Plan, map[string][]byte, []byte) {
	t.Helper()
	ref, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(ref, asOf, KindManual)
	if err != nil {
		t.Fatal(err)
	}
	ex := &Executor{Artifacts: Artifacts{Root: t.TempDir()}, Now: func() time.Time { return now }, Parallel: 2}
	if _, err := ex.Run(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	scores, err := os.ReadFile(filepath.Join(ex.Artifacts.StageDir(p.RunID, StageScore), "scores.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	return p, readExports(t, ref.DataDir), scores
}

func readExports(t *testing.T, dataDir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{"risk_current.csv", "risk_current.parquet"} {
		b, err := os.ReadFile(filepath.Join(dataDir, "exports", f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

func sameExports(t *testing.T, what string, want, got map[string][]byte) {
	t.Helper()
	for f := range want {
		if len(want[f]) == 0 || !bytes.Equal(want[f], got[f]) {
			t.Errorf("%s: %s differs from the local run's (%d vs %d bytes)", what, f, len(got[f]), len(want[f]))
		}
	}
}

// crashAt runs fn, which is expected to reach the executor's crash point
// (a panic standing in for a killed process), and recovers.
func crashAt(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != errCrashed {
			t.Fatalf("expected the simulated crash, got %v", r)
		}
	}()
	fn()
}

var errCrashed = errors.New("simulated crash")

// TestRunSharedThroughBucket: a file:// bucket stands in for the shared
// object store, and two scratch folders for two machines. Machine A extracts,
// builds the features and prepares scoring; machine B, which has never seen
// the sources, the snapshot or the model registry, fetches what it needs from
// the bucket, works every score shard, merges and publishes — the same risk
// list, byte for byte, as a local run without a bucket. Then B crashes in a
// shard of the next night and a third machine resumes that night from the
// bucket, redoing only what was not complete, and a repeated run does nothing.
func TestRunSharedThroughBucket(t *testing.T) {
	ctx := context.Background()
	asOf := time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2024, 12, 1, 2, 30, 0, 0, time.UTC)
	cfgPath := synthRun(t, 3000, "shards: 4\n", asOf)

	// The reference: one machine, runs under data_dir as before.
	refPlan, want, wantScores := localRun(t, cfgPath, asOf, now)

	bucket := t.TempDir()
	a := newMachine(t, cfgPath, "", bucket, now) // the generated data_dir: sources, snapshot, champion
	b := newMachine(t, cfgPath, t.TempDir(), bucket, now)
	// `retain train` (or a retraining run) shares the champion it promotes.
	if err := a.ex.Artifacts.PushModels(ctx, ModelsDir(a.cfg)); err != nil {
		t.Fatal(err)
	}

	pa := a.plan(t, asOf)
	i := pa.StageIndex(StageScore)
	a.prepareScore(t, pa, i)

	pb := b.plan(t, asOf)
	if pb.RunID != pa.RunID || pb.RunID != refPlan.RunID || stageList(pb) != stageList(pa) {
		t.Fatalf("machine B plans %s (%s), A %s (%s), the local run %s", pb.RunID, stageList(pb), pa.RunID, stageList(pa), refPlan.RunID)
	}
	for sh := 0; sh < pb.Shards; sh++ {
		o, err := b.ex.RunPart(ctx, pb, i, sh)
		if err != nil {
			t.Fatal(err)
		}
		if o.Skipped || o.Rows == 0 {
			t.Fatalf("shard %d: %+v", sh, o)
		}
	}
	for j := i; j < len(pb.Stages); j++ {
		if _, err := b.ex.RunStage(ctx, pb, j); err != nil {
			t.Fatal(err)
		}
	}
	sameExports(t, "published by machine B", want, readExports(t, b.cfg.DataDir))
	got, _ := os.ReadFile(filepath.Join(b.ex.Artifacts.StageDir(pb.RunID, StageScore), "scores.parquet"))
	inBucket, _ := os.ReadFile(filepath.Join(bucket, "runs", pb.RunID, StageScore, "scores.parquet"))
	if !bytes.Equal(got, wantScores) || !bytes.Equal(inBucket, wantScores) {
		t.Errorf("scores.parquet: machine B %d bytes, bucket %d, local run %d; want identical", len(got), len(inBucket), len(wantScores))
	}
	// B worked from the bucket alone: no snapshot of its own, the features
	// and the champion fetched.
	if _, err := os.Stat(datasets.SnapshotDir(b.cfg.DataDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("machine B has a snapshot: %v", err)
	}
	if c, err := ModelRegistry(b.cfg).Champion(); err != nil || c == nil {
		t.Errorf("machine B did not pull the champion: %v", err)
	}
	// Every stage A wrote is in the bucket with its manifest; the parts B wrote too.
	for _, rel := range []string{StageExtract, StageFeatures, StageScore + ".prep", StageScore + ".parts/part-00003", StageScore, StagePublish} {
		if _, err := os.Stat(filepath.Join(bucket, "runs", pb.RunID, filepath.FromSlash(rel), manifestName)); err != nil {
			t.Errorf("bucket: %v", err)
		}
	}
	// A run again (any machine) finds everything complete in the bucket.
	a.runSkipped(t, pa, "rerun on A")

	// The next night: A prepares, B crashes in shard 2 after finishing
	// shards 0 and 1, before shard 2's folder is published.
	night2 := asOf.AddDate(0, 0, 1)
	pa2 := a.plan(t, night2)
	a.prepareScore(t, pa2, i)
	pb2 := b.plan(t, night2)
	b.ex.Crash = func(p string) {
		if p == "before-commit:"+StageScore+"/2" {
			panic(errCrashed)
		}
	}
	for sh := 0; sh < 2; sh++ {
		if _, err := b.ex.RunPart(ctx, pb2, i, sh); err != nil {
			t.Fatal(err)
		}
	}
	crashAt(t, func() { b.ex.RunPart(ctx, pb2, i, 2) })
	if _, err := os.Stat(filepath.Join(bucket, "runs", pb2.RunID, StageScore+".parts", "part-00002")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the crashed shard left something in the bucket: %v", err)
	}
	// A third machine with an empty scratch folder resumes the night.
	c := newMachine(t, cfgPath, t.TempDir(), bucket, now)
	pc2 := c.plan(t, night2)
	rep, err := c.ex.Run(ctx, pc2)
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	for _, o := range rep.Stages {
		k := o.Stage
		if o.Shard != nil {
			k += "/" + string(rune('0'+*o.Shard))
		}
		ran[k] = !o.Skipped
	}
	for k, wantRan := range map[string]bool{StageExtract: false, StageFeatures: false, StageScore + ".prep": false,
		StageScore + "/0": false, StageScore + "/1": false, StageScore + "/2": true, StageScore + "/3": true, StageScore: true, StagePublish: true} {
		if r, ok := ran[k]; !ok || r != wantRan {
			t.Errorf("resumed run: %s ran=%v (reported %v), want ran=%v", k, r, ok, wantRan)
		}
	}
	if _, err := os.Stat(filepath.Join(bucket, "runs", pb2.RunID, StagePublish, manifestName)); err != nil {
		t.Errorf("the resumed night is not complete in the bucket: %v", err)
	}
	// Run again: nothing to do, publish is not repeated.
	c.runSkipped(t, pc2, "repeated run")

	// A third night scored on A and published by a fresh machine D: D
	// downloads the score stage, which publish reads, and nothing else (the
	// features, the prep and the parts stay in the bucket).
	night3 := asOf.AddDate(0, 0, 2)
	pa3 := a.plan(t, night3)
	a.runBefore(t, pa3, pa3.StageIndex(StagePublish))
	d := newMachine(t, cfgPath, t.TempDir(), bucket, now)
	pd3 := d.plan(t, night3)
	if rep, err = d.ex.Run(ctx, pd3); err != nil {
		t.Fatal(err)
	}
	for _, o := range rep.Stages {
		if o.Skipped != (o.Stage != StagePublish) {
			t.Errorf("machine D: %s skipped=%v", o.Stage, o.Skipped)
		}
	}
	for stage, want := range map[string]bool{StageScore: true, StageFeatures: false, StageExtract: false, StageScore + ".prep": false, StageScore + ".parts": false} {
		_, err := os.Stat(d.ex.Artifacts.StageDir(pd3.RunID, stage))
		if got := err == nil; got != want {
			t.Errorf("machine D has a local %s folder: %v, want %v", stage, got, want)
		}
	}
}

func stageList(p *Plan) string {
	var s []string
	for _, st := range p.Stages {
		s = append(s, st.Name)
	}
	return strings.Join(s, ",")
}

// TestArtifactsFetchChecksHashes: a local copy is refreshed when the bucket's
// manifest changes, and an object that does not match its manifest is
// reported, not used.
func TestArtifactsFetchChecksHashes(t *testing.T) {
	ctx := context.Background()
	bucket := t.TempDir()
	open := func() Artifacts {
		cfg := &Config{DataDir: t.TempDir(), Schedule: ScheduleConfig{Artifacts: "file://" + filepath.ToSlash(bucket)}}
		a, err := OpenArtifacts(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	w, r := open(), open()
	write := func(content string) {
		dir := w.StageDir("run1", "s")
		tmp, err := newTempDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "out.txt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		outs, err := hashOutputs(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeManifest(tmp, &StageManifest{Stage: "s", Inputs: content, Outputs: outs}); err != nil {
			t.Fatal(err)
		}
		if err := w.publish(ctx, tmp, dir); err != nil {
			t.Fatal(err)
		}
	}
	local := filepath.Join(r.StageDir("run1", "s"), "out.txt")
	if err := r.Fetch(ctx, r.StageDir("run1", "s")); err == nil {
		t.Fatal("fetching a stage the bucket does not have succeeded")
	}
	write("first")
	if err := r.Fetch(ctx, r.StageDir("run1", "s")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(local); string(b) != "first" {
		t.Fatalf("fetched %q", b)
	}
	if m, ok := r.complete(ctx, r.StageDir("run1", "s"), "first"); !ok || m.Stage != "s" {
		t.Fatal("not complete in the bucket")
	}
	write("second")
	if err := r.Fetch(ctx, r.StageDir("run1", "s")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(local); string(b) != "second" {
		t.Fatalf("after the bucket changed: fetched %q", b)
	}
	// Someone rewrites the object behind the manifest's back.
	obj := filepath.Join(bucket, "runs", "run1", "s", "out.txt")
	if err := os.WriteFile(obj, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.complete(ctx, r.StageDir("run1", "s"), "second"); ok {
		t.Error("a stage whose object has the wrong size counts as complete")
	}
	os.RemoveAll(r.StageDir("run1", "s"))
	if err := r.Fetch(ctx, r.StageDir("run1", "s")); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("fetch of a tampered object: %v", err)
	}
	if _, err := os.Stat(local); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed fetch left a local copy: %v", err)
	}
}

// TestArtifactsConfig: schedule.artifacts is a folder or a store URL; a bad
// URL is bad input naming the key.
func TestArtifactsConfig(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := &Config{DataDir: dir}
	if a, err := OpenArtifacts(ctx, cfg); err != nil || a.Root != dir || a.Store != nil {
		t.Fatalf("default: %+v %v", a, err)
	}
	cfg.Schedule.Artifacts = filepath.Join(dir, "shared")
	if a, err := OpenArtifacts(ctx, cfg); err != nil || a.Root != filepath.Join(dir, "shared") || a.Store != nil {
		t.Fatalf("folder: %+v %v", a, err)
	}
	for _, bad := range []string{"ftp://host/x", "s3:///prefix", "gs://", "file://", "file://otherhost/x"} {
		s := ScheduleConfig{Artifacts: bad}
		err := s.Validate()
		var bi interface{ BadInput() bool }
		if err == nil || !strings.Contains(err.Error(), "schedule.artifacts") || !errors.As(err, &bi) || !bi.BadInput() {
			t.Errorf("%q: %v", bad, err)
		}
		cfg.Schedule.Artifacts = bad
		if _, err := OpenArtifacts(ctx, cfg); err == nil || !strings.Contains(err.Error(), "schedule.artifacts") || !errors.As(err, &bi) || !bi.BadInput() {
			t.Errorf("open %q: %v", bad, err)
		}
	}
	for _, good := range []string{"s3://bucket/retain/prod?region=eu-west-1", "gs://bucket", "file:///shared/retain", "mem://"} {
		if err := (ScheduleConfig{Artifacts: good}).Validate(); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

// TestFeaturesOnAnotherMachineUseTheRunsSnapshot: the snapshot stays in each
// machine's data_dir, so a machine that builds the features of a run whose
// extract stage ran elsewhere extracts the sources itself and checks that it
// got the snapshot the extract stage recorded — it never builds features from
// a snapshot of other data.
func TestFeaturesOnAnotherMachineUseTheRunsSnapshot(t *testing.T) {
	ctx := context.Background()
	asOf := time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2024, 12, 1, 2, 30, 0, 0, time.UTC)
	cfgPath := synthRun(t, 800, "shards: 2\n", asOf)
	bucket := t.TempDir()
	a := newMachine(t, cfgPath, "", bucket, now)
	b := newMachine(t, cfgPath, t.TempDir(), bucket, now)
	if err := a.ex.Artifacts.PushModels(ctx, ModelsDir(a.cfg)); err != nil {
		t.Fatal(err)
	}
	features := func(m *machine, night time.Time) error {
		p := m.plan(t, night)
		_, err := m.ex.RunStage(ctx, p, p.StageIndex(StageFeatures))
		return err
	}
	extract := func(night time.Time) {
		p := a.plan(t, night)
		if _, err := a.ex.RunStage(ctx, p, p.StageIndex(StageExtract)); err != nil {
			t.Fatal(err)
		}
	}
	snap := func(m *machine) *datasets.Manifest {
		s, err := readSnapshotManifest(filepath.Join(datasets.SnapshotDir(m.cfg.DataDir), "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// B has no snapshot: it extracts the same one.
	extract(asOf)
	if err := features(b, asOf); err != nil {
		t.Fatal(err)
	}
	if !sameSnapshot(snap(a), snap(b)) {
		t.Fatal("B's snapshot differs from A's")
	}
	// B's snapshot is not the run's (stale): B extracts again first.
	night2 := asOf.AddDate(0, 0, 1)
	extract(night2)
	stale := snap(b)
	stale.Tables[datasets.Orders].Rows++
	if err := writeJSON(filepath.Join(datasets.SnapshotDir(b.cfg.DataDir), "manifest.json"), stale); err != nil {
		t.Fatal(err)
	}
	if err := features(b, night2); err != nil {
		t.Fatal(err)
	}
	if !sameSnapshot(snap(a), snap(b)) {
		t.Fatal("B built features without restoring the run's snapshot")
	}
	// The sources change after A's extract of night 3: B cannot get the
	// run's snapshot and fails instead of building other data's features.
	night3 := asOf.AddDate(0, 0, 2)
	extract(night3)
	orders := a.cfg.Sources[datasets.Orders].Path
	f, err := os.OpenFile(orders, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n")
	f.Close()
	if err := os.Chtimes(orders, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(datasets.SnapshotDir(b.cfg.DataDir)); err != nil {
		t.Fatal(err)
	}
	err = features(b, night3)
	if err == nil || !strings.Contains(err.Error(), "not the one the run's extract stage recorded") {
		t.Fatalf("features from changed sources: %v", err)
	}
}

// TestFingerprintIgnoresDataDir: machines with different scratch folders
// make the same run ids; anything that changes the output still changes them.
func TestFingerprintIgnoresDataDir(t *testing.T) {
	a, _ := ConfigFingerprint(&Config{DataDir: "/machine-a", Shards: 8})
	b, _ := ConfigFingerprint(&Config{DataDir: "/scratch/b", Shards: 8, Schedule: ScheduleConfig{Artifacts: "s3://x/y"}})
	c, _ := ConfigFingerprint(&Config{DataDir: "/machine-a", Shards: 4})
	if a != b || a == c {
		t.Fatalf("fingerprints %s %s %s", a, b, c)
	}
}

// TestFirstChampionNightPlannedAlike: the night that trains the first
// champion (no champion anywhere yet) has a train stage; a machine planning
// that night afterwards, when the champion exists and was pulled from the
// bucket, plans the same stages and finds the whole run complete.
func TestFirstChampionNightPlannedAlike(t *testing.T) {
	ctx := context.Background()
	asOf := time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2024, 12, 1, 2, 30, 0, 0, time.UTC)
	cfgPath := synthRun(t, 800, "shards: 2\n", asOf)
	bucket := t.TempDir()
	a := newMachine(t, cfgPath, "", bucket, now)
	if err := os.RemoveAll(ModelsDir(a.cfg)); err != nil { // no champion yet
		t.Fatal(err)
	}
	pa := a.plan(t, asOf)
	if pa.StageIndex(StageTrain) < 0 {
		t.Fatalf("the first night has no train stage: %s", stageList(pa))
	}
	if _, err := a.ex.Run(ctx, pa); err != nil {
		t.Fatal(err)
	}
	b := newMachine(t, cfgPath, t.TempDir(), bucket, now)
	pb := b.plan(t, asOf)
	if stageList(pb) != stageList(pa) {
		t.Fatalf("machine B plans %s, A planned %s", stageList(pb), stageList(pa))
	}
	b.runSkipped(t, pb, "machine B")
	// The next night is planned without train: the champion exists.
	if p := b.plan(t, asOf.AddDate(0, 0, 1)); p.StageIndex(StageTrain) >= 0 {
		t.Errorf("the next night trains again: %s", stageList(p))
	}
}
