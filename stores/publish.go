package stores

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PublishInput is one night's risk list and the policy that queues it.
type PublishInput struct {
	// Risk is the whole list; every row has the same as-of date, run,
	// model version and scoring time.
	Risk []RiskRow
	// Policy makes the queue rows (nil: no queue rows).
	Policy *Policy
	// OptedOut are customers never to contact (from policy.opted_out_file);
	// the store adds policy.opted_out_table itself.
	OptedOut map[string]bool
}

// PublishResult says what one store received.
type PublishResult struct {
	Store         string        `json:"store"`
	RiskRows      int           `json:"risk_rows"`
	QueueRows     int           `json:"queue_rows"`
	QueueInserted int           `json:"queue_inserted"`
	Skipped       bool          `json:"skipped"` // the same list was already the current one
	Seconds       float64       `json:"seconds"`
	Queue         []QueueRow    `json:"-"` // the planned queue rows
	took          time.Duration // for logs
}

// listMeta is what every row of a publish shares.
type listMeta struct {
	runID, modelVersion string
	asOf, scoredAt      time.Time
	hash                string
	rowHash, reasons    []string // per row, computed once
}

func checkList(rows []RiskRow) (listMeta, error) {
	if len(rows) == 0 {
		return listMeta{}, badInput("publish: the risk list is empty")
	}
	m := listMeta{runID: rows[0].RunID, modelVersion: rows[0].ModelVersion, asOf: rows[0].AsOf.UTC().Truncate(24 * time.Hour), scoredAt: rows[0].ScoredAt}
	h := fnv.New128a()
	fmt.Fprintf(h, "%s|%s|", dateString(m.asOf), m.modelVersion)
	m.rowHash, m.reasons = make([]string, len(rows)), make([]string, len(rows))
	for i := range rows {
		r := &rows[i]
		if r.CustomerID == "" {
			return m, badInput("publish: risk row %d has no customer_id", i)
		}
		if r.RunID != m.runID || r.ModelVersion != m.modelVersion || !r.AsOf.Equal(rows[0].AsOf) || !r.ScoredAt.Equal(m.scoredAt) {
			return m, badInput("publish: risk row %d (customer %s) belongs to another run, as-of date or model than row 0", i, r.CustomerID)
		}
		m.reasons[i] = r.ReasonsJSON()
		m.rowHash[i] = r.hashWith(m.reasons[i])
		h.Write([]byte(m.rowHash[i]))
	}
	m.hash = hex.EncodeToString(h.Sum(nil))
	return m, nil
}

// Publish writes the risk list (risk_current, replaced atomically, and
// risk_history) and the queue rows the policy makes, in one transaction:
// readers see the previous complete list or the new one. Publishing a list
// that is already the current one changes nothing (Skipped); queue rows are
// keyed by (customer, campaign, as-of) and never inserted twice.
func (db *DB) Publish(ctx context.Context, in PublishInput) (PublishResult, error) {
	start := time.Now()
	res := PublishResult{Store: db.label, RiskRows: len(in.Risk)}
	m, err := checkList(in.Risk)
	if err != nil {
		return res, err
	}
	cur, err := db.CurrentPublish(ctx)
	if err != nil {
		return res, err
	}
	if cur != nil && cur.ContentHash == m.hash {
		res.Skipped = true
		res.Seconds = time.Since(start).Seconds()
		return res, nil
	}
	now := db.now().UTC()
	if in.Policy != nil && len(in.Policy.Campaigns) > 0 {
		contacts, err := db.contacts(ctx, now, in.Policy)
		if err != nil {
			return res, err
		}
		opted := in.OptedOut
		if in.Policy.OptedOutTable != "" {
			if opted, err = db.optedOut(ctx, in.Policy.OptedOutTable, in.OptedOut); err != nil {
				return res, err
			}
		}
		res.Queue = in.Policy.Plan(in.Risk, m.runID, m.asOf, now, opted, contacts)
	}
	res.QueueRows = len(res.Queue)
	if db.dialect == Postgres {
		res.QueueInserted, res.Skipped, err = db.publishPostgres(ctx, in.Risk, res.Queue, m, now)
	} else {
		res.QueueInserted, res.Skipped, err = db.publishSQLite(ctx, in.Risk, res.Queue, m, now)
	}
	res.took = time.Since(start)
	res.Seconds = res.took.Seconds()
	if err != nil {
		return res, fmt.Errorf("%s: publishing %d risk rows: %w", db.label, len(in.Risk), err)
	}
	return res, nil
}

