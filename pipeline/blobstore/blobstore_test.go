package blobstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
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

// TestFileBucket exercises the real fileblob driver over a temporary folder:
// objects round-trip, missing ones are fs.ErrNotExist, and an upload that
// fails midway leaves the previous object (or none), never a part.
func TestFileBucket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := Open(ctx, "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Get(ctx, "runs/x/manifest.json", io.Discard); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing object: %v", err)
	}
	if _, err := b.Size(ctx, "runs/x/manifest.json"); !IsNotExist(err) {
		t.Fatalf("missing object size: %v", err)
	}
	if err := b.Delete(ctx, "runs/x/manifest.json"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	if err := b.Put(ctx, "runs/x/a.bin", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if n, err := b.Get(ctx, "runs/x/a.bin", &buf); err != nil || n != 5 || buf.String() != "hello" {
		t.Fatalf("get: %d %q %v", n, buf.String(), err)
	}
	if n, err := b.Size(ctx, "runs/x/a.bin"); err != nil || n != 5 {
		t.Fatalf("size: %d %v", n, err)
	}
	// The object is a plain file under the folder (no side files).
	if got, err := os.ReadFile(filepath.Join(dir, "runs", "x", "a.bin")); err != nil || string(got) != "hello" {
		t.Fatalf("on disk: %q %v", got, err)
	}
	if err := b.Put(ctx, "runs/x/a.bin", &failingReader{}); err == nil {
		t.Fatal("a failed upload reported success")
	}
	buf.Reset()
	if _, err := b.Get(ctx, "runs/x/a.bin", &buf); err != nil || buf.String() != "hello" {
		t.Fatalf("after a failed overwrite: %q %v", buf.String(), err)
	}
	if err := b.Put(ctx, "runs/x/new.bin", &failingReader{}); err == nil {
		t.Fatal("a failed upload reported success")
	}
	if _, err := b.Size(ctx, "runs/x/new.bin"); !IsNotExist(err) {
		t.Fatalf("a failed first upload left an object: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "runs", "x"))
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only a.bin (no temporary leftovers)", len(entries))
	}
	if err := b.Delete(ctx, "runs/x/a.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Size(ctx, "runs/x/a.bin"); !IsNotExist(err) {
		t.Fatalf("deleted object: %v", err)
	}
}

// TestFileBucketList: List walks every object under a prefix (nested keys
// too, not a neighbouring prefix) with its size, on the real fileblob driver.
func TestFileBucketList(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, "file://"+filepath.ToSlash(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for k, v := range map[string]string{"runs/a/x/manifest.json": "12", "runs/a/y.parts/part-00000/p": "1234", "runs/ab/z": "1", "models/m.json": "m"} {
		if err := b.Put(ctx, k, strings.NewReader(v)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var total int64
	if err := b.List(ctx, "runs/a/", func(key string, size int64) error {
		got = append(got, key)
		total += size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "runs/a/x/manifest.json,runs/a/y.parts/part-00000/p" || total != 6 {
		t.Fatalf("List(runs/a/) = %v (%d bytes)", got, total)
	}
}
