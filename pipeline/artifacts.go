package pipeline

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Artifacts are the files of runs: runs/<run-id>/<stage>/… under a root on a
// local or shared filesystem (NFS, EFS, a ReadWriteMany volume), or in an
// object store (Store: file://, s3://, gs://), so worker processes on
// different machines see the same run. Every stage directory is published
// atomically: written under a temporary name, fsynced, renamed; into a store
// its files are uploaded (each object appears whole) and its manifest last.
// With a store, Root is this machine's scratch copy: the paths below are
// local, stages read and write local files, and the executor uploads what a
// stage wrote and fetches (Fetch) what it reads. OpenArtifacts makes one
// from the config.
type Artifacts struct {
	Root  string        // the folder holding runs/ (with a Store: the local copy)
	Store ArtifactStore // optional: where runs are shared; nil = Root is shared
}

// RunDir is runs/<run-id>.
func (a Artifacts) RunDir(runID string) string { return filepath.Join(a.Root, "runs", runID) }

// StageDir is runs/<run-id>/<stage>: present only once the stage completed.
func (a Artifacts) StageDir(runID, stage string) string {
	return filepath.Join(a.RunDir(runID), stage)
}

// PartDir is runs/<run-id>/<stage>.parts/part-<i>: one shard's output of a
// per-shard stage, present only once that shard completed.
func (a Artifacts) PartDir(runID, stage string, shard int) string {
	return filepath.Join(a.RunDir(runID), stage+".parts", fmt.Sprintf("part-%05d", shard))
}

// PrepDir is runs/<run-id>/<stage>.prep: what a per-shard stage computes
// once before its shards (Stage.Prepare), present only once complete.
func (a Artifacts) PrepDir(runID, stage string) string {
	return filepath.Join(a.RunDir(runID), stage+".prep")
}

// newTempDir makes a fresh temporary directory next to final, named so it is
// never mistaken for a completed stage.
func newTempDir(final string) (string, error) {
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", parent, err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("temp name: %w", err)
	}
	dir := filepath.Join(parent, ".tmp-"+filepath.Base(final)+"-"+hex.EncodeToString(b[:]))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	return dir, nil
}

// commitDir fsyncs every file under tmp, then atomically replaces final with
// tmp (a previous final is renamed aside first and removed after).
func commitDir(tmp, final string) error {
	if err := syncTree(tmp); err != nil {
		return err
	}
	parent := filepath.Dir(final)
	if _, err := os.Stat(final); err == nil {
		old := tmp + ".old"
		if err := os.Rename(final, old); err != nil {
			return fmt.Errorf("moving aside %s: %w", final, err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("publishing %s: %w", final, err)
	}
	return syncDir(parent)
}

func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return syncDir(p)
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("fsync %s: %w", p, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("fsync %s: %w", p, err)
		}
		return nil
	})
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic writes data to path via a temporary file, fsync and rename.
func WriteFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming into %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// CleanTemp removes leftovers of interrupted writes (.tmp-* entries) under a
// run directory. Call it only when no other process writes this run.
func (a Artifacts) CleanTemp(runID string) error {
	root := a.RunDir(runID)
	var stale []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			stale = append(stale, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cleaning %s: %w", root, err)
	}
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("cleaning %s: %w", p, err)
		}
	}
	return nil
}

// hashOutputs lists every file under dir except the manifest, with its size
// and SHA-256, sorted by path.
func hashOutputs(dir string) ([]OutputFile, error) {
	var out []OutputFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == manifestName {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return fmt.Errorf("hashing %s: %w", p, err)
		}
		out = append(out, OutputFile{Path: filepath.ToSlash(rel), Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hashing outputs of %s: %w", dir, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
