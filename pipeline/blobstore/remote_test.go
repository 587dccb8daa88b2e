package blobstore

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/retainlab/retain/pipeline/blobstore/blobtest"
)

// The S3 and GCS drivers are exercised over real HTTP against servers that
// speak those APIs in-process (package blobtest: gofakes3 for S3,
// fake-gcs-server for GCS): the AWS SDK v2 and the Cloud Storage client do
// the signing, uploads and listing as against the cloud services. What they
// cannot show: IAM, regions, the real services' network faults.

func s3URL(t *testing.T, prefix string) string {
	if !withS3 {
		t.Skip("built without s3:// support (retain_nos3)")
	}
	return blobtest.S3(t, prefix)
}

func gcsURL(t *testing.T, prefix string) string {
	if !withGCS {
		t.Skip("built without gs:// support (retain_nogcs)")
	}
	return blobtest.GCS(t, prefix)
}

// TestRemoteBuckets runs the bucket contract (round trip, missing objects,
// failed uploads leave the previous object or none, listing by prefix) on
// the real s3blob and gcsblob drivers, and checks that a URL's path is a key
// prefix: the objects sit under it in the bucket and nowhere else.
func TestRemoteBuckets(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(*testing.T, string) string
	}{
		{"s3", s3URL},
		{"gcs", gcsURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			raw := tc.url(t, "retain/prod")
			b, err := Open(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if strings.Contains(b.String(), "?") {
				t.Errorf("the bucket's name %q shows its query (endpoints, credentials)", b)
			}
			checkBucketContract(t, b)

			// The whole bucket, without the prefix: the prefixed URL's
			// objects are under retain/prod/ and only there.
			root, err := Open(ctx, strings.Replace(raw, "/retain/prod", "", 1))
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			if err := b.Put(ctx, "runs/y/manifest.json", strings.NewReader("{}")); err != nil {
				t.Fatal(err)
			}
			var keys []string
			if err := root.List(ctx, "", func(key string, _ int64) error {
				keys = append(keys, key)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(keys, ","), "retain/prod/runs/y/manifest.json") {
				t.Errorf("bucket keys %v: want retain/prod/runs/y/manifest.json", keys)
			}
			for _, k := range keys {
				if !strings.HasPrefix(k, "retain/prod/") {
					t.Errorf("key %q outside the URL's prefix", k)
				}
			}
		})
	}
}

// checkBucketContract is what the pipeline relies on from any bucket.
func checkBucketContract(t *testing.T, b *Bucket) {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	if _, err := b.Get(ctx, "runs/x/manifest.json", &buf); !IsNotExist(err) {
		t.Fatalf("missing object: %v", err)
	}
	if _, err := b.Size(ctx, "runs/x/manifest.json"); !IsNotExist(err) {
		t.Fatalf("missing object size: %v", err)
	}
	if err := b.Delete(ctx, "runs/x/manifest.json"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: more than one upload part
	if err := b.Put(ctx, "runs/x/big.bin", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Get(ctx, "runs/x/big.bin", &buf); err != nil || n != int64(len(big)) || !bytes.Equal(buf.Bytes(), big) {
		t.Fatalf("get big: %d bytes, %v", n, err)
	}
	if err := b.Put(ctx, "runs/x/a.bin", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if n, err := b.Get(ctx, "runs/x/a.bin", &buf); err != nil || n != 5 || buf.String() != "hello" {
		t.Fatalf("get: %d %q %v", n, buf.String(), err)
	}
	if n, err := b.Size(ctx, "runs/x/a.bin"); err != nil || n != 5 {
		t.Fatalf("size: %d %v", n, err)
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
	for k, v := range map[string]string{"runs/a/x/manifest.json": "12", "runs/a/y.parts/part-00000/p": "1234", "runs/ab/z": "1"} {
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
	if err := b.Delete(ctx, "runs/x/a.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Size(ctx, "runs/x/a.bin"); !IsNotExist(err) {
		t.Fatalf("deleted object: %v", err)
	}
}
