package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/retainlab/retain/models/churn"
	"github.com/retainlab/retain/pipeline/blobstore"
)

// ArtifactStore is the object store runs are shared through when
// schedule.artifacts is a URL (file://, s3://, gs://); pipeline/blobstore
// implements it over gocloud.dev/blob. Keys are slash-separated paths
// relative to the store's root ("runs/<run-id>/<stage>/manifest.json",
// "models/champion.json"). A Put is atomic: readers see the whole new object
// or the old one, never a part. A missing key gives an error matching
// fs.ErrNotExist.
type ArtifactStore interface {
	Put(ctx context.Context, key string, r io.Reader) error
	Get(ctx context.Context, key string, w io.Writer) (int64, error)
	Size(ctx context.Context, key string) (int64, error)
	Delete(ctx context.Context, key string) error
	Close() error
	String() string
}

// artifactsError is a bad schedule.artifacts value: exit status 2.
type artifactsError struct{ err error }

func (e artifactsError) Error() string { return "schedule.artifacts: " + e.err.Error() }
func (e artifactsError) Unwrap() error { return e.err }
func (artifactsError) BadInput() bool  { return true }

// isArtifactsURL tells a store URL from a folder in schedule.artifacts.
func isArtifactsURL(s string) bool { return strings.Contains(s, "://") }

// OpenArtifacts is where cfg's runs live:
//   - schedule.artifacts empty: <data_dir>/runs/;
//   - a folder: <folder>/runs/ (a shared filesystem every machine mounts);
//   - a URL (file:///shared/retain, s3://bucket/prefix?region=…,
//     gs://bucket/prefix): runs/ in that object store, with <data_dir> as
//     this machine's scratch copy of the stages it writes or reads.
//
// Close the result when done.
func OpenArtifacts(ctx context.Context, cfg *Config) (Artifacts, error) {
	a := cfg.Schedule.Artifacts
	if a == "" {
		return Artifacts{Root: cfg.DataDir}, nil
	}
	a = os.ExpandEnv(a)
	if !isArtifactsURL(a) {
		return Artifacts{Root: cfg.Resolve(a)}, nil
	}
	b, err := blobstore.Open(ctx, a)
	if err != nil {
		return Artifacts{}, artifactsError{err}
	}
	return Artifacts{Root: cfg.DataDir, Store: b}, nil
}

// Close releases the store, if any.
func (a Artifacts) Close() error {
	if a.Store == nil {
		return nil
	}
	return a.Store.Close()
}

// Where names where runs live, for messages and reports.
func (a Artifacts) Where() string {
	if a.Store != nil {
		return a.Store.String() + "/runs"
	}
	return filepath.Join(a.Root, "runs")
}

// key is the store key of a local path under Root.
func (a Artifacts) key(local string) (string, error) {
	rel, err := filepath.Rel(a.Root, local)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is not under %s", local, a.Root)
	}
	return filepath.ToSlash(rel), nil
}

// getBytes reads a whole (small) object.
func (a Artifacts) getBytes(ctx context.Context, key string) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := a.Store.Get(ctx, key, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// manifestBytes is the raw manifest of a stage, part or prep folder (local
// path): from the store when there is one. Missing: (nil, nil).
func (a Artifacts) manifestBytes(ctx context.Context, dir string) ([]byte, error) {
	if a.Store == nil {
		b, err := os.ReadFile(filepath.Join(dir, manifestName))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading manifest: %w", err)
		}
		return b, nil
	}
	k, err := a.key(dir)
	if err != nil {
		return nil, err
	}
	b, err := a.getBytes(ctx, k+"/"+manifestName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	return b, nil
}

// Manifest reads the manifest of a stage, part or prep folder (a local path
// from StageDir, PartDir or PrepDir), from the store when there is one. A
// folder that has not completed gives (nil, nil).
func (a Artifacts) Manifest(ctx context.Context, dir string) (*StageManifest, error) {
	b, err := a.manifestBytes(ctx, dir)
	if err != nil || b == nil {
		return nil, err
	}
	return decodeManifest(b, dir)
}

func decodeManifest(b []byte, dir string) (*StageManifest, error) {
	var m StageManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path.Join(filepath.ToSlash(dir), manifestName), err)
	}
	return &m, nil
}

