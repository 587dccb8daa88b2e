package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the embedded ledger
)

// Ledger is the run ledger: one row per run (status, failed stage, error),
// one per stage of a run (status, timings, rows, skipped, attempts) and one per
// completed shard of a per-shard stage (the fan-in counter). It lives in
// SQLite by default (<data_dir>/retain.db) and in Postgres in production; the
// job queue (River) shares the same database so a shard's completion and its
// job's completion commit in one transaction.
type Ledger struct {
	conn    ledgerConn
	pg      bool
	sqlDB   *sql.DB
	pool    *pgxpool.Pool
	schema  string
	closeFn func()
}

// Run statuses.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
)

// RunRecord is one row of the ledger, with its stages.
type RunRecord struct {
	RunID       string     `json:"run_id"`
	AsOf        string     `json:"as_of"`
	Kind        string     `json:"kind"`
	ConfigFP    string     `json:"config_fingerprint"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	FailedStage string     `json:"failed_stage,omitempty"`
	Error       string     `json:"error,omitempty"`
	Host        string     `json:"host,omitempty"`
	// Pruned says the run's artifacts (runs/<run-id>/, locally and in the
	// artifact store) were removed by retention; the row stays as history.
	Pruned      bool          `json:"pruned"`
	PrunedAt    *time.Time    `json:"pruned_at,omitempty"`
	PrunedBytes int64         `json:"pruned_bytes,omitempty"`
	Stages      []StageRecord `json:"stages,omitempty"`
}

// StageRecord is one stage of a run in the ledger.
type StageRecord struct {
	Stage      string     `json:"stage"`
	Status     string     `json:"status"`
	Skipped    bool       `json:"skipped"`
	Rows       int64      `json:"rows"`
	Attempts   int        `json:"attempts"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	DurationMS int64      `json:"duration_ms"`
	Error      string     `json:"error,omitempty"`
}

// LedgerPath is the default embedded ledger: <data_dir>/retain.db.
func LedgerPath(dataDir string) string { return filepath.Join(dataDir, "retain.db") }

// OpenLedger opens (and creates) the ledger at database: a postgres:// URL
// or a SQLite file path. schema, for Postgres, holds the tables (created if
// missing; default public).
func OpenLedger(ctx context.Context, database, schema string) (*Ledger, error) {
	if IsPostgres(database) {
		pcfg, err := pgxpool.ParseConfig(database)
		if err != nil {
			return nil, fmt.Errorf("schedule.database: %w", err)
		}
		if schema != "" {
			pcfg.ConnConfig.RuntimeParams["search_path"] = schema
		}
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return nil, fmt.Errorf("connecting to the ledger database: %w", err)
		}
		l := &Ledger{conn: pgxConn{pool}, pg: true, pool: pool, schema: schema, closeFn: pool.Close}
		if err := l.migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
		return l, nil
	}
	if err := os.MkdirAll(filepath.Dir(database), 0o755); err != nil {
		return nil, fmt.Errorf("creating the ledger folder: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	db, err := sql.Open("sqlite", "file:"+database+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening the ledger %s: %w", database, err)
	}
	// One connection: River's SQLite driver needs it, and SQLite serialises
	// writers anyway.
	db.SetMaxOpenConns(1)
	l := &Ledger{conn: sqlConn{db}, sqlDB: db, closeFn: func() { db.Close() }}
	if err := l.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

// Close releases the database handle.
func (l *Ledger) Close() {
	if l.closeFn != nil {
		l.closeFn()
	}
}

// IsPostgres reports whether the ledger is in Postgres.
func (l *Ledger) IsPostgres() bool { return l.pg }

// SQLDB is the SQLite handle (nil for Postgres): River's SQLite driver shares it.
func (l *Ledger) SQLDB() *sql.DB { return l.sqlDB }

// Pool is the Postgres pool (nil for SQLite): River's pgx driver shares it.
func (l *Ledger) Pool() *pgxpool.Pool { return l.pool }

// Schema is the Postgres schema of the ledger ("" = default search path).
func (l *Ledger) Schema() string { return l.schema }

// InTx returns the ledger bound to an open transaction (a *sql.Tx for
// SQLite, a pgx.Tx for Postgres), so its writes commit with other work in
// that transaction (a River job's completion).
func (l *Ledger) InTx(tx any) (*Ledger, error) {
	cp := *l
	switch t := tx.(type) {
	case *sql.Tx:
		cp.conn = sqlConn{t}
	case pgx.Tx:
		cp.conn = pgxConn{t}
	default:
		return nil, fmt.Errorf("ledger: unsupported transaction type %T", tx)
	}
	cp.closeFn = nil
	return &cp, nil
}

