package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunThroughBucketFromTheCLI walks the Indexed Job path with
// schedule.artifacts set to a file:// bucket and two machines that share
// nothing but the bucket and the source files: machine A trains the champion
// (a retraining run shares it in the bucket) and runs `--until score.prep`;
// machine B, with its own data_dir, works the four shards and then `retain
// run` merges, publishes and writes the reports from its local copy (and
// copies them to the bucket's reports/<run-id>/). A's
// `retain run` afterwards finds the whole run complete in the bucket.
func TestRunThroughBucketFromTheCLI(t *testing.T) {
	dir := t.TempDir()
	if out, code := runRetain(t, "generate", "--customers", "1500", "--seed", "3", "--tables", "customers,orders,events", "--out", dir); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, out)
	}
	bucket := filepath.ToSlash(t.TempDir())
	extra := fmt.Sprintf("shards: 4\nmodel:\n  kind: gbdt\n  calibration_folds: 2\n  gbdt:\n    trees: 20\n    learning_rate: 0.2\n    no_refit: true\n"+
		"schedule:\n  artifacts: file://%s\n", bucket)
	cfgA := filepath.Join(dir, "retain.yaml")
	base, err := os.ReadFile(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgA, append(base, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	// Machine B: the same config with its own data_dir (paths absolute, as a
	// config mounted into every pod would have them).
	scratchB := t.TempDir()
	textB := strings.Replace(string(base), "data_dir: ./data", "data_dir: "+scratchB, 1)
	for _, f := range []string{"customers.csv", "orders.csv", "events.csv"} {
		textB = strings.Replace(textB, "path: "+f, "path: "+filepath.Join(dir, f), 1)
	}
	cfgB := filepath.Join(t.TempDir(), "retain.yaml")
	if err := os.WriteFile(cfgB, []byte(textB+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(cfg string, args ...string) string {
		t.Helper()
		out, code := runRetain(t, append([]string{"run", "--config", cfg, "--as-of", "2024-12-01"}, args...)...)
		if code != 0 {
			t.Fatalf("run %v: exit %d: %s", args, code, out)
		}
		return out
	}
	run(cfgA, "--kind", "retrain")
	if _, err := os.Stat(filepath.Join(bucket, "models", "champion.json")); err != nil {
		t.Fatalf("the retraining run did not share the champion: %v", err)
	}
	run(cfgA, "--until", "score.prep")
	for sh := 0; sh < 4; sh++ {
		var o struct {
			Shard   int  `json:"shard"`
			Skipped bool `json:"skipped"`
			Rows    int  `json:"rows"`
		}
		out := run(cfgB, "--stage", "score", "--shards", "4", "--shard", fmt.Sprint(sh), "--json")
		if json.Unmarshal([]byte(out), &o) != nil || o.Shard != sh || o.Skipped || o.Rows == 0 {
			t.Fatalf("shard %d on B: %s", sh, out)
		}
	}
	var rep struct {
		RunID  string `json:"run_id"`
		Stages []struct {
			Stage   string `json:"stage"`
			Shard   *int   `json:"shard"`
			Skipped bool   `json:"skipped"`
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(run(cfgB, "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Stages {
		redo := s.Stage == "score" && s.Shard == nil || s.Stage == "publish"
		if s.Skipped == redo {
			t.Errorf("machine B's run: stage %s (shard %v) skipped=%v", s.Stage, s.Shard, s.Skipped)
		}
	}
	for _, p := range []string{
		filepath.Join(scratchB, "exports", "risk_current.csv"),
		filepath.Join(scratchB, "reports", rep.RunID, "index.html"),
		filepath.Join(bucket, "runs", rep.RunID, "publish", "manifest.json"),
		// B's data_dir is scratch: the reports are kept with the runs too
		filepath.Join(bucket, "reports", rep.RunID, "index.html"),
		filepath.Join(bucket, "reports", rep.RunID, "retention", "report.html"),
	} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(scratchB, "snapshot")); err == nil {
		t.Error("machine B extracted a snapshot of its own")
	}
	if err := json.Unmarshal([]byte(run(cfgA, "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Stages {
		if !s.Skipped {
			t.Errorf("A's rerun did stage %s again", s.Stage)
		}
	}
	// A writes the run's reports from the scores it fetched from the bucket.
	if _, err := os.Stat(filepath.Join(dir, "data", "reports", rep.RunID, "index.html")); err != nil {
		t.Errorf("A's reports: %v", err)
	}
}

// TestBadArtifactsURL: a schedule.artifacts URL that cannot be a bucket is
// bad input: exit status 2 and a message naming the key.
func TestBadArtifactsURL(t *testing.T) {
	dir := t.TempDir()
	if out, code := runRetain(t, "generate", "--customers", "50", "--seed", "1", "--tables", "customers,orders", "--out", dir); code != 0 {
		t.Fatalf("generate: exit %d: %s", code, out)
	}
	cfg := filepath.Join(dir, "retain.yaml")
	base, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"ftp://example.com/retain", "s3:///no-bucket"} {
		if err := os.WriteFile(cfg, append(base, "schedule:\n  artifacts: "+bad+"\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"run", "--config", cfg, "--as-of", "2024-12-01"}, {"worker", "--config", cfg}} {
			cmd := newRootCmd()
			cmd.SetOut(new(strings.Builder))
			cmd.SetArgs(args)
			err := cmd.ExecuteContext(context.Background())
			if code := exitStatus(err); code != 2 || !strings.Contains(err.Error(), "schedule.artifacts") {
				t.Errorf("%s with artifacts %q: exit %d: %v", args[0], bad, code, err)
			}
		}
	}
}