// contacts loads the last hand-out time of customers claimed within the
// longest cool-down.
func (db *DB) contacts(ctx context.Context, now time.Time, p *Policy) (Contacts, error) {
	var longest time.Duration
	for i := range p.Campaigns {
		d, _ := ParseDays(p.Campaigns[i].Cooldown, 30)
		longest = max(longest, d)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT customer_id, MAX(claimed_at) FROM intervention_queue WHERE claimed_at IS NOT NULL AND claimed_at >= $1 GROUP BY customer_id`, db.ts(now.Add(-longest)))
	if err != nil {
		return nil, fmt.Errorf("%s: reading recent contacts: %w", db.label, err)
	}
	defer rows.Close()
	c := Contacts{}
	for rows.Next() {
		var id string
		var t time.Time
		if err := rows.Scan(&id, dbTime{&t}); err != nil {
			return nil, fmt.Errorf("%s: reading recent contacts: %w", db.label, err)
		}
		c[id] = t
	}
	return c, rows.Err()
}

func (db *DB) optedOut(ctx context.Context, table string, base map[string]bool) (map[string]bool, error) {
	out := make(map[string]bool, len(base))
	for k, v := range base {
		out[k] = v
	}
	// table is a validated identifier (policy.opted_out_table)
	rows, err := db.r.QueryContext(ctx, "SELECT customer_id FROM "+table)
	if err != nil {
		return nil, fmt.Errorf("%s: reading policy.opted_out_table %s: %w", db.label, table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("%s: reading policy.opted_out_table %s: %w", db.label, table, err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

func (db *DB) riskArgs(r *RiskRow, reasons, hash string, now time.Time, dst []any) []any {
	return append(dst, r.CustomerID, db.date(r.AsOf), db.ts(r.ScoredAt), r.RunID, r.ModelVersion,
		r.ChurnProbability, r.RiskTier, r.ChurnPercentile, nullFloat(r.PAlive), nullFloat(r.ExpectedPurchases),
		nullFloat(r.PredictedCLV), nullFloat(r.HistoricCLV), nullFloat(r.ValueAtRisk), db.date(r.ExpectedNextOrder),
		reasons, r.Segment, r.ValueRiskCell, db.boolean(r.ControlGroup), hash, db.ts(now))
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// queueArgs are the queue columns without id.
func (db *DB) queueArgs(q *QueueRow, dst []any) []any {
	return append(dst, q.IdempotencyKey, q.RunID, q.CustomerID, q.Campaign, db.date(q.AsOf),
		q.Priority, q.Status, nullString(q.SuppressionReason), q.Treatment, db.ts(q.NotBefore), db.ts(q.ExpiresAt),
		nullString(q.ClaimedBy), db.ts(q.ClaimedAt), db.ts(q.LeaseUntil), q.Attempts, nullString(q.Outcome),
		nil, db.ts(q.OutcomeAt), db.ts(q.CreatedAt), db.ts(q.UpdatedAt))
}

func excludedSet(cols []string, table string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = excluded.%s", c, c)
	}
	return b.String()
}

const riskUpsertTail = ` ON CONFLICT (customer_id) DO UPDATE SET %s, updated_at = CASE WHEN risk_current.row_hash = excluded.row_hash THEN risk_current.updated_at ELSE excluded.updated_at END`

// publishSQLite writes everything in one IMMEDIATE transaction with
// multi-row prepared inserts: WAL readers keep seeing the old list until commit.
func (db *DB) publishSQLite(ctx context.Context, risk []RiskRow, queue []QueueRow, m listMeta, now time.Time) (inserted int, skipped bool, err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback()
	// another writer may have published the same list since we looked
	var h string
	switch err := tx.QueryRowContext(ctx, `SELECT content_hash FROM publishes WHERE is_current = 1`).Scan(&h); {
	case err == nil && h == m.hash:
		return 0, true, nil
	case err != nil && err != sql.ErrNoRows:
		return 0, false, err
	}
	curCols := append(append([]string{}, riskCols...), "updated_at")
	if err := batchInsert(ctx, tx, "risk_current", curCols, fmt.Sprintf(riskUpsertTail, excludedSet(riskCols[1:], "")), len(risk), func(i int, dst []any) []any {
		return db.riskArgs(&risk[i], m.reasons[i], m.rowHash[i], now, dst)
	}); err != nil {
		return 0, false, fmt.Errorf("risk_current: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM risk_current WHERE NOT (run_id = $1 AND as_of = $2 AND model_version = $3 AND scored_at = $4)`,
		m.runID, db.date(m.asOf), m.modelVersion, db.ts(m.scoredAt)); err != nil {
		return 0, false, fmt.Errorf("risk_current: removing customers not in the new list: %w", err)
	}
	// history from the rows just written, inside SQLite: no second round of binding
	if _, err := tx.ExecContext(ctx, `INSERT INTO risk_history (`+strings.Join(riskCols, ", ")+`) SELECT `+strings.Join(riskCols, ", ")+
		` FROM risk_current WHERE true ON CONFLICT (as_of, model_version, customer_id) DO UPDATE SET `+excludedSet(riskCols[2:], "")+
		` WHERE risk_history.row_hash <> excluded.row_hash`); err != nil {
		return 0, false, fmt.Errorf("risk_history: %w", err)
	}
	if len(queue) > 0 {
		n0, err := countRows(ctx, tx)
		if err != nil {
			return 0, false, err
		}
		if err := batchInsert(ctx, tx, "intervention_queue", queueCols[1:], " ON CONFLICT (idempotency_key) DO NOTHING", len(queue), func(i int, dst []any) []any {
			return db.queueArgs(&queue[i], dst)
		}); err != nil {
			return 0, false, fmt.Errorf("intervention_queue: %w", err)
		}
		n1, err := countRows(ctx, tx)
		if err != nil {
			return 0, false, err
		}
		inserted = int(n1 - n0)
	}
	if err := db.finishPublish(ctx, sqlExec{tx}, m, len(risk), len(queue), inserted, now); err != nil {
		return 0, false, err
	}
	return inserted, false, tx.Commit()
}

