package stores

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// publishLock is the advisory lock key serialising publishes on Postgres.
const publishLock = 0x72657461696e // "retain"

// publishPostgres writes one publish in one transaction:
//
//   - a night's first publish COPYs the list straight into risk_history and
//     its queue rows straight into intervention_queue (no staging, no
//     conflict handling: nothing of that night can conflict); a night
//     published again goes through temporary staging tables and upserts
//     (history rows rewritten where the hash changed, queue rows ON
//     CONFLICT DO NOTHING);
//   - the next risk_current is built as a new table beside the live one
//     (keeping updated_at where the row hash is unchanged) and gets its
//     primary key after the load;
//   - the tables are swapped by renames at the very end, so the ACCESS
//     EXCLUSIVE lock a rename takes is held only from the swap to the commit;
//     readers queued on the old table then read the new one. The old table
//     is dropped after the commit.
func (db *DB) publishPostgres(ctx context.Context, risk []RiskRow, plan *queuePlan, m listMeta, now time.Time, clk *stepClock) (inserted int, skipped bool, err error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	c := db.rowConsts(m, now)
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		for _, s := range []string{
			`SET LOCAL work_mem = '256MB'`,             // the join with the old list hashes in memory
			`SET LOCAL maintenance_work_mem = '512MB'`, // the primary key is sorted in memory
			`SET LOCAL enable_nestloop = off`,          // history stats lag a fresh COPY: never 1M index probes
		} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
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
		if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS risk_current_next, risk_current_prev`); err != nil {
			return fmt.Errorf("dropping leftovers of an earlier publish: %w", err)
		}
		clk.mark("begin, lock")

		// history, and the source of the next risk_current
		var again bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM risk_history WHERE as_of = $1 AND model_version = $2)`, c.asOf, m.modelVersion).Scan(&again); err != nil {
			return fmt.Errorf("risk_history: %w", err)
		}
		riskSrc := func() pgx.CopyFromSource {
			buf := make([]any, 0, len(riskCols)+1)
			i := 0
			return pgx.CopyFromFunc(func() ([]any, error) {
				if i == len(risk) {
					return nil, nil
				}
				buf = db.riskArgs(&risk[i], c, m.reasons[i], m.rowHash[i], nil, buf[:0])
				i++
				return buf[:len(riskCols)], nil
			})
		}
		cols := strings.Join(riskCols, ", ")
		src := `(SELECT ` + cols + ` FROM risk_history WHERE as_of = $1 AND model_version = $2)`
		args := []any{c.asOf, m.modelVersion}
		if !again {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"risk_history"}, riskCols, riskSrc()); err != nil {
				return fmt.Errorf("COPY risk_history: %w", err)
			}
			clk.mark("COPY risk_history")
		} else {
			if _, err := tx.Exec(ctx, `CREATE TEMP TABLE risk_stage ON COMMIT DROP AS SELECT `+cols+` FROM risk_history WITH NO DATA`); err != nil {
				return fmt.Errorf("risk_stage: %w", err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"risk_stage"}, riskCols, riskSrc()); err != nil {
				return fmt.Errorf("COPY risk_stage: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO risk_history (`+cols+`) SELECT `+cols+` FROM risk_stage`+historyUpsert()); err != nil {
				return fmt.Errorf("risk_history: %w", err)
			}
			src, args = `risk_stage`, nil
			clk.mark("COPY stage, upsert risk_history")
		}

		// the next risk_current, beside the live one
		sel := make([]string, len(riskCols))
		for k, col := range riskCols {
			sel[k] = "s." + col
		}
		for _, st := range []struct {
			q    string
			args []any
		}{
			{`CREATE TABLE risk_current_next (LIKE risk_current INCLUDING DEFAULTS)`, nil},
			{`INSERT INTO risk_current_next (` + cols + `, updated_at) SELECT ` + strings.Join(sel, ", ") + `,
			 CASE WHEN o.row_hash = s.row_hash THEN o.updated_at ELSE $` + fmt.Sprint(len(args)+1) + `::timestamptz END
			 FROM ` + src + ` s LEFT JOIN risk_current o ON o.customer_id = s.customer_id`, append(args, c.now)},
			{`ALTER TABLE risk_current_next ADD CONSTRAINT risk_current_next_pkey PRIMARY KEY (customer_id)`, nil},
		} {
			if _, err := tx.Exec(ctx, st.q, st.args...); err != nil {
				return fmt.Errorf("%s: %w", firstLine(st.q), err)
			}
		}
		clk.mark("build risk_current_next")

		if queue := plan.wait(clk); len(queue) > 0 {
			qc := queueCols[1:]
			qbuf := make([]any, 0, len(qc))
			qorder := byKey(queue)
			j := 0
			qsrc := pgx.CopyFromFunc(func() ([]any, error) {
				if j == len(queue) {
					return nil, nil
				}
				qbuf = db.queueArgs(&queue[qorder[j]], c, qbuf[:0])
				j++
				return qbuf, nil
			})
			// queue rows are only written by publishes, in the publish's
			// transaction: no earlier publish of this night, no queue row of it
			var nightSeen bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM publishes WHERE as_of = $1)`, c.asOf).Scan(&nightSeen); err != nil {
				return fmt.Errorf("publishes: %w", err)
			}
			if !nightSeen {
				n, err := tx.CopyFrom(ctx, pgx.Identifier{"intervention_queue"}, qc, qsrc)
				if err != nil {
					return fmt.Errorf("COPY intervention_queue: %w", err)
				}
				inserted = int(n)
				clk.mark("COPY intervention_queue")
			} else {
				if _, err := tx.Exec(ctx, `CREATE TEMP TABLE queue_stage ON COMMIT DROP AS SELECT `+strings.Join(qc, ", ")+` FROM intervention_queue WITH NO DATA`); err != nil {
					return fmt.Errorf("queue_stage: %w", err)
				}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"queue_stage"}, qc, qsrc); err != nil {
					return fmt.Errorf("COPY queue_stage: %w", err)
				}
				tag, err := tx.Exec(ctx, `INSERT INTO intervention_queue (`+strings.Join(qc, ", ")+`) SELECT `+strings.Join(qc, ", ")+` FROM queue_stage ON CONFLICT (idempotency_key) DO NOTHING`)
				if err != nil {
					return fmt.Errorf("intervention_queue: %w", err)
				}
				inserted = int(tag.RowsAffected())
				clk.mark("COPY stage, insert intervention_queue")
			}
		}
		if err := db.finishPublish(ctx, pgxExec{tx}, m, len(risk), len(plan.rows), inserted, now); err != nil {
			return err
		}
		clk.mark("expire earlier nights, record publish")
		for _, s := range []string{
			`ALTER TABLE risk_current RENAME TO risk_current_prev`,
			`ALTER TABLE risk_current_prev RENAME CONSTRAINT risk_current_pkey TO risk_current_prev_pkey`,
			`ALTER TABLE risk_current_next RENAME TO risk_current`,
			`ALTER TABLE risk_current RENAME CONSTRAINT risk_current_next_pkey TO risk_current_pkey`,
		} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("swapping in the new risk_current: %s: %w", s, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		clk.mark("swap, commit")
		// outside the swap: readers never wait for the old table's files to go.
		// A failure leaves risk_current_prev for the next publish to drop.
		if _, err := pc.Exec(ctx, `DROP TABLE IF EXISTS risk_current_prev`); err == nil {
			clk.mark("drop previous risk_current")
		}
		return nil
	})
	return inserted, skipped, err
}
