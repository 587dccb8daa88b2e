package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCronNext(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		expr string
		loc  *time.Location
		from time.Time
		want time.Time
	}{
		{"0 2 * * *", time.UTC, time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC), time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)},
		{"0 2 * * *", time.UTC, time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC), time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)},
		{"30 2 * * *", berlin, time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 4, 2, 30, 0, 0, berlin)},
		{"*/15 * * * *", time.UTC, time.Date(2026, 1, 1, 0, 7, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 15, 0, 0, time.UTC)},
		{"0 4 * * sun", time.UTC, time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)},
		{"0 0 1 jan *", time.UTC, time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"@daily", time.UTC, time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)},
		{"0 12 1 * mon", time.UTC, time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}, // dom OR dow
		// 02:30 does not exist in Berlin on 2026-03-29 (clocks jump 02:00 → 03:00).
		{"30 2 * * *", berlin, time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 3, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		c, err := ParseCron(tt.expr)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		got := c.In(tt.loc).Next(tt.from)
		if !got.Equal(tt.want) {
			t.Errorf("%s after %v = %v, want %v", tt.expr, tt.from, got, tt.want)
		}
	}
}

func TestCronBad(t *testing.T) {
	for _, e := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "5-1 * * * *", "*/0 * * * *", "x * * * *"} {
		if _, err := ParseCron(e); err == nil {
			t.Errorf("%q parsed", e)
		}
	}
}

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 2 * * *", "*/5 1-3 1,15 jan-mar mon-fri", "@weekly"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCron(s)
		if err != nil {
			return
		}
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if n := c.Next(from); !n.IsZero() && !n.After(from) {
			t.Fatalf("%q: next %v not after %v", s, n, from)
		}
	})
}

func TestScheduleValidate(t *testing.T) {
	neg := -1
	tests := []struct {
		s    ScheduleConfig
		want string
	}{
		{ScheduleConfig{}, ""},
		{ScheduleConfig{Timezone: "Mars/Olympus"}, "schedule.timezone"},
		{ScheduleConfig{Nightly: "2am"}, "schedule.nightly"},
		{ScheduleConfig{Retrain: "0 4 * * funday"}, "schedule.retrain"},
		{ScheduleConfig{CatchUp: "3x"}, "schedule.catch_up"},
		{ScheduleConfig{StageTimeout: "-1h"}, "schedule.stage_timeout"},
		{ScheduleConfig{Retries: &neg}, "schedule.retries"},
		{ScheduleConfig{Webhook: "ftp://x"}, "schedule.webhook"},
		{ScheduleConfig{Schema: "a;drop"}, "schedule.schema"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.s, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want %s…", tt.s, err, tt.want)
		}
		var bi interface{ BadInput() bool }
		if !errors.As(err, &bi) || !bi.BadInput() {
			t.Errorf("%+v: not bad input", tt.s)
		}
	}
}

func fileStage(name, content string, runs *atomic.Int32) Stage {
	return Stage{Name: name, Version: "1", Run: func(ctx context.Context, rc *RunContext, out string) (StageResult, error) {
		runs.Add(1)
		return StageResult{Rows: 1}, os.WriteFile(filepath.Join(out, name+".txt"), []byte(content), 0o644)
	}}
}