func countRows(ctx context.Context, tx *sql.Tx) (int64, error) {
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM intervention_queue`).Scan(&n); err != nil {
		return 0, fmt.Errorf("intervention_queue: %w", err)
	}
	return n, nil
}

type execer interface {
	exec(ctx context.Context, q string, args ...any) error
}

type sqlExec struct{ tx *sql.Tx }

func (e sqlExec) exec(ctx context.Context, q string, args ...any) error {
	_, err := e.tx.ExecContext(ctx, q, args...)
	return err
}

type pgxExec struct{ tx pgx.Tx }

func (e pgxExec) exec(ctx context.Context, q string, args ...any) error {
	_, err := e.tx.Exec(ctx, q, args...)
	return err
}

// finishPublish expires older nights' pending rows and records the publish.
func (db *DB) finishPublish(ctx context.Context, e execer, m listMeta, riskRows, queueRows, inserted int, now time.Time) error {
	if err := e.exec(ctx, `UPDATE intervention_queue SET status = 'expired', suppression_reason = 'superseded', updated_at = $1 WHERE status = 'pending' AND as_of < $2`, db.ts(now), db.date(m.asOf)); err != nil {
		return fmt.Errorf("intervention_queue: expiring earlier nights: %w", err)
	}
	if err := e.exec(ctx, `UPDATE publishes SET is_current = $1 WHERE is_current = $2`, db.boolean(false), db.boolean(true)); err != nil {
		return fmt.Errorf("publishes: %w", err)
	}
	if err := e.exec(ctx, `INSERT INTO publishes (run_id, as_of, model_version, content_hash, risk_rows, queue_rows, queue_inserted, published_at, is_current) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		m.runID, db.date(m.asOf), m.modelVersion, m.hash, riskRows, queueRows, inserted, db.ts(now), db.boolean(true)); err != nil {
		return fmt.Errorf("publishes: %w", err)
	}
	return nil
}

// batchInsert inserts n rows with multi-row INSERT statements, reusing one
// prepared statement for the full batches.
func batchInsert(ctx context.Context, tx *sql.Tx, table string, cols []string, tail string, n int, args func(i int, dst []any) []any) error {
	per := max(1, min(200, 30000/len(cols)))
	build := func(rows int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
		for r := range rows {
			if r > 0 {
				b.WriteByte(',')
			}
			// positional ? placeholders: binding thousands of $N names is quadratic in modernc/sqlite
			b.WriteByte('(')
			b.WriteString(strings.Repeat("?,", len(cols)-1))
			b.WriteString("?)")
		}
		b.WriteString(tail)
		return b.String()
	}
	var stmt *sql.Stmt
	buf := make([]any, 0, per*len(cols))
	for lo := 0; lo < n; lo += per {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(n, lo+per)
		buf = buf[:0]
		for i := lo; i < hi; i++ {
			buf = args(i, buf)
		}
		if hi-lo < per {
			if _, err := tx.ExecContext(ctx, build(hi-lo), buf...); err != nil {
				return err
			}
			continue
		}
		if stmt == nil {
			var err error
			if stmt, err = tx.PrepareContext(ctx, build(per)); err != nil {
				return err
			}
			defer stmt.Close()
		}
		if _, err := stmt.ExecContext(ctx, buf...); err != nil {
			return err
		}
	}
	return nil
}