func (l *Ledger) migrate(ctx context.Context) error {
	ts := "TIMESTAMP"
	if l.pg {
		ts = "TIMESTAMPTZ"
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS retain_runs (
			run_id TEXT PRIMARY KEY,
			as_of TEXT NOT NULL,
			kind TEXT NOT NULL,
			config_fp TEXT NOT NULL,
			status TEXT NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			started_at ` + ts + ` NOT NULL,
			finished_at ` + ts + `,
			failed_stage TEXT NOT NULL DEFAULT '',
			error TEXT NOT NULL DEFAULT '',
			host TEXT NOT NULL DEFAULT '')`,
		`CREATE INDEX IF NOT EXISTS retain_runs_as_of ON retain_runs (as_of, kind)`,
		`CREATE TABLE IF NOT EXISTS retain_run_stages (
			run_id TEXT NOT NULL,
			stage TEXT NOT NULL,
			status TEXT NOT NULL,
			skipped BOOLEAN NOT NULL DEFAULT FALSE,
			rows_out BIGINT NOT NULL DEFAULT 0,
			attempts INTEGER NOT NULL DEFAULT 0,
			started_at ` + ts + ` NOT NULL,
			finished_at ` + ts + `,
			duration_ms BIGINT NOT NULL DEFAULT 0,
			error TEXT NOT NULL DEFAULT '',
			seq INTEGER NOT NULL DEFAULT 0,
			PRIMARY KEY (run_id, stage))`,
		`CREATE TABLE IF NOT EXISTS retain_run_shards (
			run_id TEXT NOT NULL,
			stage TEXT NOT NULL,
			shard INTEGER NOT NULL,
			shards INTEGER NOT NULL,
			rows_out BIGINT NOT NULL DEFAULT 0,
			worker TEXT NOT NULL DEFAULT '',
			done_at ` + ts + ` NOT NULL,
			PRIMARY KEY (run_id, stage, shard))`,
		// One row per run whose artifacts retention removed (ledger_prune.go).
		`CREATE TABLE IF NOT EXISTS retain_run_prunes (
			run_id TEXT PRIMARY KEY,
			pruned_at ` + ts + ` NOT NULL,
			bytes BIGINT NOT NULL DEFAULT 0)`,
	}
	if l.pg {
		// Serialise concurrent first starts: CREATE TABLE IF NOT EXISTS races in Postgres.
		tx, err := l.pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("migrating the ledger: %w", err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7407)`); err != nil {
			return fmt.Errorf("migrating the ledger: %w", err)
		}
		if l.schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{l.schema}.Sanitize()); err != nil {
				return fmt.Errorf("migrating the ledger: %w", err)
			}
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("migrating the ledger: %w", err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("migrating the ledger: %w", err)
		}
		return nil
	}
	for _, s := range stmts {
		if _, err := l.conn.exec(ctx, s); err != nil {
			return fmt.Errorf("migrating the ledger: %w", err)
		}
	}
	return nil
}

