package stores

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// publishCacheKiB is the SQLite page cache of the writer while it publishes
// (allocated by the SQLite library, outside the Go heap and GOMEMLIMIT).
// 64 MiB since 2026-12-04: `retain publish` of a 1M-row list peaked at
// 2197 MiB RSS against 3010 MiB with 512 MiB (65.6 s against 60.7 s
// wall); the stores bench with its 659k queue rows (alternated twice, load
// 7–9) used 52.0/58.8 and 53.2/61.7 CPU-s for nights 1/2 against
// 48.3/55.7 and 51.2/64.3 with 512 MiB, at 2.9 GB against 4.0 GB peak.
// Rows go in key order, so the cache only needs the indexes' working set.
// Before that, a 2 GiB cache was measured no faster than 512 MiB and pushed
// the nightly run past 6 GB.
const publishCacheKiB = 64 << 10

// publishSQLite writes everything in one IMMEDIATE transaction: WAL readers
// keep seeing the old list until commit. risk_current is emptied and refilled
// in key order (appends, no upserts); history rows are copied inside SQLite;
// queue rows go in as multi-row prepared inserts. Statements are INSERT OR
// ROLLBACK, so SQLite keeps no statement journal: any error ends the whole
// transaction, which is what a failed publish does anyway.
func (db *DB) publishSQLite(ctx context.Context, risk []RiskRow, plan *queuePlan, m listMeta, now time.Time, clk *stepClock) (inserted int, skipped bool, err error) {
	// the writer pool has one connection: the pragma applies to the transaction below
	if _, err := db.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, publishCacheKiB)); err != nil {
		return 0, false, err
	}
	defer db.w.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = -262144`)
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
	c := db.rowConsts(m, now)
	order := byCustomer(risk)
	updated, err := keptUpdatedAt(ctx, tx, risk, order, m.rowHash)
	if err != nil {
		return 0, false, fmt.Errorf("risk_current: reading row hashes: %w", err)
	}
	clk.mark("read previous row hashes")
	// without WHERE, SQLite clears the table page by page (no per-row delete)
	if _, err := tx.ExecContext(ctx, `DELETE FROM risk_current`); err != nil {
		return 0, false, fmt.Errorf("risk_current: %w", err)
	}
	curCols := append(append([]string{}, riskCols...), "updated_at")
	if err := batchInsert(ctx, tx, "risk_current", curCols, "", len(risk), func(k int, dst []any) []any {
		i := order[k]
		u := c.now
		if updated[k] != "" {
			u = updated[k]
		}
		return db.riskArgs(&risk[i], c, m.reasons[i], m.rowHash[i], u, dst)
	}); err != nil {
		return 0, false, fmt.Errorf("risk_current: %w", err)
	}
	clk.mark("risk_current")
	// history from the rows just written, inside SQLite: no second round of binding
	var again bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM risk_history WHERE as_of = $1 AND model_version = $2)`, c.asOf, m.modelVersion).Scan(&again); err != nil {
		return 0, false, fmt.Errorf("risk_history: %w", err)
	}
	tail := ""
	if again {
		tail = ` WHERE true` + historyUpsert()
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR ROLLBACK INTO risk_history (`+strings.Join(riskCols, ", ")+`) SELECT `+strings.Join(riskCols, ", ")+
		` FROM risk_current`+tail); err != nil {
		return 0, false, fmt.Errorf("risk_history: %w", err)
	}
	clk.mark("risk_history")
	if queue, qorder := plan.wait(clk); len(queue) > 0 {
		n0, err := countRows(ctx, tx)
		if err != nil {
			return 0, false, err
		}
		if err := batchInsert(ctx, tx, "intervention_queue", queueCols[1:], " ON CONFLICT (idempotency_key) DO NOTHING", len(queue), func(k int, dst []any) []any {
			return db.queueArgs(&queue[qorder[k]], c, dst)
		}); err != nil {
			return 0, false, fmt.Errorf("intervention_queue: %w", err)
		}
		n1, err := countRows(ctx, tx)
		if err != nil {
			return 0, false, err
		}
		inserted = int(n1 - n0)
		clk.mark("intervention_queue")
	}
	if err := db.finishPublish(ctx, sqlExec{tx}, m, len(risk), len(plan.rows), inserted, now); err != nil {
		return 0, false, err
	}
	clk.mark("expire earlier nights, record publish")
	if err := tx.Commit(); err != nil {
		return 0, false, err
	}
	clk.mark("commit (WAL checkpoint)")
	return inserted, false, nil
}

// keptUpdatedAt merges the new list (in customer order) with the stored
// one: for each position k of order, the stored updated_at when the
// customer's row hash is unchanged, else "". Both sides are in byte order
// (risk_current's key uses SQLite's BINARY collation).
func keptUpdatedAt(ctx context.Context, tx *sql.Tx, risk []RiskRow, order []int32, rowHash []string) ([]string, error) {
	out := make([]string, len(order))
	rs, err := tx.QueryContext(ctx, `SELECT customer_id, row_hash, updated_at FROM risk_current ORDER BY customer_id`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	k := 0
	var id, hash, upd string
	for rs.Next() {
		if err := rs.Scan(&id, &hash, &upd); err != nil {
			return nil, err
		}
		for k < len(order) && risk[order[k]].CustomerID < id {
			k++
		}
		if k < len(order) && risk[order[k]].CustomerID == id && rowHash[order[k]] == hash {
			out[k] = upd
		}
	}
	return out, rs.Err()
}

func countRows(ctx context.Context, tx *sql.Tx) (int64, error) {
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM intervention_queue`).Scan(&n); err != nil {
		return 0, fmt.Errorf("intervention_queue: %w", err)
	}
	return n, nil
}

// batchInsert inserts n rows with multi-row INSERT OR ROLLBACK statements,
// reusing one prepared statement for the full batches.
func batchInsert(ctx context.Context, tx *sql.Tx, table string, cols []string, tail string, n int, args func(i int, dst []any) []any) error {
	per := max(1, min(500, 30000/len(cols)))
	build := func(rows int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT OR ROLLBACK INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
		for r := range rows {
			if r > 0 {
				b.WriteByte(',')
			}
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