// publishLock is the advisory lock key serialising publishes on Postgres.
const publishLock = 0x72657461696e // "retain"

// publishPostgres COPYs the list into a staging table, builds the next
// risk_current beside the live one (keeping updated_at where the row hash is
// unchanged), inserts history and queue rows, then swaps the tables in the
// same transaction: readers block for the swap only and then see the new list.
func (db *DB) publishPostgres(ctx context.Context, risk []RiskRow, queue []QueueRow, m listMeta, now time.Time) (inserted int, skipped bool, err error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(publishLock)); err != nil {
			return err
		}
		var h string
		switch err := tx.QueryRow(ctx, `SELECT content_hash FROM publishes WHERE is_current`).Scan(&h); {
		case err == nil && h == m.hash:
			skipped = true
			return nil
		case err != nil && err != pgx.ErrNoRows:
			return err
		}
		curCols := append(append([]string{}, riskCols...), "updated_at")
		steps := []string{
			`CREATE TEMP TABLE risk_stage ON COMMIT DROP AS SELECT ` + strings.Join(curCols, ", ") + ` FROM risk_current WITH NO DATA`,
		}
		for _, s := range steps {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		buf := make([]any, 0, len(curCols))
		i := 0
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"risk_stage"}, curCols, pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(risk) {
				return nil, nil
			}
			buf = db.riskArgs(&risk[i], m.reasons[i], m.rowHash[i], now, buf[:0])
			i++
			return buf, nil
		})); err != nil {
			return fmt.Errorf("COPY risk_stage: %w", err)
		}
		sel := make([]string, len(riskCols))
		for k, c := range riskCols {
			sel[k] = "s." + c
		}
		steps = []string{
			`INSERT INTO risk_history (` + strings.Join(riskCols, ", ") + `) SELECT ` + strings.Join(riskCols, ", ") + ` FROM risk_stage
			 ON CONFLICT (as_of, model_version, customer_id) DO UPDATE SET ` + excludedSet(riskCols[2:], "") + ` WHERE risk_history.row_hash <> excluded.row_hash`,
			`DROP TABLE IF EXISTS risk_current_next`,
			`CREATE TABLE risk_current_next AS SELECT ` + strings.Join(sel, ", ") + `,
			 CASE WHEN o.row_hash = s.row_hash THEN o.updated_at ELSE s.updated_at END AS updated_at
			 FROM risk_stage s LEFT JOIN risk_current o ON o.customer_id = s.customer_id`,
			`ALTER TABLE risk_current_next ADD CONSTRAINT risk_current_next_pkey PRIMARY KEY (customer_id)`,
		}
		for _, s := range steps {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", firstLine(s), err)
			}
		}
		if len(queue) > 0 {
			qc := queueCols[1:]
			if _, err := tx.Exec(ctx, `CREATE TEMP TABLE queue_stage ON COMMIT DROP AS SELECT `+strings.Join(qc, ", ")+` FROM intervention_queue WITH NO DATA`); err != nil {
				return fmt.Errorf("queue_stage: %w", err)
			}
			j := 0
			qbuf := make([]any, 0, len(qc))
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"queue_stage"}, qc, pgx.CopyFromFunc(func() ([]any, error) {
				if j == len(queue) {
					return nil, nil
				}
				qbuf = db.queueArgs(&queue[j], qbuf[:0])
				j++
				return qbuf, nil
			})); err != nil {
				return fmt.Errorf("COPY queue_stage: %w", err)
			}
			tag, err := tx.Exec(ctx, `INSERT INTO intervention_queue (`+strings.Join(qc, ", ")+`) SELECT `+strings.Join(qc, ", ")+` FROM queue_stage ON CONFLICT (idempotency_key) DO NOTHING`)
			if err != nil {
				return fmt.Errorf("intervention_queue: %w", err)
			}
			inserted = int(tag.RowsAffected())
		}
		if err := db.finishPublish(ctx, pgxExec{tx}, m, len(risk), len(queue), inserted, now); err != nil {
			return err
		}
		for _, s := range []string{
			`DROP TABLE risk_current`,
			`ALTER TABLE risk_current_next RENAME TO risk_current`,
			`ALTER TABLE risk_current RENAME CONSTRAINT risk_current_next_pkey TO risk_current_pkey`,
		} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("swapping in the new risk_current: %s: %w", s, err)
			}
		}
		return tx.Commit(ctx)
	})
	return inserted, skipped, err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
