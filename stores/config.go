package stores

// Config is the `stores:` section of the config: where the risk list and the
// intervention queue are published.
type Config struct {
	SQLite   string `yaml:"sqlite,omitempty" json:"sqlite,omitempty"`     // path of the embedded SQLite database (default <data_dir>/retain.db)
	Postgres string `yaml:"postgres,omitempty" json:"postgres,omitempty"` // DSN; empty = not published to Postgres
	Files    string `yaml:"files,omitempty" json:"files,omitempty"`       // directory for Parquet + CSV exports
}
