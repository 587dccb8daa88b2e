package stores

import (
	"context"
	"errors"
)

// Open opens one configured SQL store by kind ("postgres" or "sqlite").
// Call on a Resolved config.
func (c Config) Open(ctx context.Context, kind string) (*DB, error) {
	switch kind {
	case "postgres":
		return OpenPostgres(ctx, c.Postgres, c.PostgresSchema)
	case "sqlite":
		return OpenSQLite(ctx, c.SQLite)
	}
	return nil, badInput("stores: unknown store %q", kind)
}

// OpenPrimary opens the store the API serves from: Postgres when
// configured, else SQLite. Call on a Resolved config.
func (c Config) OpenPrimary(ctx context.Context) (*DB, error) {
	dbs := c.Databases()
	if len(dbs) == 0 {
		return nil, badInput("stores: neither stores.postgres nor stores.sqlite is configured")
	}
	return c.Open(ctx, dbs[0])
}

// OpenAll opens every configured SQL store; close them with CloseAll.
func (c Config) OpenAll(ctx context.Context) ([]*DB, error) {
	var out []*DB
	for _, k := range c.Databases() {
		db, err := c.Open(ctx, k)
		if err != nil {
			CloseAll(out)
			return nil, err
		}
		out = append(out, db)
	}
	return out, nil
}

// CloseAll closes every store.
func CloseAll(dbs []*DB) error {
	var err error
	for _, db := range dbs {
		err = errors.Join(err, db.Close())
	}
	return err
}
