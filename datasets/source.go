package datasets

// Source is one `sources.<table>` entry of the config: where a canonical
// table comes from and how its columns map onto the canonical ones.
// (Owned by the foundation work; extend freely.)
type Source struct {
	Format  string            `yaml:"format" json:"format"`                       // csv, parquet, postgres, sqlite
	Path    string            `yaml:"path,omitempty" json:"path,omitempty"`       // file path, relative to the config file
	DSN     string            `yaml:"dsn,omitempty" json:"dsn,omitempty"`         // postgres / sqlite connection string
	Query   string            `yaml:"query,omitempty" json:"query,omitempty"`     // SQL for postgres / sqlite
	Columns map[string]string `yaml:"columns,omitempty" json:"columns,omitempty"` // canonical name → source column or expression
}
