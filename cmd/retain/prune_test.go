package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retainlab/retain/pipeline"
)

// retainErr runs the CLI in-process and returns stdout, the error and the exit status.
func retainErr(args ...string) (string, error, int) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err, exitStatus(err)
}

const pruneConfig = `data_dir: ./data
sources:
  orders:
    format: csv
    path: orders.csv
    columns: {customer_id: c, ordered_at: t, amount: a}
`

// TestPruneCommand: `retain prune` over a real SQLite ledger with three
// succeeded nights (their run folders made by hand) and retention.runs 2:
// --dry-run lists the oldest night and removes nothing, prune removes it,
// `retain runs` (table and --json) shows it pruned, `retain report --run` on
// it exits 2 saying why; bad retention values exit 2 naming the key.
func TestPruneCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "retain.yaml")
	if err := os.WriteFile(cfgPath, []byte(pruneConfig+"retention:\n  runs: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	l, err := pipeline.OpenLedger(ctx, pipeline.LedgerPath(data), "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for d := 1; d <= 3; d++ {
		id := "2026-11-0" + string(rune('0'+d)) + "-abcd1234"
		ids = append(ids, id)
		now := time.Date(2026, 11, d, 2, 0, 0, 0, time.UTC)
		if err := l.StartRun(ctx, id, id[:10], pipeline.KindNightly, "abcd1234", "test", now); err != nil {
			t.Fatal(err)
		}
		if err := l.FinishRun(ctx, id, pipeline.StatusSucceeded, "", "", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(data, "runs", id, "score", "scores.parquet")
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, bytes.Repeat([]byte("x"), 1000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	oldest := filepath.Join(data, "runs", ids[0])

	var rep pipeline.PruneReport
	out, err, code := retainErr("prune", "--config", cfgPath, "--dry-run", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.DryRun || len(rep.Runs) != 1 || rep.Runs[0].RunID != ids[0] || rep.Runs[0].LocalBytes != 1000 {
		t.Fatalf("prune --dry-run: exit %d %v: %s", code, err, out)
	}
	if _, err := os.Stat(oldest); err != nil {
		t.Fatalf("--dry-run removed the run: %v", err)
	}
	out, err, code = retainErr("prune", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, ids[0]) || !strings.Contains(out, "removed 1 run and 0 export files") {
		t.Fatalf("prune: exit %d %v: %s", code, err, out)
	}
	if _, err := os.Stat(oldest); !os.IsNotExist(err) {
		t.Fatalf("prune kept the oldest run: %v", err)
	}
	for _, id := range ids[1:] {
		if _, err := os.Stat(filepath.Join(data, "runs", id)); err != nil {
			t.Errorf("prune removed a kept run: %v", err)
		}
	}
	out, _, code = retainErr("runs", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "ARTIFACTS") || !strings.Contains(out, "pruned 2026") || strings.Count(out, "kept") != 2 {
		t.Errorf("runs: exit %d:\n%s", code, out)
	}
	out, _, code = retainErr("runs", "--config", cfgPath, "--json")
	var runs struct {
		Runs []pipeline.RunRecord `json:"runs"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs.Runs) != 3 || !runs.Runs[2].Pruned || runs.Runs[0].Pruned {
		t.Errorf("runs --json: exit %d: %s", code, out)
	}
	_, err, code = retainErr("report", "--config", cfgPath, "--run", ids[0])
	if code != 2 || err == nil || !strings.Contains(err.Error(), "removed by retention") {
		t.Errorf("report of a pruned run: exit %d: %v", code, err)
	}

	for val, key := range map[string]string{"runs: -3": "retention.runs", "exports: lots": "retention.exports"} {
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte(pruneConfig+"retention:\n  "+val+"\n"), 0o644)
		for _, cmd := range []string{"prune", "run"} {
			_, err, code := retainErr(cmd, "--config", bad)
			if code != 2 || err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("%s with %q: exit %d: %v, want 2 naming %s", cmd, val, code, err, key)
			}
		}
	}
}
