package jobs

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// Open makes a Node on the executor's ledger database: River on Postgres
// (riverpgxv5) when the ledger is in Postgres, River on SQLite (riversqlite)
// otherwise. River's tables are created or migrated first.
func Open(ctx context.Context, opts Options) (Node, error) {
	if opts.Executor == nil || opts.Executor.Ledger == nil {
		return nil, fmt.Errorf("jobs: an executor with a ledger is required")
	}
	l := opts.Executor.Ledger
	if l.IsPostgres() {
		drv := riverpgxv5.New(l.Pool())
		if err := migrate(ctx, drv, l.Schema()); err != nil {
			return nil, err
		}
		pool := l.Pool()
		return newNode[*riverpgxv5.Driver, pgx.Tx](drv, l.Schema(), opts, txOps[pgx.Tx]{
			begin:    func(ctx context.Context) (pgx.Tx, error) { return pool.Begin(ctx) },
			commit:   func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) },
			rollback: func(ctx context.Context, tx pgx.Tx) { tx.Rollback(context.WithoutCancel(ctx)) },
		})
	}
	db := l.SQLDB()
	drv := riversqlite.New(db)
	if err := migrate(ctx, drv, ""); err != nil {
		return nil, err
	}
	return newNode[*riversqlite.Driver, *sql.Tx](drv, "", opts, txOps[*sql.Tx]{
		begin:    func(ctx context.Context) (*sql.Tx, error) { return db.BeginTx(ctx, nil) },
		commit:   func(_ context.Context, tx *sql.Tx) error { return tx.Commit() },
		rollback: func(_ context.Context, tx *sql.Tx) { tx.Rollback() },
	})
}

// migrate brings River's tables up to date (safe to run concurrently on
// Postgres: River takes a lock).
func migrate[TTx any](ctx context.Context, drv riverdriver.Driver[TTx], schema string) error {
	m, err := rivermigrate.New[TTx](drv, &rivermigrate.Config{Schema: schema})
	if err != nil {
		return fmt.Errorf("jobs: River migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrating River's tables: %w", err)
	}
	return nil
}
