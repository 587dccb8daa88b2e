package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/datasets/synth"
)

// TestExtractMemoryKeepsTheSnapshot: extract_memory only bounds what extract
// buffers; a budget small enough to spill every few rows writes the same
// shard files, byte for byte, as the default, and the run id does not move.
// While extract runs, the Go memory limit is the budget plus 300 MB (read
// from the progress callback), so the key reaches the extractor.
func TestExtractMemoryKeepsTheSnapshot(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOMEMLIMIT is set: extract keeps a lower limit than its budget")
	}
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := synth.Generate(ctx, synth.Config{Customers: 800, Seed: 3, Format: "csv"}, dir, nil); err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile(filepath.Join(dir, "retain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	small := strings.Replace(string(base), "data_dir: ./data\n", "data_dir: ./data-small\nextract_memory: 16KiB\n", 1)
	if small == string(base) {
		t.Fatal("generated config has no data_dir: ./data line")
	}
	if err := os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(small), 0o644); err != nil {
		t.Fatal(err)
	}
	var snaps []*datasets.Snapshot
	var fps []string
	wantLimit := map[string]int64{"retain.yaml": 600<<20 + 300<<20, "small.yaml": 16<<10 + 300<<20}
	for _, name := range []string{"retain.yaml", "small.yaml"} {
		cfg, err := Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var limit int64
		sum, err := Extract(ctx, cfg, ExtractOptions{Progress: func(string, ...any) {
			if limit == 0 {
				limit = debug.SetMemoryLimit(-1)
			}
		}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if limit != wantLimit[name] {
			t.Errorf("%s: memory limit during extract %d, want %d", name, limit, wantLimit[name])
		}
		snap, err := datasets.OpenSnapshot(sum.Snapshot)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, snap)
		fp, err := ConfigFingerprint(cfg)
		if err != nil {
			t.Fatal(err)
		}
		fps = append(fps, fp)
	}
	if fps[0] != fps[1] {
		t.Errorf("config fingerprint moved with extract_memory: %s vs %s", fps[0], fps[1])
	}
	compared := 0
	for table, files := range snaps[0].Files {
		for shard, f := range files {
			a, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(snaps[1].Files[table][shard])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s shard %d: snapshot differs under extract_memory 16KiB", table, shard)
			}
			compared++
		}
	}
	if compared < len(synth.Generated) {
		t.Fatalf("compared %d shard files, want at least one per table", compared)
	}
}

func TestParseBytes(t *testing.T) {
	cases := []struct {
		in   string
		want int64
	}{
		{"600MiB", 600 << 20}, {"1GB", 1e9}, {"1.5 GiB", 3 << 29}, {"512kib", 512 << 10}, {"1048576", 1 << 20}, {"2B", 2},
	}
	for _, c := range cases {
		got, err := ParseBytes(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "lots", "-1GB", "0", "1TB", "MiB", "1..2MB", "0.1B"} {
		if n, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", bad, n)
		}
	}
}
