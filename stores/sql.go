package stores

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the embedded store
)

// Dialect names the SQL engine behind a DB.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is one SQL store (SQLite or Postgres) holding risk_current,
// risk_history, the intervention queue, the publish history and API tokens.
// All SQL is parameterised; identifiers come only from validated config.
// Safe for concurrent use.
type DB struct {
	dialect Dialect
	// r serves reads; w serves writes (the same pool on Postgres; on SQLite a
	// single connection whose transactions begin IMMEDIATE: one writer).
	r, w   *sql.DB
	schema string
	label  string
	now    func() time.Time
}

// OpenSQLite opens (creating if needed) the embedded store at path and
// migrates its schema.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	// page_size applies to a new database only (before WAL is on): 16 KiB
	// pages write a publish in a quarter of the WAL frames of the default 4 KiB
	prag := "_pragma=page_size(16384)&_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(off)"
	w, err := sql.Open("sqlite", "file:"+path+"?"+prag+"&_pragma=cache_size(-262144)&_pragma=temp_store(memory)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", "file:"+path+"?"+prag+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db := &DB{dialect: SQLite, r: r, w: w, label: "sqlite:" + path, now: time.Now}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenPostgres connects to dsn, creates schema when missing, and migrates it.
func OpenPostgres(ctx context.Context, dsn, schema string) (*DB, error) {
	if schema == "" {
		schema = "retain"
	}
	if !identRe.MatchString(schema) {
		return nil, badInput("stores.postgres_schema: %q is not a lower-case SQL identifier", schema)
	}
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, badInput("stores.postgres: %v", err)
	}
	cc.RuntimeParams["search_path"] = schema
	boot := stdlib.OpenDB(*cc)
	defer boot.Close()
	if _, err := boot.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return nil, fmt.Errorf("postgres store: creating schema %s: %w", schema, err)
	}
	p := stdlib.OpenDB(*cc)
	p.SetMaxOpenConns(16)
	p.SetMaxIdleConns(16)
	db := &DB{dialect: Postgres, r: p, w: p, schema: schema, label: "postgres:" + schema, now: time.Now}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Dialect says which engine this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// String names the store for logs ("sqlite:/path", "postgres:schema").
func (db *DB) String() string { return db.label }

// SetClock replaces the clock (tests of leases and expiry).
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// Close releases the connections.
func (db *DB) Close() error {
	err := db.r.Close()
	if db.w != db.r {
		err = errors.Join(err, db.w.Close())
	}
	return err
}

// Ping checks the store answers (for /healthz).
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// riskCols are the risk list columns in table order (without updated_at).
var riskCols = []string{"customer_id", "as_of", "scored_at", "run_id", "model_version",
	"churn_probability", "risk_tier", "churn_percentile", "p_alive", "expected_purchases",
	"predicted_clv", "historic_clv", "value_at_risk", "expected_next_order_date", "reasons",
	"segment", "value_risk_cell", "control_group", "row_hash"}

var queueCols = []string{"id", "idempotency_key", "run_id", "customer_id", "campaign", "as_of",
	"priority", "status", "suppression_reason", "treatment", "not_before", "expires_at",
	"claimed_by", "claimed_at", "lease_until", "attempts", "outcome", "outcome_value",
	"outcome_at", "created_at", "updated_at"}

