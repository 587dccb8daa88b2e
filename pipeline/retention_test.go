package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// runFolders lists the run ids that have files under root/runs (a data_dir
// or the file:// bucket; fileblob may leave empty folders behind).
func runFolders(t *testing.T, root string) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "runs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(root, "runs"), p)
			seen[strings.Split(filepath.ToSlash(rel), "/")[0]] = true
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// filesUnder lists every file under dir (relative paths), for "nothing was removed" checks.
func filesUnder(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

// TestRetentionKeepsTheNewestRuns: four nights through the real flow (runs
// in a file:// bucket, SQLite ledger) with retention.runs 2 and
// retention.exports 2. After each run PruneAfterRun applies retention (what
// `retain run`, `backfill` and the job workers do). Only the newest two runs'
// folders stay, locally and in the bucket, with their shared features files
// and dated exports; the ledger still lists all four, the older two marked
// pruned; a dry run removes nothing; a kept night reruns as a no-op; a
// pruned night and its scores are refused with a message saying why.
func TestRetentionKeepsTheNewestRuns(t *testing.T) {
	ctx := context.Background()
	last := time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2024, 12, 1, 2, 30, 0, 0, time.UTC)
	cfgPath := synthRun(t, 800, "shards: 2\nretention:\n  runs: 2\n  exports: 2\n", last)
	bucket := t.TempDir()
	m := newMachine(t, cfgPath, "", bucket, now)
	l, err := OpenLedger(ctx, LedgerPath(m.cfg.DataDir), "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m.ex.Ledger = l
	if m.cfg.Retention.KeepRuns() != 2 || m.cfg.Retention.KeepExports() != 2 {
		t.Fatalf("retention %+v", m.cfg.Retention)
	}

	var ids []string
	for k := 3; k >= 0; k-- {
		p := m.plan(t, last.AddDate(0, 0, -k))
		ids = append(ids, p.RunID)
		if _, err := m.ex.Run(ctx, p); err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			// Before the last prune: a dry run lists the oldest runs and removes nothing.
			before := filesUnder(t, m.cfg.DataDir, bucket)
			rep, err := Prune(ctx, m.cfg, m.ex.Artifacts, l, PruneOptions{DryRun: true, Keep: []string{p.RunID}})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Runs) != 1 || rep.Runs[0].RunID != ids[1] || rep.Runs[0].StoreObjects == 0 || rep.Runs[0].LocalBytes == 0 || rep.Bytes == 0 {
				t.Errorf("dry run: %+v", rep.Runs)
			}
			if after := filesUnder(t, m.cfg.DataDir, bucket); strings.Join(before, "\n") != strings.Join(after, "\n") {
				t.Errorf("the dry run removed files: %d before, %d after", len(before), len(after))
			}
		}
		m.ex.PruneAfterRun(ctx, p)
	}
	kept := []string{ids[2], ids[3]}
	sort.Strings(kept)
	if got := runFolders(t, m.cfg.DataDir); strings.Join(got, ",") != strings.Join(kept, ",") {
		t.Errorf("local runs/: %v, want %v", got, kept)
	}
	if got := runFolders(t, bucket); strings.Join(got, ",") != strings.Join(kept, ",") {
		t.Errorf("bucket runs/: %v, want %v", got, kept)
	}
	// The shared features files and the dated exports of the pruned nights are gone.
	for k, id := range ids {
		day := id[:10]
		wantHere := k >= 2
		for _, f := range []string{filepath.Join(m.cfg.DataDir, "features", "features-"+day+".parquet"),
			filepath.Join(m.cfg.DataDir, "exports", "risk-"+day+".parquet"), filepath.Join(m.cfg.DataDir, "exports", "risk-"+day+".csv")} {
			if _, err := os.Stat(f); (err == nil) != wantHere {
				t.Errorf("%s: present=%v, want %v", f, err == nil, wantHere)
			}
		}
	}
	for _, f := range []string{"risk_current.parquet", "risk_current.csv"} {
		if _, err := os.Stat(filepath.Join(m.cfg.DataDir, "exports", f)); err != nil {
			t.Error(err)
		}
	}
	// The ledger lists every run; the pruned ones say so.
	runs, err := l.Runs(ctx, RunsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 {
		t.Fatalf("ledger lists %d runs, want 4", len(runs))
	}
	for _, r := range runs {
		wantPruned := r.RunID == ids[0] || r.RunID == ids[1]
		if r.Pruned != wantPruned || r.Status != StatusSucceeded || (wantPruned && (r.PrunedAt == nil || r.PrunedBytes == 0)) {
			t.Errorf("ledger %s: pruned=%v at %v (%d bytes), status %s; want pruned=%v", r.RunID, r.Pruned, r.PrunedAt, r.PrunedBytes, r.Status, wantPruned)
		}
	}
	if st := runs[0].Stages; len(st) == 0 || st[len(st)-1].Stage != StagePrune || st[len(st)-1].Status != StatusSucceeded || st[len(st)-1].Rows != 1 {
		t.Errorf("the newest run's stages end %+v, want a succeeded prune row removing 1 run", st[len(st)-1])
	}

	// A kept night run again: nothing to do.
	p := m.plan(t, last.AddDate(0, 0, -1))
	m.runSkipped(t, p, "rerun of a kept night")
	// A pruned night: refused (bad input), nothing recreated; its scores too.
	p = m.plan(t, last.AddDate(0, 0, -3))
	_, err = m.ex.Run(ctx, p)
	var bi interface{ BadInput() bool }
	if !IsPruned(err) || !errors.As(err, &bi) || !bi.BadInput() || !strings.Contains(err.Error(), "retention") {
		t.Fatalf("rerun of a pruned night: %v", err)
	}
	if _, err := m.ex.RunStage(ctx, p, 0); !IsPruned(err) {
		t.Errorf("a stage of a pruned night: %v", err)
	}
	if _, err := os.Stat(m.ex.Artifacts.RunDir(p.RunID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused run left a folder: %v", err)
	}
	if _, err := RunScores(ctx, m.cfg, p.RunID); !IsPruned(err) {
		t.Errorf("scores of a pruned run: %v", err)
	}
	if st, _ := l.RunStatus(ctx, p.RunID); st != StatusSucceeded {
		t.Errorf("the refused run is now %q", st)
	}
	// Pruning again removes nothing more.
	again, err := Prune(ctx, m.cfg, m.ex.Artifacts, l, PruneOptions{})
	if err != nil || len(again.Runs) != 0 || len(again.Exports) != 0 {
		t.Errorf("second prune: %+v %v", again, err)
	}
}

// TestRetentionKeepsUnfinishedRuns: with retention.runs 2, a running run is
// kept whatever its date, a failed run within the kept window is kept (it can
// be resumed), a failed run older than the window goes; a pruned failed run
// can be run again from scratch, a pruned succeeded one cannot.
// It runs on the SQLite ledger and on a Postgres one (skipped when Postgres
// is not reachable at 127.0.0.1:5432).
func TestRetentionKeepsUnfinishedRuns(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		root := t.TempDir()
		l, err := OpenLedger(context.Background(), LedgerPath(root), "")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		retentionUnfinished(t, root, l)
	})
	t.Run("postgres", func(t *testing.T) {
		ctx := context.Background()
		dsn := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Skipf("Postgres not reachable: %v", err)
		}
		schema := fmt.Sprintf("retain_retention_test_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
		defer func() {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(context.Background())
		}()
		l, err := OpenLedger(ctx, dsn, schema)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		retentionUnfinished(t, t.TempDir(), l)
	})
}