// q rewrites ? placeholders to $n for Postgres.
func (l *Ledger) q(s string) string {
	if !l.pg {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (l *Ledger) exec(ctx context.Context, s string, args ...any) (int64, error) {
	return l.conn.exec(ctx, l.q(s), args...)
}

// StartRun records that a run (re)starts: a new row, or attempts+1 and
// status running on an existing one.
func (l *Ledger) StartRun(ctx context.Context, runID, asOf, kind, configFP, host string, now time.Time) error {
	_, err := l.exec(ctx, `INSERT INTO retain_runs (run_id, as_of, kind, config_fp, status, attempts, started_at, host)
		VALUES (?, ?, ?, ?, ?, 1, ?, ?)
		ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, attempts = retain_runs.attempts + 1,
			started_at = excluded.started_at, finished_at = NULL, failed_stage = '', error = '', host = excluded.host`,
		runID, asOf, kind, configFP, StatusRunning, now.UTC(), host)
	if err != nil {
		return fmt.Errorf("ledger: starting run %s: %w", runID, err)
	}
	return nil
}

// FinishRun records a run's end: succeeded, or failed at stage with err.
func (l *Ledger) FinishRun(ctx context.Context, runID, status, stage, errMsg string, now time.Time) error {
	_, err := l.exec(ctx, `UPDATE retain_runs SET status = ?, failed_stage = ?, error = ?, finished_at = ? WHERE run_id = ?`,
		status, stage, errMsg, now.UTC(), runID)
	if err != nil {
		return fmt.Errorf("ledger: finishing run %s: %w", runID, err)
	}
	return nil
}

// StageStarted records a stage attempt.
func (l *Ledger) StageStarted(ctx context.Context, runID, stage string, seq int, now time.Time) error {
	_, err := l.exec(ctx, `INSERT INTO retain_run_stages (run_id, stage, status, attempts, started_at, seq)
		VALUES (?, ?, ?, 1, ?, ?)
		ON CONFLICT (run_id, stage) DO UPDATE SET status = excluded.status, attempts = retain_run_stages.attempts + 1,
			started_at = excluded.started_at, finished_at = NULL, error = '', skipped = FALSE`,
		runID, stage, StatusRunning, now.UTC(), seq)
	if err != nil {
		return fmt.Errorf("ledger: stage %s of %s: %w", stage, runID, err)
	}
	return nil
}

// StageFinished records a stage's end.
func (l *Ledger) StageFinished(ctx context.Context, runID, stage, status string, skipped bool, rows int64, dur time.Duration, errMsg string, now time.Time) error {
	_, err := l.exec(ctx, `UPDATE retain_run_stages SET status = ?, skipped = ?, rows_out = ?, duration_ms = ?, error = ?, finished_at = ?
		WHERE run_id = ? AND stage = ?`,
		status, skipped, rows, dur.Milliseconds(), errMsg, now.UTC(), runID, stage)
	if err != nil {
		return fmt.Errorf("ledger: stage %s of %s: %w", stage, runID, err)
	}
	return nil
}

// LockRun serialises fan-in on one run: in Postgres it locks the run's row
// until the transaction ends (SQLite transactions are serial already).
func (l *Ledger) LockRun(ctx context.Context, runID string) error {
	if !l.pg {
		return nil
	}
	if _, err := l.exec(ctx, `SELECT run_id FROM retain_runs WHERE run_id = ? FOR UPDATE`, runID); err != nil {
		return fmt.Errorf("ledger: locking run %s: %w", runID, err)
	}
	return nil
}

// ShardDone records that one shard of a per-shard stage completed and
// returns how many distinct shards of that stage are done. Recording the same
// shard twice counts it once. Call it in the transaction that completes the
// shard's job, so exactly one caller sees the count reach the total.
func (l *Ledger) ShardDone(ctx context.Context, runID, stage string, shard, shards int, rows int64, worker string, now time.Time) (done int, inserted bool, err error) {
	n, err := l.exec(ctx, `INSERT INTO retain_run_shards (run_id, stage, shard, shards, rows_out, worker, done_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, stage, shard) DO NOTHING`,
		runID, stage, shard, shards, rows, worker, now.UTC())
	if err != nil {
		return 0, false, fmt.Errorf("ledger: shard %d of %s/%s: %w", shard, runID, stage, err)
	}
	if err := l.conn.queryRow(ctx, l.q(`SELECT COUNT(*) FROM retain_run_shards WHERE run_id = ? AND stage = ?`), runID, stage).Scan(&done); err != nil {
		return 0, false, fmt.Errorf("ledger: counting shards of %s/%s: %w", runID, stage, err)
	}
	return done, n > 0, nil
}

// ShardsDone lists the shards of a stage recorded as done.
func (l *Ledger) ShardsDone(ctx context.Context, runID, stage string) ([]int, error) {
	rows, err := l.conn.query(ctx, l.q(`SELECT shard FROM retain_run_shards WHERE run_id = ? AND stage = ? ORDER BY shard`), runID, stage)
	if err != nil {
		return nil, fmt.Errorf("ledger: shards of %s/%s: %w", runID, stage, err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var s int
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("ledger: shards of %s/%s: %w", runID, stage, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// RunStatus returns a run's status ("" when the ledger has no such run).
func (l *Ledger) RunStatus(ctx context.Context, runID string) (string, error) {
	var s string
	err := l.conn.queryRow(ctx, l.q(`SELECT status FROM retain_runs WHERE run_id = ?`), runID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("ledger: status of %s: %w", runID, err)
	}
	return s, nil
}

// RunsFilter narrows Runs.
type RunsFilter struct {
	Limit int    // newest first; 0 = 50
	AsOf  string // only this as-of date
	Kind  string
}

// Runs lists runs, newest first, with their stages in order.
func (l *Ledger) Runs(ctx context.Context, f RunsFilter) ([]RunRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	where, args := []string{"1=1"}, []any{}
	if f.AsOf != "" {
		where, args = append(where, "r.as_of = ?"), append(args, f.AsOf)
	}
	if f.Kind != "" {
		where, args = append(where, "r.kind = ?"), append(args, f.Kind)
	}
	args = append(args, f.Limit)
	rows, err := l.conn.query(ctx, l.q(`SELECT r.run_id, r.as_of, r.kind, r.config_fp, r.status, r.attempts, r.started_at, r.finished_at,
			r.failed_stage, r.error, r.host, p.pruned_at, COALESCE(p.bytes, 0)
		FROM retain_runs r LEFT JOIN retain_run_prunes p ON p.run_id = r.run_id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY r.as_of DESC, r.started_at DESC LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: listing runs: %w", err)
	}
	var out []RunRecord
	for rows.Next() {
		var r RunRecord
		var fin, pruned nullTime
		if err := rows.Scan(&r.RunID, &r.AsOf, &r.Kind, &r.ConfigFP, &r.Status, &r.Attempts, &r.StartedAt, &fin, &r.FailedStage, &r.Error, &r.Host,
			&pruned, &r.PrunedBytes); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ledger: listing runs: %w", err)
		}
		r.FinishedAt = fin.ptr()
		r.PrunedAt = pruned.ptr()
		r.Pruned = r.PrunedAt != nil
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: listing runs: %w", err)
	}
	for i := range out {
		st, err := l.stages(ctx, out[i].RunID)
		if err != nil {
			return nil, err
		}
		out[i].Stages = st
	}
	return out, nil
}

func (l *Ledger) stages(ctx context.Context, runID string) ([]StageRecord, error) {
	rows, err := l.conn.query(ctx, l.q(`SELECT stage, status, skipped, rows_out, attempts, started_at, finished_at, duration_ms, error
		FROM retain_run_stages WHERE run_id = ? ORDER BY seq, started_at`), runID)
	if err != nil {
		return nil, fmt.Errorf("ledger: stages of %s: %w", runID, err)
	}
	defer rows.Close()
	var out []StageRecord
	for rows.Next() {
		var s StageRecord
		var fin nullTime
		if err := rows.Scan(&s.Stage, &s.Status, &s.Skipped, &s.Rows, &s.Attempts, &s.StartedAt, &fin, &s.DurationMS, &s.Error); err != nil {
			return nil, fmt.Errorf("ledger: stages of %s: %w", runID, err)
		}
		s.FinishedAt = fin.ptr()
		out = append(out, s)
	}
	return out, rows.Err()
}

// nullTime scans a nullable timestamp from either driver.
type nullTime struct {
	t     time.Time
	valid bool
}

func (n *nullTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		n.valid = false
	case time.Time:
		n.t, n.valid = x, true
	case string:
		t, err := time.Parse("2006-01-02 15:04:05.999999999-07:00", x)
		if err != nil {
			return fmt.Errorf("timestamp %q: %w", x, err)
		}
		n.t, n.valid = t, true
	default:
		return fmt.Errorf("timestamp: unexpected %T", v)
	}
	return nil
}

func (n nullTime) ptr() *time.Time {
	if !n.valid {
		return nil
	}
	t := n.t.UTC()
	return &t
}

// ledgerConn hides database/sql vs pgx.
type ledgerConn interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	queryRow(ctx context.Context, q string, args ...any) rowScanner
	query(ctx context.Context, q string, args ...any) (rowsIter, error)
}

type rowScanner interface{ Scan(dest ...any) error }

type rowsIter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type sqlQuerier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

type sqlConn struct{ db sqlQuerier }

func (c sqlConn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	r, err := c.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (c sqlConn) queryRow(ctx context.Context, q string, args ...any) rowScanner {
	return c.db.QueryRowContext(ctx, q, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

func (c sqlConn) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	r, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

type pgxConn struct {
	db interface {
		Query(ctx context.Context, q string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, q string, args ...any) pgx.Row
	}
}

func (c pgxConn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	switch d := c.db.(type) {
	case *pgxpool.Pool:
		t, err := d.Exec(ctx, q, args...)
		return t.RowsAffected(), err
	case pgx.Tx:
		t, err := d.Exec(ctx, q, args...)
		return t.RowsAffected(), err
	}
	return 0, fmt.Errorf("ledger: unsupported pgx handle %T", c.db)
}

func (c pgxConn) queryRow(ctx context.Context, q string, args ...any) rowScanner {
	return c.db.QueryRow(ctx, q, args...)
}

type pgxRows struct{ pgx.Rows }

func (c pgxConn) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	r, err := c.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgxRows{r}, nil
}