func (db *DB) ddl() []string {
	ts, date, real, text, boolean, serial := "TEXT", "TEXT", "REAL", "TEXT", "INTEGER", "INTEGER PRIMARY KEY AUTOINCREMENT"
	if db.dialect == Postgres {
		ts, date, real, boolean, serial = "TIMESTAMPTZ", "DATE", "DOUBLE PRECISION", "BOOLEAN", "BIGSERIAL PRIMARY KEY"
	}
	riskBody := fmt.Sprintf(`customer_id %[5]s NOT NULL,
	as_of %[2]s NOT NULL, scored_at %[1]s NOT NULL, run_id %[5]s NOT NULL, model_version %[5]s NOT NULL,
	churn_probability %[3]s NOT NULL, risk_tier %[5]s NOT NULL, churn_percentile %[3]s NOT NULL,
	p_alive %[3]s, expected_purchases %[3]s, predicted_clv %[3]s, historic_clv %[3]s, value_at_risk %[3]s,
	expected_next_order_date %[2]s, reasons %[5]s NOT NULL, segment %[5]s NOT NULL, value_risk_cell %[5]s NOT NULL,
	control_group %[4]s NOT NULL, row_hash %[5]s NOT NULL`, ts, date, real, boolean, text)
	withoutRowid := ""
	if db.dialect == SQLite {
		withoutRowid = " WITHOUT ROWID"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS risk_current (` + riskBody + `, updated_at ` + ts + ` NOT NULL, CONSTRAINT risk_current_pkey PRIMARY KEY (customer_id))` + withoutRowid,
		`CREATE TABLE IF NOT EXISTS risk_history (` + riskBody + `, PRIMARY KEY (as_of, model_version, customer_id))` + withoutRowid,
		`CREATE INDEX IF NOT EXISTS risk_history_customer ON risk_history (customer_id, as_of)`,
		`CREATE TABLE IF NOT EXISTS intervention_queue (
	id ` + serial + `, idempotency_key ` + text + ` NOT NULL UNIQUE, run_id ` + text + ` NOT NULL,
	customer_id ` + text + ` NOT NULL, campaign ` + text + ` NOT NULL, as_of ` + date + ` NOT NULL, priority ` + real + ` NOT NULL,
	status ` + text + ` NOT NULL CHECK (status IN ('pending','claimed','done','suppressed','expired','failed')),
	suppression_reason ` + text + `, treatment ` + text + ` NOT NULL CHECK (treatment IN ('treatment','control')),
	not_before ` + ts + ` NOT NULL, expires_at ` + ts + ` NOT NULL, claimed_by ` + text + `, claimed_at ` + ts + `,
	lease_until ` + ts + `, attempts INTEGER NOT NULL DEFAULT 0, outcome ` + text + `, outcome_value ` + real + `,
	outcome_at ` + ts + `, created_at ` + ts + ` NOT NULL, updated_at ` + ts + ` NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS queue_claimable ON intervention_queue (campaign, priority DESC, id) WHERE status = 'pending' AND treatment = 'treatment'`,
		`CREATE INDEX IF NOT EXISTS queue_leases ON intervention_queue (lease_until) WHERE status = 'claimed'`,
		`CREATE INDEX IF NOT EXISTS queue_open ON intervention_queue (as_of) WHERE status = 'pending'`,
		`CREATE INDEX IF NOT EXISTS queue_customer ON intervention_queue (customer_id)`,
		`CREATE INDEX IF NOT EXISTS queue_contacts ON intervention_queue (claimed_at) WHERE claimed_at IS NOT NULL`,
		`CREATE TABLE IF NOT EXISTS publishes (
	id ` + serial + `, run_id ` + text + ` NOT NULL, as_of ` + date + ` NOT NULL, model_version ` + text + ` NOT NULL,
	content_hash ` + text + ` NOT NULL, risk_rows INTEGER NOT NULL, queue_rows INTEGER NOT NULL, queue_inserted INTEGER NOT NULL,
	published_at ` + ts + ` NOT NULL, is_current ` + boolean + ` NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS api_tokens (
	id ` + serial + `, name ` + text + ` NOT NULL, token_hash ` + text + ` NOT NULL UNIQUE, scopes ` + text + ` NOT NULL,
	created_at ` + ts + ` NOT NULL, revoked_at ` + ts + `)`,
	}
}

func (db *DB) migrate(ctx context.Context) error {
	for _, s := range db.ddl() {
		if _, err := db.w.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: migrating schema: %w", db.label, err)
		}
	}
	return nil
}

// timeFormat is how SQLite stores times: fixed width, so text order = time order.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// ts converts a time into a parameter of the dialect; zero → NULL.
func (db *DB) ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if db.dialect == SQLite {
		return t.UTC().Format(timeFormat)
	}
	return t.UTC()
}

// date converts a date into a parameter of the dialect; zero → NULL.
func (db *DB) date(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if db.dialect == SQLite {
		return t.UTC().Format(time.DateOnly)
	}
	return t.UTC().Truncate(24 * time.Hour)
}

func (db *DB) boolean(b bool) any {
	if db.dialect == SQLite {
		if b {
			return 1
		}
		return 0
	}
	return b
}

func nullFloat(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// dbTime scans times stored as TIMESTAMPTZ/DATE (Postgres) or text (SQLite).
type dbTime struct{ t *time.Time }

func (d dbTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = x.UTC()
	case string:
		return d.parse(x)
	case []byte:
		return d.parse(string(x))
	default:
		return fmt.Errorf("cannot scan %T into a time", v)
	}
	return nil
}

func (d dbTime) parse(s string) error {
	switch len(s) {
	case len(time.DateOnly):
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			*d.t = t
			return nil
		}
	case len(timeFormat):
		if t, err := time.Parse(timeFormat, s); err == nil {
			*d.t = t
			return nil
		}
	}
	for _, f := range []string{timeFormat, time.RFC3339Nano, time.DateOnly, "2006-01-02 15:04:05"} {
		if t, err := time.Parse(f, s); err == nil {
			*d.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("cannot parse time %q", s)
}

// dbFloat scans a nullable float (NULL → NaN).
type dbFloat struct{ f *float64 }

func (d dbFloat) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.f = math.NaN()
	case float64:
		*d.f = x
	case int64:
		*d.f = float64(x)
	default:
		return fmt.Errorf("cannot scan %T into a float", v)
	}
	return nil
}

// dbBool scans booleans stored as BOOLEAN or INTEGER.
type dbBool struct{ b *bool }

func (d dbBool) Scan(v any) error {
	switch x := v.(type) {
	case bool:
		*d.b = x
	case int64:
		*d.b = x != 0
	case nil:
		*d.b = false
	default:
		return fmt.Errorf("cannot scan %T into a bool", v)
	}
	return nil
}

// dbString scans a nullable string.
type dbString struct{ s *string }

func (d dbString) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.s = ""
	case string:
		*d.s = x
	case []byte:
		*d.s = string(x)
	default:
		return fmt.Errorf("cannot scan %T into a string", v)
	}
	return nil
}

// placeholders returns "($k+1, …, $k+n)".
func placeholders(k, n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d", k+i+1)
	}
	b.WriteByte(')')
	return b.String()
}

// DropSchema drops the Postgres schema with everything in it (tests and
// benchmarks clean up with it); a no-op on SQLite.
func (db *DB) DropSchema(ctx context.Context) error {
	if db.dialect != Postgres {
		return nil
	}
	_, err := db.w.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+db.schema+" CASCADE")
	return err
}
