package datasets

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SchemaVersion is the snapshot layout version written to manifest.json.
// Bump it when the snapshot schema or layout changes incompatibly.
const SchemaVersion = 1

// Manifest is a snapshot's manifest.json.
type Manifest struct {
	SchemaVersion int                     `json:"schema_version"`
	Shards        int                     `json:"shards"`
	CreatedAt     time.Time               `json:"created_at"`
	ConfigHash    string                  `json:"config_hash"`
	Tables        map[Table]*TableSummary `json:"tables"`
}

// TableSummary is one table's row accounting and snapshot facts, in the
// manifest and in extract's summary.
type TableSummary struct {
	Format      string           `json:"format"`
	Source      string           `json:"source"`
	Fingerprint string           `json:"fingerprint"`
	Read        int64            `json:"read"`        // source rows read
	Kept        int64            `json:"kept"`        // rows kept after filters and quarantine
	Filtered    map[string]int64 `json:"filtered"`    // rows dropped, by filter name
	Quarantined int64            `json:"quarantined"` // bad rows written to the quarantine file
	Quarantine  string           `json:"quarantine_file,omitempty"`
	Rows        int64            `json:"rows"` // rows in the snapshot (orders after roll-up)
	ShardRows   []int64          `json:"shard_rows"`
	RolledUp    bool             `json:"rolled_up,omitempty"`
	// Duplicates counts customers rows folded away because a later row of
	// the same customer_id won (customers only: rows = kept - duplicates).
	Duplicates  int64      `json:"duplicates,omitempty"`
	MinTime     *time.Time `json:"min_time,omitempty"`
	MaxTime     *time.Time `json:"max_time,omitempty"`
	Currency    string     `json:"currency,omitempty"`
	TimeFormat  string     `json:"time_format,omitempty"` // as configured or recognised
	Watermark   string     `json:"watermark,omitempty"`   // last watermark value seen (postgres, sqlite)
	Incremental bool       `json:"incremental,omitempty"` // only rows beyond the previous watermark were read (counts are this extract's)
	Seconds     float64    `json:"seconds"`
}

// Snapshot is an opened snapshot: its manifest and every shard file.
type Snapshot struct {
	Dir      string
	Manifest *Manifest
	// Files[t][i] is shard i of table t; tables without a source are absent.
	Files map[Table][]string
}

// OpenSnapshot reads <dir>/manifest.json and lists the shard files, checking
// that they exist. dir is a snapshot directory (SnapshotDir(data_dir)).
func OpenSnapshot(dir string) (*Snapshot, error) {
	m, err := readManifest(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	if m.SchemaVersion != SchemaVersion {
		return nil, &InputError{File: filepath.Join(dir, "manifest.json"), Msg: fmt.Sprintf("snapshot schema version %d, this retain reads %d: run retain extract again", m.SchemaVersion, SchemaVersion)}
	}
	s := &Snapshot{Dir: dir, Manifest: m, Files: map[Table][]string{}}
	for t := range m.Tables {
		for i := 0; i < m.Shards; i++ {
			p := ShardPath(dir, t, i)
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("snapshot %s: %w", dir, err)
			}
			s.Files[t] = append(s.Files[t], p)
		}
	}
	return s, nil
}

func readManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, &InputError{File: path, Msg: "no snapshot here: run retain extract first"}
		}
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &InputError{File: path, Msg: "corrupt manifest", Err: err}
	}
	return &m, nil
}

// writeFileAtomic writes data to path via a temporary file, fsync and rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
