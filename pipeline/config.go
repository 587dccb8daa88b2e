package pipeline

import (
	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/models/churn"
	"github.com/retainlab/retain/stores"
)

// Config is the whole retain.yaml. Each section's type lives in the package
// that owns it; Load fills defaults and validates every section with messages
// that name the offending key.
type Config struct {
	// DataDir is where snapshots, runs, models and the embedded database live
	// (relative to the config file). Required.
	DataDir string `yaml:"data_dir" json:"data_dir"`
	// Shards is the number of customer shards in a snapshot (default 8).
	Shards int `yaml:"shards,omitempty" json:"shards,omitempty"`
	// MaxBadRowShare fails extraction when quarantined rows exceed this share
	// of a source's rows (default 0.01).
	MaxBadRowShare *float64 `yaml:"max_bad_row_share,omitempty" json:"max_bad_row_share,omitempty"`
	// ExtractMemory bounds the rows extract buffers in memory before it
	// sorts and spills them as runs, e.g. 600MiB, 1GB (default 600MiB; the
	// process stays within about this plus 300 MB).
	ExtractMemory string `yaml:"extract_memory,omitempty" json:"extract_memory,omitempty"`
	// Sources maps canonical table names to their sources.
	Sources map[datasets.Table]datasets.Source `yaml:"sources" json:"sources"`
	// Churn defines the label.
	Churn features.ChurnConfig `yaml:"churn,omitempty" json:"churn,omitempty"`
	// Model chooses, calibrates and validates the churn model (models/churn).
	Model churn.Config `yaml:"model,omitempty" json:"model,omitempty"`
	// Stores says where publish writes.
	Stores stores.Config `yaml:"stores,omitempty" json:"stores,omitempty"`
	// Scoring sets risk tiers, reasons and the CLV horizon (score.go).
	Scoring ScoreConfig `yaml:"scoring,omitempty" json:"scoring,omitempty"`
	// Policy turns the risk list into the intervention queue (stores.Policy).
	Policy stores.Policy `yaml:"policy,omitempty" json:"policy,omitempty"`
	// Schedule says when runs happen and where the ledger and job queue live (run_config.go).
	Schedule ScheduleConfig `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	// Retention says how many runs' artifacts and dated exports are kept
	// (retention_config.go). Not part of the config fingerprint (json "-").
	Retention RetentionConfig `yaml:"retention,omitempty" json:"-"`

	// extractMemory is ExtractMemory in bytes (0: the default).
	extractMemory int64
	// path is the config file's absolute path; relative paths resolve against its directory.
	path string
}
