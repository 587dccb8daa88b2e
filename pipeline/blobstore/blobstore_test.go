package blobstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"s3://bucket/retain/prod?region=eu-west-1": "s3://bucket?prefix=retain%2Fprod%2F&region=eu-west-1",
		"gs://bucket":           "gs://bucket",
		"gs://bucket/a/":        "gs://bucket?prefix=a%2F",
		"file:///shared/retain": "file:///shared/retain?metadata=skip&no_tmp_dir=1",
	} {
		got, err := Parse(in)
		if (strings.HasPrefix(in, "s3:") && !withS3) || (strings.HasPrefix(in, "gs:") && !withGCS) {
			if err == nil || !strings.Contains(err.Error(), "built without") {
				t.Errorf("Parse(%q) without its driver: %v", in, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ftp://x/y", "s3://", "s3:///p", "gs://b/p?prefix=q", "file://", "file://host/x", "%zz://"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// failingReader fails after its first bytes: a writer cut off mid-upload.
type failingReader struct{ sent bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.sent {
		return 0, errors.New("connection reset")
	}
	r.sent = true
	return copy(p, "partial"), nil
}

// TestFileBucket runs the bucket contract (remote_test.go) on the real
// fileblob driver over a temporary folder, and checks what is particular to
// it: an object is a plain file under the folder (no side files), and a
// failed upload leaves no temporary file behind.
func TestFileBucket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := Open(ctx, "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkBucketContract(t, b)
	if err := b.Put(ctx, "runs/z/a.bin", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "runs", "z", "a.bin")); err != nil || string(got) != "hello" {
		t.Fatalf("on disk: %q %v", got, err)
	}
	if err := b.Put(ctx, "runs/z/new.bin", &failingReader{}); err == nil {
		t.Fatal("a failed upload reported success")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "runs", "z"))
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only a.bin (no temporary leftovers)", len(entries))
	}
}