// complete reports whether dir holds a complete output made from inputs: its
// manifest (in the store when there is one) names these inputs and every
// output file is present with its recorded size.
func (a Artifacts) complete(ctx context.Context, dir, inputs string) (*StageManifest, bool) {
	if a.Store == nil {
		return completeWith(dir, inputs)
	}
	m, err := a.Manifest(ctx, dir)
	if err != nil || m == nil || m.Inputs != inputs {
		return nil, false
	}
	k, err := a.key(dir)
	if err != nil {
		return nil, false
	}
	for _, o := range m.Outputs {
		n, err := a.Store.Size(ctx, k+"/"+o.Path)
		if err != nil || n != o.Bytes {
			return nil, false
		}
	}
	return m, true
}

// publish makes the finished temporary folder tmp (outputs plus manifest)
// the completed folder final. Without a store that is a rename (commitDir).
// With one, the outputs are uploaded first and the manifest last, after the
// previous manifest was deleted, so a reader of the store sees either no
// manifest or one whose every output is in place; then tmp becomes this
// machine's local copy.
func (a Artifacts) publish(ctx context.Context, tmp, final string) error {
	if a.Store == nil {
		return commitDir(tmp, final)
	}
	k, err := a.key(final)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(tmp, manifestName))
	if err != nil {
		return fmt.Errorf("publishing %s: %w", k, err)
	}
	m, err := decodeManifest(b, tmp)
	if err != nil {
		return err
	}
	if err := a.Store.Delete(ctx, k+"/"+manifestName); err != nil {
		return err
	}
	for _, o := range m.Outputs {
		if err := a.putFile(ctx, k+"/"+o.Path, filepath.Join(tmp, filepath.FromSlash(o.Path))); err != nil {
			return err
		}
	}
	if err := a.Store.Put(ctx, k+"/"+manifestName, bytes.NewReader(b)); err != nil {
		return err
	}
	return commitDir(tmp, final)
}

func (a Artifacts) putFile(ctx context.Context, key, local string) error {
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("uploading %s: %w", local, err)
	}
	defer f.Close()
	return a.Store.Put(ctx, key, f)
}

// Fetch makes the local folder dir (a StageDir, PartDir or PrepDir) a copy of
// the completed folder in the store: nothing to do without a store or when
// the local copy already has the store's manifest and every file; otherwise
// each output is downloaded into a temporary folder, checked against the
// manifest's size and SHA-256, and the folder renamed into place. A folder
// the store does not have complete is an error.
func (a Artifacts) Fetch(ctx context.Context, dir string) error {
	if a.Store == nil {
		return nil
	}
	remote, err := a.manifestBytes(ctx, dir)
	if err != nil {
		return err
	}
	if remote == nil {
		return fmt.Errorf("%s has not completed in %s", filepath.Base(dir), a.Store)
	}
	m, err := decodeManifest(remote, dir)
	if err != nil {
		return err
	}
	upToDate := func() bool {
		local, err := os.ReadFile(filepath.Join(dir, manifestName))
		if err != nil || !bytes.Equal(local, remote) {
			return false
		}
		_, ok := completeWith(dir, m.Inputs)
		return ok
	}
	if upToDate() {
		return nil
	}
	k, err := a.key(dir)
	if err != nil {
		return err
	}
	tmp, err := newTempDir(dir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, o := range m.Outputs {
		if err := a.getFile(ctx, k+"/"+o.Path, filepath.Join(tmp, filepath.FromSlash(o.Path)), o); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, manifestName), remote, 0o644); err != nil {
		return fmt.Errorf("fetching %s: %w", k, err)
	}
	// Shards worked side by side on this machine may fetch the same folder:
	// the first to finish wins, the others keep its copy.
	if upToDate() {
		return nil
	}
	if err := commitDir(tmp, dir); err != nil {
		if upToDate() {
			return nil
		}
		return err
	}
	return nil
}

