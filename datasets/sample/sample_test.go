package sample

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCDNOWEmbedded(t *testing.T) {
	data, err := CDNOWFile(CDNOWData)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got, want := hex.EncodeToString(sum[:]), "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a"; got != want {
		t.Fatalf("CDNOW_sample.txt sha256 %s, want %s (the README's)", got, want)
	}
	if n := bytes.Count(data, []byte{'\n'}); n != CDNOWRows {
		t.Fatalf("%d rows, want %d", n, CDNOWRows)
	}
	ids := map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) != 5 {
			t.Fatalf("line %q has %d fields, want 5", line, len(f))
		}
		ids[string(f[1])] = true
	}
	if len(ids) != CDNOWCustomers {
		t.Fatalf("%d customers, want %d", len(ids), CDNOWCustomers)
	}
}

func TestWriteCDNOW(t *testing.T) {
	dir := t.TempDir()
	cfg, err := WriteCDNOW(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != filepath.Join(dir, "retain.yaml") {
		t.Fatalf("config at %s", cfg)
	}
	for _, name := range []string{CDNOWData, CDNOWConfig, CDNOWReadme} {
		want, _ := CDNOWFile(name)
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s not written intact (err %v)", name, err)
		}
	}
	// unchanged files keep their modification time (extract's change detection)
	st1, _ := os.Stat(filepath.Join(dir, CDNOWData))
	old := st1.ModTime().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, CDNOWData), old, old)
	if _, err := WriteCDNOW(dir); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(filepath.Join(dir, CDNOWData))
	if !st2.ModTime().Equal(old) {
		t.Fatalf("rewrote an unchanged file")
	}
}
