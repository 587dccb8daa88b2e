package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExtractCLI builds the binary and runs extract as a user would: a clean
// file extracts (then is a no-op), 20 bad dates in 220 rows exit 2 naming
// the line, and a config with an unknown key exits 2 naming it.
func TestExtractCLI(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "retain")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var rows strings.Builder
	rows.WriteString("order_id,customer_id,ordered_at,amount\n")
	for i := 1; i <= 200; i++ {
		fmt.Fprintf(&rows, "o%d,c%d,2024-01-%02d 10:00:00,%d.5\n", i, i%37, i%28+1, i)
	}
	good := rows.String()
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&rows, "o9%02d,c2,2024-13-45 99:00:00,1.0\n", i)
	}
	os.WriteFile(filepath.Join(dir, "good.csv"), []byte(good), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.csv"), []byte(rows.String()), 0o644)
	cfg := "data_dir: ./data-%s\nsources:\n  orders:\n    format: csv\n    path: %s.csv\n    columns:\n      customer_id: customer_id\n      order_id: order_id\n      ordered_at: ordered_at\n      amount: amount\n"
	for _, n := range []string{"good", "bad"} {
		os.WriteFile(filepath.Join(dir, n+".yaml"), []byte(fmt.Sprintf(cfg, n, n)), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "typo.yaml"), []byte(fmt.Sprintf(cfg, "t", "good")+"shardz: 3\n"), 0o644)
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return so.String(), se.String(), code
	}
	out, errOut, code := run("extract", "--config", "good.yaml", "--json")
	if code != 0 {
		t.Fatalf("good extract exit %d: %s", code, errOut)
	}
	var sum struct {
		Unchanged bool
		Tables    map[string]struct{ Read, Kept, Rows int64 }
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, out)
	}
	if sum.Tables["orders"].Rows != 200 || sum.Unchanged {
		t.Fatalf("summary %+v", sum)
	}
	out, _, code = run("extract", "--config", "good.yaml")
	if code != 0 || !strings.Contains(out, "unchanged") {
		t.Fatalf("re-run: exit %d, %q; want a no-op that says so", code, out)
	}
	_, errOut, code = run("extract", "--config", "bad.yaml")
	if code != 2 || !strings.Contains(errOut, "line 202") || !strings.Contains(errOut, "bad.csv") {
		t.Fatalf("bad dates: exit %d, stderr %q; want 2 naming bad.csv line 202", code, errOut)
	}
	_, errOut, code = run("extract", "--config", "typo.yaml")
	if code != 2 || !strings.Contains(errOut, "unknown key shardz") {
		t.Fatalf("typo: exit %d, stderr %q", code, errOut)
	}
	_, _, code = run("extract")
	if code != 2 {
		t.Fatalf("no --config: exit %d, want 2", code)
	}
}