// getFile downloads key to local and checks its size and hash against o.
func (a Artifacts) getFile(ctx context.Context, key, local string, o OutputFile) error {
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return fmt.Errorf("fetching %s: %w", key, err)
	}
	f, err := os.Create(local)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", key, err)
	}
	h := sha256.New()
	n, err := a.Store.Get(ctx, key, io.MultiWriter(f, h))
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("fetching %s: %w", key, cerr)
	}
	if err != nil {
		return err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != o.Bytes || sum != o.SHA256 {
		return fmt.Errorf("fetching %s: %d bytes with SHA-256 %.12s…, the manifest says %d bytes, %.12s… (rewritten while read? try again)",
			key, n, sum, o.Bytes, o.SHA256)
	}
	return nil
}

// The champion pointer of a model registry folder.
const championFile = "champion.json"

// PushModels shares the model registry folder dir (ModelsDir) through the
// store as models/…: every model file the store lacks (by name and size),
// then champion.json last, so a machine that pulls sees a champion whose
// model is already there. Nothing to do without a store.
func (a Artifacts) PushModels(ctx context.Context, dir string) error {
	if a.Store == nil {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sharing models: %w", err)
	}
	hasChampion := false
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		if name == championFile {
			hasChampion = true
			continue
		}
		st, err := e.Info()
		if err != nil {
			return fmt.Errorf("sharing models: %w", err)
		}
		if n, err := a.Store.Size(ctx, "models/"+name); err == nil && n == st.Size() {
			continue
		}
		if err := a.putFile(ctx, "models/"+name, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("sharing models: %w", err)
		}
	}
	if !hasChampion {
		return nil
	}
	if err := a.putFile(ctx, "models/"+championFile, filepath.Join(dir, championFile)); err != nil {
		return fmt.Errorf("sharing models: %w", err)
	}
	return nil
}

// PullModels makes the local registry folder dir follow the store's
// champion: the model file champion.json names is downloaded when missing,
// then champion.json is replaced atomically. Other local models are left
// alone. Nothing to do without a store or when the store has no champion.
func (a Artifacts) PullModels(ctx context.Context, dir string) error {
	if a.Store == nil {
		return nil
	}
	b, err := a.getBytes(ctx, "models/"+championFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fetching the champion: %w", err)
	}
	var c churn.Champion
	if err := json.Unmarshal(b, &c); err != nil || c.File == "" || c.File != filepath.Base(c.File) {
		return fmt.Errorf("fetching the champion: models/%s in %s is not a champion pointer", championFile, a.Store)
	}
	local := filepath.Join(dir, c.File)
	if _, err := os.Stat(local); err != nil {
		var buf bytes.Buffer
		if _, err := a.Store.Get(ctx, "models/"+c.File, &buf); err != nil {
			return fmt.Errorf("fetching the champion: %w", err)
		}
		if err := WriteFileAtomic(local, buf.Bytes()); err != nil {
			return fmt.Errorf("fetching the champion: %w", err)
		}
	}
	if cur, err := os.ReadFile(filepath.Join(dir, championFile)); err == nil && bytes.Equal(cur, b) {
		return nil
	}
	return WriteFileAtomic(filepath.Join(dir, championFile), b)
}

// RunScores is the local path of run runID's scores.parquet: under
// schedule.artifacts' folder when that is a folder, and fetched from the
// store into <data_dir>/runs/ when it is a store URL (another machine may
// have scored the run). A run whose artifacts retention removed is an error
// saying so.
func RunScores(ctx context.Context, cfg *Config, runID string) (string, error) {
	arts, err := OpenArtifacts(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer arts.Close()
	dir := arts.StageDir(runID, StageScore)
	if arts.Store != nil {
		if m, err := arts.Manifest(ctx, dir); err != nil {
			return "", err
		} else if m != nil {
			if err := arts.Fetch(ctx, dir); err != nil {
				return "", err
			}
		}
	}
	p := filepath.Join(dir, "scores.parquet")
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		if err := RunPruned(ctx, cfg, runID); err != nil {
			return "", err
		}
	}
	return p, nil
}