func retentionUnfinished(t *testing.T, root string, l *Ledger) {
	ctx := context.Background()
	ex := &Executor{Artifacts: Artifacts{Root: root}, Ledger: l, Backoff: time.Millisecond}
	cfg := &Config{DataDir: root, Retention: RetentionConfig{Runs: "2", Exports: "off"}}
	var n atomic.Int32
	failing := atomic.Bool{}
	plan := func(day int) *Plan {
		asOf := time.Date(2026, 11, day, 0, 0, 0, 0, time.UTC)
		return &Plan{RunID: RunID(asOf, "abcd1234", KindNightly), AsOf: asOf, Kind: KindNightly, Shards: 1, Config: cfg,
			Stages: []Stage{fileStage("a", "1", &n), {Name: "b", Version: "1", Run: func(ctx context.Context, rc *RunContext, out string) (StageResult, error) {
				if failing.Load() {
					return StageResult{}, errors.New("source down")
				}
				return StageResult{Rows: 1}, os.WriteFile(filepath.Join(out, "b.txt"), []byte("b"), 0o644)
			}}}}
	}
	status := map[int]string{1: StatusSucceeded, 2: StatusFailed, 3: StatusRunning, 4: StatusSucceeded, 5: StatusFailed, 6: StatusSucceeded}
	for day := 1; day <= 6; day++ {
		p := plan(day)
		switch status[day] {
		case StatusSucceeded:
			failing.Store(false)
			if _, err := ex.Run(ctx, p); err != nil {
				t.Fatal(err)
			}
		case StatusFailed:
			failing.Store(true)
			if _, err := ex.Run(ctx, p); err == nil {
				t.Fatal("the failing run succeeded")
			}
		case StatusRunning: // under way elsewhere (or crashed): its first stage done
			if err := ex.BeginRun(ctx, p); err != nil {
				t.Fatal(err)
			}
			if _, err := ex.RunStage(ctx, p, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	failing.Store(false)
	rep, err := Prune(ctx, cfg, ex.Artifacts, l, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	for _, r := range rep.Runs {
		gone = append(gone, r.AsOf+" "+r.Status)
	}
	if strings.Join(gone, ",") != "2026-11-02 failed,2026-11-01 succeeded" || rep.KeptRuns != 4 {
		t.Errorf("removed %v (kept %d), want the old failed and the old succeeded run (4 kept)", gone, rep.KeptRuns)
	}
	want := []string{plan(3).RunID, plan(4).RunID, plan(5).RunID, plan(6).RunID}
	if got := runFolders(t, root); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("runs/: %v, want %v", got, want)
	}
	runs, err := l.Runs(ctx, RunsFilter{})
	if err != nil || len(runs) != 6 {
		t.Fatalf("ledger: %d runs, %v", len(runs), err)
	}
	for _, r := range runs {
		wantPruned := r.AsOf <= "2026-11-02"
		if r.Pruned != wantPruned || (wantPruned && (r.PrunedAt == nil || r.PrunedBytes == 0)) {
			t.Errorf("ledger %s (%s): pruned=%v at %v, %d bytes; want pruned=%v", r.AsOf, r.Status, r.Pruned, r.PrunedAt, r.PrunedBytes, wantPruned)
		}
	}
	// The pruned failed night is fixed and run again: from scratch.
	if _, err := ex.Run(ctx, plan(2)); err != nil {
		t.Fatalf("rerun of a pruned failed run: %v", err)
	}
	if at, _ := l.PrunedAt(ctx, plan(2).RunID); at != nil {
		t.Errorf("the rerun failed run is still marked pruned")
	}
	if _, err := ex.Run(ctx, plan(1)); !IsPruned(err) {
		t.Errorf("rerun of a pruned succeeded run: %v", err)
	}
	// Retention off keeps everything.
	cfg.Retention.Runs = "off"
	if rep, err := Prune(ctx, cfg, ex.Artifacts, l, PruneOptions{}); err != nil || len(rep.Runs) != 0 {
		t.Errorf("retention off: %+v %v", rep, err)
	}
}

// TestRetentionConfig: defaults, off, and bad values named by key (exit 2).
func TestRetentionConfig(t *testing.T) {
	base := goodConfig
	for extra, want := range map[string][2]int{
		"":                        {14, 30},
		"retention:\n  runs: 3\n": {3, 30},
		"retention:\n  runs: off\n  exports: 0\n": {0, 0},
		"retention: {runs: 0, exports: 7}\n":      {0, 7},
	} {
		cfg, err := Parse([]byte(base+extra), filepath.Join(t.TempDir(), "retain.yaml"))
		if err != nil {
			t.Fatalf("%q: %v", extra, err)
		}
		if got := [2]int{cfg.Retention.KeepRuns(), cfg.Retention.KeepExports()}; got != want {
			t.Errorf("%q: keep %v, want %v", extra, got, want)
		}
	}
	for extra, key := range map[string]string{
		"retention:\n  runs: -1\n":      "retention.runs",
		"retention:\n  runs: forever\n": "retention.runs",
		"retention:\n  exports: 2.5\n":  "retention.exports",
		"retention:\n  keep: 3\n":       "unknown key keep",
	} {
		_, err := Parse([]byte(base+extra), "retain.yaml")
		var ce *ConfigError
		if !errors.As(err, &ce) || !ce.BadInput() || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: %v, want a config error naming %s", extra, err, key)
		}
	}
	// Retention is not part of the run id.
	a, _ := ConfigFingerprint(&Config{DataDir: "/d"})
	b, _ := ConfigFingerprint(&Config{DataDir: "/d", Retention: RetentionConfig{Runs: "3"}})
	if a != b {
		t.Errorf("retention changes the config fingerprint: %s vs %s", a, b)
	}
}

// TestRetentionExportsKeepCurrent: the dated export files of all but the
// newest dates go, but never the date risk_current.* are links of (a
// backfill may have published an older night last), nor other files.
func TestRetentionExportsKeepCurrent(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "exports")
	os.MkdirAll(dir, 0o755)
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"} {
		write("risk-" + d + ".parquet")
		write("risk-" + d + ".csv")
		write("queue-" + d + ".csv")
	}
	write("scores.parquet")
	write("risk-notadate.csv")
	for _, ext := range []string{".parquet", ".csv"} {
		if err := os.Link(filepath.Join(dir, "risk-2026-11-01"+ext), filepath.Join(dir, "risk_current"+ext)); err != nil {
			t.Skip("no hard links here:", err)
		}
	}
	cfg := &Config{DataDir: root, Retention: RetentionConfig{Runs: "off", Exports: "2"}}
	rep, err := Prune(context.Background(), cfg, Artifacts{Root: root}, nil, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	for _, f := range rep.Exports {
		gone = append(gone, filepath.Base(f.Path))
	}
	sort.Strings(gone)
	if strings.Join(gone, ",") != "queue-2026-11-02.csv,risk-2026-11-02.csv,risk-2026-11-02.parquet" {
		t.Errorf("removed %v, want only 2026-11-02's files", gone)
	}
	left := filesUnder(t, dir)
	if len(left) != 16-3 { // 12 dated, 2 current, 2 others
		t.Errorf("%d files left, want 13: %v", len(left), left)
	}
}
