package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const manifestName = "manifest.json"

// ManifestVersion is the layout version of stage manifests.
const ManifestVersion = 1

// StageManifest is runs/<run-id>/<stage>/manifest.json (and the same for one
// shard's part): what went in (the inputs' fingerprint and its parts), what
// came out (files with sizes and hashes, rows), when and how long, and which
// build wrote it. A stage whose manifest's Inputs equals the fingerprint of
// its current inputs is complete and is skipped.
type StageManifest struct {
	ManifestVersion int               `json:"manifest_version"`
	RunID           string            `json:"run_id"`
	Stage           string            `json:"stage"`
	StageVersion    string            `json:"stage_version"`
	Shard           *int              `json:"shard,omitempty"`
	Shards          int               `json:"shards,omitempty"`
	Inputs          string            `json:"inputs"`
	InputParts      map[string]string `json:"input_parts,omitempty"`
	Outputs         []OutputFile      `json:"outputs"`
	Rows            int64             `json:"rows"`
	Info            map[string]any    `json:"info,omitempty"`
	StartedAt       time.Time         `json:"started_at"`
	FinishedAt      time.Time         `json:"finished_at"`
	DurationMS      int64             `json:"duration_ms"`
	Build           string            `json:"build"`
}

// OutputFile is one file a stage wrote, relative to its stage directory.
type OutputFile struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Digest is one hash over the outputs: what downstream stages fingerprint.
func (m *StageManifest) Digest() string {
	h := sha256.New()
	for _, o := range m.Outputs {
		fmt.Fprintf(h, "%s\x00%d\x00%s\n", o.Path, o.Bytes, o.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ReadManifest reads dir/manifest.json; a missing file returns (nil, nil).
func ReadManifest(dir string) (*StageManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	var m StageManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, manifestName), err)
	}
	return &m, nil
}

// completeWith reports whether dir holds a complete stage output made from
// inputs: its manifest names these inputs and every output file is present
// with its recorded size.
func completeWith(dir, inputs string) (*StageManifest, bool) {
	m, err := ReadManifest(dir)
	if err != nil || m == nil || m.Inputs != inputs {
		return nil, false
	}
	for _, o := range m.Outputs {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(o.Path)))
		if err != nil || st.Size() != o.Bytes {
			return nil, false
		}
	}
	return m, true
}

func writeManifest(dir string, m *StageManifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifestName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	return nil
}

// fingerprint hashes labelled parts in the given order.
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}
