package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runRetain runs the CLI in-process and returns stdout and the exit status.
func runRetain(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), exitStatus(err)
}

func TestDemoCDNOW(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cdnow")
	out, code := runRetain(t, "demo", "--dataset", "cdnow", "--dir", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var s struct {
		Config  string            `json:"config"`
		Outputs map[string]string `json:"outputs"`
		Extract struct {
			Tables map[string]struct {
				Rows int64 `json:"rows"`
			} `json:"tables"`
		} `json:"extract"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if got := s.Extract.Tables["orders"].Rows; got != 6919 {
		t.Errorf("CDNOW orders in the snapshot: %d, want 6919", got)
	}
	if _, err := os.Stat(filepath.Join(s.Outputs["snapshot"], "manifest.json")); err != nil {
		t.Errorf("no snapshot manifest: %v", err)
	}
}

func TestDemoSynthetic(t *testing.T) {
	dir := t.TempDir()
	out, code := runRetain(t, "demo", "--customers", "1500", "--dir", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, f := range []string{"retain.yaml", "truth.json", "truth.csv", "orders.csv", "events.csv", "data/snapshot/manifest.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	// a second demo reuses the data and finds the snapshot current
	out, code = runRetain(t, "demo", "--customers", "1500", "--dir", dir, "--json")
	if code != 0 || !strings.Contains(out, `"unchanged": true`) {
		t.Errorf("second demo: exit %d, want the snapshot unchanged:\n%s", code, out)
	}
	if _, code := runRetain(t, "demo", "--dataset", "nope"); code != 2 {
		t.Errorf("--dataset nope: exit %d, want 2", code)
	}
}

func TestGenerateBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"generate", "--customers", "10"},                      // no --out
		{"generate", "--customers", "0", "--out", t.TempDir()}, // no customers
		{"generate", "--customers", "10", "--out", t.TempDir(), "--start", "2024-13-01"},
		{"generate", "--customers", "10", "--out", t.TempDir(), "--format", "xml"},
	} {
		if _, code := runRetain(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
