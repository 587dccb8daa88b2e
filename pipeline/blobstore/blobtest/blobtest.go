// Package blobtest starts in-process servers that speak the S3 and Google
// Cloud Storage APIs over real HTTP (gofakes3, fake-gcs-server), so tests
// can run retain's s3:// and gs:// buckets through the real gocloud drivers,
// the AWS SDK v2 and the Cloud Storage client. It is for tests only; the
// product binary never imports it.
package blobtest

import (
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Bucket is the name of the bucket each server holds.
const Bucket = "retain-test"

// S3 starts an S3-compatible server holding Bucket, points the AWS
// credential chain at fixed keys from the environment (no ~/.aws, no
// instance metadata), and returns the retain URL of prefix in the bucket
// (prefix may be empty). The server stops when the test ends.
func S3(t testing.TB, prefix string) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(Bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "retain")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "retain-secret")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	q := url.Values{"endpoint": {srv.URL}, "use_path_style": {"true"}, "region": {"us-east-1"}}
	return "s3://" + Bucket + "/" + prefix + "?" + q.Encode()
}

// GCS starts a Cloud Storage-compatible server holding Bucket, points the
// storage client at it (STORAGE_EMULATOR_HOST) and returns the retain URL
// of prefix in the bucket. The server stops when the test ends.
func GCS(t testing.TB, prefix string) string {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", Port: 0,
		// Download requests go to http://127.0.0.1:port/bucket/object;
		// the server reads the bucket from the path only for its public host.
		PublicHost: "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: Bucket})
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STORAGE_EMULATOR_HOST", u.Host)
	return "gs://" + Bucket + "/" + prefix
}
