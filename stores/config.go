package stores

import (
	"fmt"
	"path/filepath"
	"regexp"
)

// Config is the `stores:` section of the config: where the risk list and the
// intervention queue are published. Every configured store receives every
// publish; the API serves from Postgres when it is configured, else SQLite.
type Config struct {
	// SQLite is the path of the embedded SQLite database (default
	// <data_dir>/retain.db; "off" disables it).
	SQLite string `yaml:"sqlite,omitempty" json:"sqlite,omitempty"`
	// Postgres is a DSN (postgres://…); empty = not published to Postgres.
	Postgres string `yaml:"postgres,omitempty" json:"postgres,omitempty"`
	// PostgresSchema is the schema holding retain's tables (default "retain";
	// created when missing).
	PostgresSchema string `yaml:"postgres_schema,omitempty" json:"postgres_schema,omitempty"`
	// Files is the directory for the Parquet + CSV exports (default
	// <data_dir>/exports; "off" disables them).
	Files string `yaml:"files,omitempty" json:"files,omitempty"`
}

var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate checks the section; messages name the key.
func (c Config) Validate() error {
	if c.PostgresSchema != "" && !identRe.MatchString(c.PostgresSchema) {
		return badInput("stores.postgres_schema: %q is not a lower-case SQL identifier", c.PostgresSchema)
	}
	return nil
}

// Resolved returns the section with defaults filled and relative paths
// resolved against dataDir.
func (c Config) Resolved(dataDir string) Config {
	abs := func(p string) string {
		if p == "" || p == "off" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dataDir, p)
	}
	if c.SQLite == "" {
		c.SQLite = "retain.db"
	}
	if c.Files == "" {
		c.Files = "exports"
	}
	if c.PostgresSchema == "" {
		c.PostgresSchema = "retain"
	}
	c.SQLite, c.Files = abs(c.SQLite), abs(c.Files)
	return c
}

// BadInputError is bad configuration or bad user input: exit status 2 on the
// CLI, 400 on the API.
type BadInputError struct{ Msg string }

func (e *BadInputError) Error() string { return e.Msg }

// BadInput marks the error as bad input.
func (e *BadInputError) BadInput() bool { return true }

func badInput(format string, args ...any) error {
	return &BadInputError{Msg: fmt.Sprintf(format, args...)}
}

// Databases lists the SQL stores configured (Postgres first, then SQLite).
// Call on a Resolved config.
func (c Config) Databases() []string {
	var out []string
	if c.Postgres != "" {
		out = append(out, "postgres")
	}
	if c.SQLite != "off" && c.SQLite != "" {
		out = append(out, "sqlite")
	}
	return out
}
