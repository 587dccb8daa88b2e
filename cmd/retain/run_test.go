package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/retainlab/retain/pipeline"
)

// TestRunScoreShardsFromTheCLI walks the Kubernetes Indexed Job path on
// generated data: the champion trained once by a retraining run, `--until
// score.prep`, one `--stage score` call per shard (one from
// JOB_COMPLETION_INDEX), then `retain run`, which reuses every shard, merges,
// publishes, writes the reports and records them in the ledger.
func TestRunScoreShardsFromTheCLI(t *testing.T) {
	dir := t.TempDir()
	if out, code := runRetain(t, "generate", "--customers", "2000", "--seed", "2", "--tables", "customers,orders,events", "--out", dir); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, out)
	}
	cfg := filepath.Join(dir, "retain.yaml")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "shards: 4\nmodel:\n  kind: gbdt\n  calibration_folds: 2\n  gbdt:\n    trees: 30\n    learning_rate: 0.2\n    no_refit: true\n")
	f.Close()
	run := func(args ...string) (string, int) {
		return runRetain(t, append([]string{"run", "--config", cfg, "--as-of", "2024-12-01"}, args...)...)
	}
	if out, code := run("--kind", "retrain"); code != 0 {
		t.Fatalf("retrain: exit %d: %s", code, out)
	}
	for _, bad := range [][]string{{"--until", "publish.prep"}, {"--stage", "score", "--shard", "4", "--shards", "4"}, {"--stage", "features", "--shard", "0"}} {
		if out, code := run(bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", bad, code, out)
		}
	}
	if out, code := run("--until", "score.prep", "--json"); code != 0 {
		t.Fatalf("--until score.prep: exit %d: %s", code, out)
	}
	for sh := 0; sh < 4; sh++ {
		args := []string{"--stage", "score", "--shards", "4", "--json"}
		if sh == 2 {
			t.Setenv("JOB_COMPLETION_INDEX", "2")
		} else {
			args = append(args, "--shard", fmt.Sprint(sh))
		}
		out, code := run(args...)
		var o struct {
			Shard   int  `json:"shard"`
			Skipped bool `json:"skipped"`
			Rows    int  `json:"rows"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &o) != nil || o.Shard != sh || o.Skipped || o.Rows == 0 {
			t.Fatalf("shard %d: exit %d: %s", sh, code, out)
		}
	}
	out, code := run("--json")
	var rep pipeline.RunReport
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Status != pipeline.StatusSucceeded {
		t.Fatalf("finishing run: exit %d: %s", code, out)
	}
	parts := 0
	for _, s := range rep.Stages {
		if s.Shard != nil {
			parts++
			if !s.Skipped {
				t.Errorf("shard %d of %s ran again", *s.Shard, s.Stage)
			}
		}
	}
	if parts != 4 {
		t.Errorf("%d shard outcomes, want 4: %+v", parts, rep.Stages)
	}
	data := filepath.Join(dir, "data")
	for _, p := range []string{"exports/risk_current.parquet", "reports/" + rep.RunID + "/index.html"} {
		if _, err := os.Stat(filepath.Join(data, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	out, code = runRetain(t, "runs", "--config", cfg, "--as-of", "2024-12-01", "--json")
	var runs struct{ Runs []pipeline.RunRecord }
	if code != 0 || json.Unmarshal([]byte(out), &runs) != nil {
		t.Fatalf("runs: exit %d: %s", code, out)
	}
	found := false
	for _, r := range runs.Runs {
		for _, s := range r.Stages {
			if r.RunID == rep.RunID && s.Stage == pipeline.StageReport && s.Status == pipeline.StatusSucceeded {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no succeeded report row for %s in the ledger: %s", rep.RunID, out)
	}
}