// TestExecutorSkipsCompleteAndRedoesChanged: a repeated run skips every
// stage; a stage whose version changes reruns, and so do the stages after it.
func TestExecutorSkipsCompleteAndRedoesChanged(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l, err := OpenLedger(ctx, LedgerPath(root), "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ex := &Executor{Artifacts: Artifacts{Root: root}, Ledger: l}
	var a, b, c atomic.Int32
	asOf, _ := ParseAsOf("2026-12-01")
	plan := &Plan{RunID: RunID(asOf, "abcd1234", KindManual), AsOf: asOf, Kind: KindManual, Shards: 1,
		Stages: []Stage{fileStage("a", "1", &a), fileStage("b", "2", &b), fileStage("c", "3", &c)}}
	for i := 0; i < 2; i++ {
		if _, err := ex.Run(ctx, plan); err != nil {
			t.Fatal(err)
		}
	}
	if a.Load() != 1 || b.Load() != 1 || c.Load() != 1 {
		t.Fatalf("stages ran %d %d %d times, want once each", a.Load(), b.Load(), c.Load())
	}
	plan.Stages[1].Version = "2"
	if _, err := ex.Run(ctx, plan); err != nil {
		t.Fatal(err)
	}
	// b reran, but wrote the same bytes: c's inputs are unchanged.
	if a.Load() != 1 || b.Load() != 2 || c.Load() != 1 {
		t.Fatalf("after a version change: %d %d %d", a.Load(), b.Load(), c.Load())
	}
	plan.Stages[1] = fileStage("b", "2b", &b)
	plan.Stages[1].Version = "3"
	if _, err := ex.Run(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if a.Load() != 1 || b.Load() != 3 || c.Load() != 2 {
		t.Fatalf("after an output change: %d %d %d", a.Load(), b.Load(), c.Load())
	}
	m, err := ReadManifest(ex.Artifacts.StageDir(plan.RunID, "b"))
	if err != nil || m == nil || len(m.Outputs) != 1 || m.Outputs[0].Path != "b.txt" || m.Rows != 1 || m.StageVersion != "3" {
		t.Fatalf("manifest: %+v %v", m, err)
	}
}

// TestFailureRecordedRetriedAndReported: a failing stage is retried with
// backoff, then the run fails naming the stage; the ledger records it and the
// webhook (a real HTTP server on loopback) receives the event.
func TestFailureRecordedRetriedAndReported(t *testing.T) {
	ctx := context.Background()
	got := make(chan FailureEvent, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev FailureEvent
		json.NewDecoder(r.Body).Decode(&ev)
		got <- ev
	}))
	defer srv.Close()
	root := t.TempDir()
	l, err := OpenLedger(ctx, LedgerPath(root), "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := NewMetrics()
	ex := &Executor{Artifacts: Artifacts{Root: root}, Ledger: l, Webhook: srv.URL, Retries: 2, Backoff: time.Millisecond,
		StageTimeout: 50 * time.Millisecond, Metrics: m}
	var ok, tries atomic.Int32
	asOf, _ := ParseAsOf("2026-12-01")
	plan := &Plan{RunID: RunID(asOf, "abcd1234", KindNightly), AsOf: asOf, Kind: KindNightly, Shards: 1,
		Stages: []Stage{fileStage("extract", "x", &ok), {Name: "score", Run: func(ctx context.Context, rc *RunContext, out string) (StageResult, error) {
			tries.Add(1)
			<-ctx.Done() // hangs until the stage timeout
			return StageResult{}, ctx.Err()
		}}}}
	rep, err := ex.Run(ctx, plan)
	var se *StageError
	if !errors.As(err, &se) || se.Stage != "score" || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("error: %v", err)
	}
	if strings.Contains(err.Error(), "\n") || rep.Stage != "score" {
		t.Fatalf("not a one-line reason naming the stage: %q %+v", err, rep)
	}
	if tries.Load() != 3 {
		t.Fatalf("%d attempts, want 3", tries.Load())
	}
	runs, err := l.Runs(ctx, RunsFilter{})
	if err != nil || len(runs) != 1 || runs[0].Status != StatusFailed || runs[0].FailedStage != "score" || runs[0].Error == "" {
		t.Fatalf("ledger: %+v %v", runs, err)
	}
	if st := runs[0].Stages; len(st) != 2 || st[0].Status != StatusSucceeded || st[1].Status != StatusFailed {
		t.Fatalf("stages: %+v", st)
	}
	select {
	case ev := <-got:
		if ev.Event != "run_failed" || ev.RunID != plan.RunID || ev.Stage != "score" || ev.AsOf != "2026-12-01" {
			t.Fatalf("webhook event: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook call")
	}
	// Metrics count the failure.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`retain_runs_total{kind="nightly",status="failed"} 1`, `retain_stage_retries_total{stage="score"} 2`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRunIDAndFingerprint(t *testing.T) {
	a := &Config{DataDir: "/d", Shards: 8}
	b := &Config{DataDir: "/d", Shards: 8, Schedule: ScheduleConfig{Nightly: "0 3 * * *"}}
	c := &Config{DataDir: "/d", Shards: 4}
	fa, _ := ConfigFingerprint(a)
	fb, _ := ConfigFingerprint(b)
	fc, _ := ConfigFingerprint(c)
	if fa != fb || fa == fc || len(fa) != 8 {
		t.Fatalf("fingerprints %s %s %s", fa, fb, fc)
	}
	d, _ := ParseAsOf("2026-12-03")
	if id := RunID(d, fa, KindNightly); id != "2026-12-03-"+fa {
		t.Fatal(id)
	}
	if id := RunID(d, fa, KindRetrain); !strings.HasSuffix(id, "-retrain") {
		t.Fatal(id)
	}
}

// TestStagePeakRSS: each stage run reports the process's peak resident
// memory while it ran (Linux): a stage that touches 96 MiB reports at
// least that, a small stage run before it less, a skipped stage nothing.
func TestStagePeakRSS(t *testing.T) {
	if !resetPeakRSS() {
		t.Skip("no /proc/self/clear_refs here: peak memory per stage is not reported")
	}
	ctx := context.Background()
	var n atomic.Int32
	big := Stage{Name: "big", Version: "1", Run: func(ctx context.Context, rc *RunContext, out string) (StageResult, error) {
		b := make([]byte, 96<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		return StageResult{Rows: int64(b[len(b)-4096])}, os.WriteFile(filepath.Join(out, "big.txt"), b[:1], 0o644)
	}}
	asOf, _ := ParseAsOf("2026-12-01")
	plan := &Plan{RunID: RunID(asOf, "peak0001", KindManual), AsOf: asOf, Kind: KindManual, Shards: 1,
		Stages: []Stage{fileStage("small", "s", &n), big}}
	ex := &Executor{Artifacts: Artifacts{Root: t.TempDir()}}
	rep, err := ex.Run(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	small, bigPeak := rep.Stages[0].PeakRSSMiB, rep.Stages[1].PeakRSSMiB
	if small <= 0 || bigPeak < 96 || small >= bigPeak {
		t.Fatalf("peak RSS: small stage %.1f MiB, 96 MiB stage %.1f MiB", small, bigPeak)
	}
	rep, err = ex.Run(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rep.Stages {
		if !o.Skipped || o.PeakRSSMiB != 0 {
			t.Fatalf("rerun: %+v", o)
		}
	}
}
