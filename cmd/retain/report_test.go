package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestReportAfterDemo runs the CDNOW demo (the whole flow on real data), then
// `retain report --json`, and checks what a data team would open.
func TestReportAfterDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cdnow")
	if out, code := runRetain(t, "demo", "--dataset", "cdnow", "--dir", dir, "--json"); code != 0 {
		t.Fatalf("demo exit %d: %s", code, out)
	}
	out, code := runRetain(t, "report", "--config", filepath.Join(dir, "retain.yaml"), "--json")
	if code != 0 {
		t.Fatalf("report exit %d: %s", code, out)
	}
	var s reportSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if s.AsOf != "1998-06-30" {
		t.Errorf("as_of %q, want the day of the last CDNOW purchase", s.AsOf)
	}
	for _, kind := range []string{"model", "retention"} {
		for _, p := range []string{s.Reports[kind], s.Notebooks[kind]} {
			if st, err := os.Stat(p); err != nil || st.Size() < 1000 {
				t.Errorf("%s report file %q missing or tiny (%v)", kind, p, err)
			}
		}
	}
	if _, err := os.Stat(s.Index); err != nil {
		t.Errorf("index: %v", err)
	}
	names := map[string]int64{}
	for _, e := range s.Exports {
		names[e.Name] = e.Rows
		if _, err := os.Stat(e.IPC); err != nil {
			t.Errorf("export %s: no Arrow IPC file: %v", e.Name, err)
		}
	}
	for _, n := range []string{"scores", "features", "clv"} {
		if names[n] != 2357 {
			t.Errorf("export %s has %d rows, want the 2357 CDNOW customers", n, names[n])
		}
	}
	// A run id that does not exist is bad usage.
	if _, code := runRetain(t, "report", "--config", filepath.Join(dir, "retain.yaml"), "--run", "../etc"); code != 2 {
		t.Errorf("report --run ../etc exited %d, want 2", code)
	}
}
