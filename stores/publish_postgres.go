package stores

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// publishLock is the advisory lock key serialising publishes on Postgres.
const publishLock = 0x72657461696e // "retain"

// publishPostgres writes one publish. The main transaction (this
// connection) holds the publish lock and writes risk_history and the queue;
// a second connection builds the next risk_current beside the live one at
// the same time; the main transaction swaps it in and commits:
//
//   - a night's first publish COPYs the list straight into risk_history and
//     its queue rows straight into intervention_queue (no staging, no
//     conflict handling: nothing of that night can conflict); a night
//     published again goes through temporary staging tables and upserts
//     (history rows rewritten where the hash changed, queue rows ON
//     CONFLICT DO NOTHING);
//   - the second connection, once the lock is held, reads the live list's
//     row hashes, COPYs the new list with its updated_at (kept where the
//     hash is unchanged) into a new table risk_current_next, adds its
//     primary key and commits. Nobody reads that name; a publish that fails
//     later leaves it behind for the next publish to drop;
//   - the tables are swapped by renames at the very end of the main
//     transaction, so the ACCESS EXCLUSIVE lock a rename takes is held only
//     from the swap to the commit; readers queued on the old table then read
//     the new one. The old table is dropped after the commit.
//
// Rows go over binary COPY encoded straight from the rows (pgcopy.go).
func (db *DB) publishPostgres(ctx context.Context, risk []RiskRow, plan *queuePlan, m listMeta, now time.Time, clk *stepClock) (inserted int, skipped bool, err error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	k := newPgConsts(m, now)
	// a failure of the second connection cancels the main transaction's work
	actx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(actx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		for _, s := range []string{
			`SET LOCAL work_mem = '256MB'`,    // the upsert of a night published again hashes in memory
			`SET LOCAL enable_nestloop = off`, // history stats lag a fresh COPY: never 1M index probes
		} {
			if _, err := tx.Exec(actx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		if _, err := tx.Exec(actx, `SELECT pg_advisory_xact_lock($1)`, int64(publishLock)); err != nil {
			return err
		}
		var h string
		switch err := tx.QueryRow(actx, `SELECT content_hash FROM publishes WHERE is_current`).Scan(&h); {
		case err == nil && h == m.hash:
			skipped = true
			return nil
		case err != nil && err != pgx.ErrNoRows:
			return err
		}
		if _, err := tx.Exec(actx, `DROP TABLE IF EXISTS risk_current_prev`); err != nil {
			return fmt.Errorf("dropping leftovers of an earlier publish: %w", err)
		}
		clk.mark("begin, lock")

		// the next risk_current, on a second connection while this one loads
		// history and queue (we hold the lock: no other publish swaps tables)
		nextDone := make(chan error, 1)
		var nextSecs float64
		go func() {
			t0 := time.Now()
			err := db.buildNextPostgres(actx, risk, m, k)
			nextSecs = time.Since(t0).Seconds()
			if err != nil {
				abort(err)
			}
			nextDone <- err
		}()
		waited := false
		defer func() {
			if !waited {
				abort(nil)
				<-nextDone
			}
		}()

		// history
		var again bool
		if err := tx.QueryRow(actx, `SELECT EXISTS (SELECT 1 FROM risk_history WHERE as_of = $1 AND model_version = $2)`, k.asOfTime, m.modelVersion).Scan(&again); err != nil {
			return fmt.Errorf("risk_history: %w", err)
		}
		cols := strings.Join(riskCols, ", ")
		riskSrc := func() *copyReader {
			i := 0
			return newCopyReader(func(b []byte) ([]byte, bool) {
				if i == len(risk) {
					return b, false
				}
				b = k.appendRisk(cpFields(b, len(riskCols)), &risk[i], m.reasons[i], m.rowHash[i])
				i++
				return b, true
			})
		}
		if !again {
			if _, err := tx.Conn().PgConn().CopyFrom(actx, riskSrc(), `COPY risk_history (`+cols+`) FROM STDIN (FORMAT binary)`); err != nil {
				return fmt.Errorf("COPY risk_history: %w", err)
			}
			clk.mark("COPY risk_history")
		} else {
			if _, err := tx.Exec(actx, `CREATE TEMP TABLE risk_stage ON COMMIT DROP AS SELECT `+cols+` FROM risk_history WITH NO DATA`); err != nil {
				return fmt.Errorf("risk_stage: %w", err)
			}
			if _, err := tx.Conn().PgConn().CopyFrom(actx, riskSrc(), `COPY risk_stage (`+cols+`) FROM STDIN (FORMAT binary)`); err != nil {
				return fmt.Errorf("COPY risk_stage: %w", err)
			}
			if _, err := tx.Exec(actx, `INSERT INTO risk_history (`+cols+`) SELECT `+cols+` FROM risk_stage`+historyUpsert()); err != nil {
				return fmt.Errorf("risk_history: %w", err)
			}
			clk.mark("COPY stage, upsert risk_history")
		}

		if queue, qorder := plan.wait(clk); len(queue) > 0 {
			qc := strings.Join(queueCols[1:], ", ")
			j := 0
			qsrc := newCopyReader(func(b []byte) ([]byte, bool) {
				if j == len(queue) {
					return b, false
				}
				b = appendQueueCopy(b, &queue[qorder[j]])
				j++
				return b, true
			})
			// queue rows are only written by publishes, in the publish's
			// transaction: no earlier publish of this night, no queue row of it
			var nightSeen bool
			if err := tx.QueryRow(actx, `SELECT EXISTS (SELECT 1 FROM publishes WHERE as_of = $1)`, k.asOfTime).Scan(&nightSeen); err != nil {
				return fmt.Errorf("publishes: %w", err)
			}
			if !nightSeen {
				tag, err := tx.Conn().PgConn().CopyFrom(actx, qsrc, `COPY intervention_queue (`+qc+`) FROM STDIN (FORMAT binary)`)
				if err != nil {
					return fmt.Errorf("COPY intervention_queue: %w", err)
				}
				inserted = int(tag.RowsAffected())
				clk.mark("COPY intervention_queue")
			} else {
				if _, err := tx.Exec(actx, `CREATE TEMP TABLE queue_stage ON COMMIT DROP AS SELECT `+qc+` FROM intervention_queue WITH NO DATA`); err != nil {
					return fmt.Errorf("queue_stage: %w", err)
				}
				if _, err := tx.Conn().PgConn().CopyFrom(actx, qsrc, `COPY queue_stage (`+qc+`) FROM STDIN (FORMAT binary)`); err != nil {
					return fmt.Errorf("COPY queue_stage: %w", err)
				}
				tag, err := tx.Exec(actx, `INSERT INTO intervention_queue (`+qc+`) SELECT `+qc+` FROM queue_stage ON CONFLICT (idempotency_key) DO NOTHING`)
				if err != nil {
					return fmt.Errorf("intervention_queue: %w", err)
				}
				inserted = int(tag.RowsAffected())
				clk.mark("COPY stage, insert intervention_queue")
			}
		}
		if err := db.finishPublish(actx, pgxExec{tx}, m, len(risk), len(plan.rows), inserted, now); err != nil {
			return err
		}
		clk.mark("expire earlier nights, record publish")
		waited = true
		if err := <-nextDone; err != nil {
			return fmt.Errorf("building risk_current_next: %w", err)
		}
		clk.mark("wait for risk_current_next")
		for _, s := range []string{
			`ALTER TABLE risk_current RENAME TO risk_current_prev`,
			`ALTER TABLE risk_current_prev RENAME CONSTRAINT risk_current_pkey TO risk_current_prev_pkey`,
			`ALTER TABLE risk_current_next RENAME TO risk_current`,
			`ALTER TABLE risk_current RENAME CONSTRAINT risk_current_next_pkey TO risk_current_pkey`,
		} {
			if _, err := tx.Exec(actx, s); err != nil {
				return fmt.Errorf("swapping in the new risk_current: %s: %w", s, err)
			}
		}
		if err := tx.Commit(actx); err != nil {
			return err
		}
		clk.mark("swap, commit")
		clk.steps = append(clk.steps, PublishStep{Name: "risk_current_next (second connection, overlapped)", Seconds: nextSecs})
		// outside the swap: readers never wait for the old table's files to go.
		// A failure leaves risk_current_prev for the next publish to drop.
		if _, err := pc.Exec(ctx, `DROP TABLE IF EXISTS risk_current_prev`); err == nil {
			clk.mark("drop previous risk_current")
		}
		return nil
	})
	if cause := context.Cause(actx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = fmt.Errorf("building risk_current_next: %w", cause)
	}
	return inserted, skipped, err
}

// buildNextPostgres creates risk_current_next on its own connection and
// commits it: the new list with updated_at kept where the row hash is
// unchanged, then its primary key. Called with the publish lock held by
// the caller's transaction.
func (db *DB) buildNextPostgres(ctx context.Context, risk []RiskRow, m listMeta, k *pgConsts) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		// a leftover of a publish that failed after building it
		if _, err := pc.Exec(ctx, `DROP TABLE IF EXISTS risk_current_next`); err != nil {
			return err
		}
		kept, err := keptUpdatedAtPG(ctx, pc, risk, m.rowHash)
		if err != nil {
			return fmt.Errorf("risk_current: reading row hashes: %w", err)
		}
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		for _, s := range []string{
			`SET LOCAL maintenance_work_mem = '512MB'`, // the primary key is sorted in memory
			`CREATE TABLE risk_current_next (LIKE risk_current INCLUDING DEFAULTS)`,
		} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		i := 0
		src := newCopyReader(func(b []byte) ([]byte, bool) {
			if i == len(risk) {
				return b, false
			}
			b = k.appendRisk(cpFields(b, len(riskCols)+1), &risk[i], m.reasons[i], m.rowHash[i])
			u := kept[i]
			if u == noKept {
				u = k.now
			}
			b = cpMicros(b, u)
			i++
			return b, true
		})
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, src, `COPY risk_current_next (`+strings.Join(riskCols, ", ")+`, updated_at) FROM STDIN (FORMAT binary)`); err != nil {
			return fmt.Errorf("COPY risk_current_next: %w", err)
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE risk_current_next ADD CONSTRAINT risk_current_next_pkey PRIMARY KEY (customer_id)`); err != nil {
			return fmt.Errorf("risk_current_next: primary key: %w", err)
		}
		return tx.Commit(ctx)
	})
}

// noKept marks a row whose updated_at moves to the publish time.
const noKept = math.MinInt64

// keptUpdatedAtPG returns, per row of risk, the live row's updated_at
// (TIMESTAMPTZ microseconds) where the customer's row hash is unchanged,
// else noKept.
func keptUpdatedAtPG(ctx context.Context, pc *pgx.Conn, risk []RiskRow, rowHash []string) ([]int64, error) {
	pos := make(map[string]int32, len(risk))
	for i := range risk {
		pos[risk[i].CustomerID] = int32(i)
	}
	kept := make([]int64, len(risk))
	for i := range kept {
		kept[i] = noKept
	}
	rows, err := pc.Query(ctx, `SELECT customer_id, row_hash, updated_at FROM risk_current`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fd := rows.FieldDescriptions()
	for rows.Next() {
		v := rows.RawValues()
		i, ok := pos[string(v[0])]
		if !ok || string(v[1]) != rowHash[i] {
			continue
		}
		if fd[2].Format == pgx.BinaryFormatCode && len(v[2]) == 8 {
			kept[i] = int64(binary.BigEndian.Uint64(v[2]))
			continue
		}
		var t time.Time
		if err := pc.TypeMap().Scan(fd[2].DataTypeOID, fd[2].Format, v[2], &t); err != nil {
			return nil, fmt.Errorf("updated_at: %w", err)
		}
		kept[i] = pgMicros(t)
	}
	return kept, rows.Err()
}

// pgConsts are the values every risk row of one publish shares, encoded once.
type pgConsts struct {
	asOfTime time.Time // the as-of date, a query parameter
	asOf     int32
	scoredAt time.Time
	now      int64
}

func newPgConsts(m listMeta, now time.Time) *pgConsts {
	return &pgConsts{asOfTime: m.asOf, asOf: pgDays(m.asOf), scoredAt: m.scoredAt, now: pgMicros(now)}
}

// appendRisk appends the riskCols fields of r (the caller writes the field count).
func (k *pgConsts) appendRisk(b []byte, r *RiskRow, reasons, hash string) []byte {
	b = cpText(b, r.CustomerID)
	b = cpDays(b, k.asOf)
	b = cpTime(b, k.scoredAt)
	b = cpText(b, r.RunID)
	b = cpText(b, r.ModelVersion)
	b = cpFloat(b, r.ChurnProbability)
	b = cpText(b, r.RiskTier)
	b = cpFloat(b, r.ChurnPercentile)
	b = cpFloatNull(b, r.PAlive)
	b = cpFloatNull(b, r.ExpectedPurchases)
	b = cpFloatNull(b, r.PredictedCLV)
	b = cpFloatNull(b, r.HistoricCLV)
	b = cpFloatNull(b, r.ValueAtRisk)
	b = cpDate(b, r.ExpectedNextOrder)
	b = cpText(b, reasons)
	b = cpText(b, r.Segment)
	b = cpText(b, r.ValueRiskCell)
	b = cpBool(b, r.ControlGroup)
	return cpText(b, hash)
}

// appendQueueCopy appends q as a tuple of queueCols without id.
func appendQueueCopy(b []byte, q *QueueRow) []byte {
	b = cpFields(b, len(queueCols)-1)
	b = cpText(b, q.IdempotencyKey)
	b = cpText(b, q.RunID)
	b = cpText(b, q.CustomerID)
	b = cpText(b, q.Campaign)
	b = cpDate(b, q.AsOf)
	b = cpFloat(b, q.Priority)
	b = cpText(b, q.Status)
	b = cpTextNull(b, q.SuppressionReason)
	b = cpText(b, q.Treatment)
	b = cpTime(b, q.NotBefore)
	b = cpTime(b, q.ExpiresAt)
	b = cpTextNull(b, q.ClaimedBy)
	b = cpTime(b, q.ClaimedAt)
	b = cpTime(b, q.LeaseUntil)
	b = cpInt4(b, int32(q.Attempts))
	b = cpTextNull(b, q.Outcome)
	b = cpNull(b) // outcome_value
	b = cpTime(b, q.OutcomeAt)
	b = cpTime(b, q.CreatedAt)
	return cpTime(b, q.UpdatedAt)
}
