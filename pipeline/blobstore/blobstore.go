// Package blobstore owns the object store that runs are shared through when
// schedule.artifacts is a URL: it opens file://, s3://, gs:// and mem://
// buckets with gocloud.dev/blob and gives the pipeline the few operations
// its artifact code needs (put, get, size, delete), with missing objects
// reported as fs.ErrNotExist. It imports nothing of retain.
//
// The S3 and GCS drivers are most of the binary's growth (measured on
// cmd/retain: +9 MB and +21 MB stripped, +45 MB unstripped for both); builds that need neither can leave them out with the
// build tags retain_nos3 and retain_nogcs.
package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strings"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// (a shared filesystem)
	_ "gocloud.dev/blob/memblob"  // mem:// (one process only: tests)
	"gocloud.dev/gcerrors"
)

// Schemes are the URL schemes Open accepts.
var Schemes = []string{"file", "s3", "gs", "mem"}

// Bucket is an opened object store. Safe for concurrent use.
type Bucket struct {
	b    *blob.Bucket
	name string
}

// Parse checks a bucket URL without opening it and returns the URL gocloud
// opens: for s3:// and gs:// the path becomes the key prefix
// (s3://bucket/retain/prod?region=eu-west-1 keeps every key under
// "retain/prod/"); file:// URLs write temporary files next to their final
// names (no_tmp_dir) and skip gocloud's .attrs side files (metadata=skip)
// unless the URL says otherwise.
func Parse(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	known := false
	for _, s := range Schemes {
		known = known || u.Scheme == s
	}
	if !known {
		return "", fmt.Errorf("%q: scheme %q is not one of file://, s3://, gs://, mem://", raw, u.Scheme)
	}
	if (u.Scheme == "s3" && !withS3) || (u.Scheme == "gs" && !withGCS) {
		return "", fmt.Errorf("%q: this retain was built without %s:// support (build tag retain_no%s)", raw, u.Scheme, map[string]string{"s3": "s3", "gs": "gcs"}[u.Scheme])
	}
	q := u.Query()
	switch u.Scheme {
	case "s3", "gs":
		if u.Host == "" {
			return "", fmt.Errorf("%q names no bucket (like %s://my-bucket/prefix)", raw, u.Scheme)
		}
		if p := strings.Trim(u.Path, "/"); p != "" {
			if q.Get("prefix") != "" {
				return "", fmt.Errorf("%q gives a prefix twice (path and ?prefix=)", raw)
			}
			q.Set("prefix", p+"/")
			u.Path = ""
		}
	case "file":
		if u.Path == "" || (u.Host != "" && u.Host != "localhost" && u.Host != ".") {
			return "", fmt.Errorf("%q names no folder (like file:///shared/retain)", raw)
		}
		if !q.Has("no_tmp_dir") {
			q.Set("no_tmp_dir", "1")
		}
		if !q.Has("metadata") {
			q.Set("metadata", "skip")
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Open opens the bucket at raw (see Parse). It does not check that the
// bucket exists or can be written: the first operation does.
func Open(ctx context.Context, raw string) (*Bucket, error) {
	u, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	b, err := blob.OpenBucket(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", redact(raw), err)
	}
	return &Bucket{b: b, name: redact(raw)}, nil
}

// redact drops the query (it may hold credentials of S3-compatible stores).
func redact(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i]
	}
	return raw
}

// String names the bucket (its URL without the query).
func (b *Bucket) String() string { return b.name }

// Close releases the bucket.
func (b *Bucket) Close() error { return b.b.Close() }

func (b *Bucket) wrap(op, key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%s %s/%s: %w", op, b.name, key, fs.ErrNotExist)
	}
	return fmt.Errorf("%s %s/%s: %w", op, b.name, key, err)
}

// Put writes r to key. The object appears whole when Put returns nil and not
// at all (or as its previous version) otherwise: gocloud commits a write on
// Close and aborts it when its context is cancelled first.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.b.NewWriter(wctx, key, &blob.WriterOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return b.wrap("writing", key, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		w.Close()
		return b.wrap("writing", key, err)
	}
	if err := w.Close(); err != nil {
		return b.wrap("writing", key, err)
	}
	return nil
}

// Get copies key into w and returns the bytes copied.
func (b *Bucket) Get(ctx context.Context, key string, w io.Writer) (int64, error) {
	r, err := b.b.NewReader(ctx, key, nil)
	if err != nil {
		return 0, b.wrap("reading", key, err)
	}
	defer r.Close()
	n, err := io.Copy(w, r)
	if err != nil {
		return n, b.wrap("reading", key, err)
	}
	return n, nil
}

// Size is the size of key.
func (b *Bucket) Size(ctx context.Context, key string) (int64, error) {
	a, err := b.b.Attributes(ctx, key)
	if err != nil {
		return 0, b.wrap("looking up", key, err)
	}
	return a.Size, nil
}

// Delete removes key; a missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	err := b.b.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return b.wrap("deleting", key, err)
	}
	return nil
}

// IsNotExist reports whether err says an object is missing.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// List calls fn with the key and size of every object whose key starts with
// prefix, in key order.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	it := b.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return b.wrap("listing", prefix, err)
		}
		if o.IsDir {
			continue
		}
		if err := fn(o.Key, o.Size); err != nil {
			return err
		}
	}
}
