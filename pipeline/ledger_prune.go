package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// retentionRun is what retention needs to know of one run in the ledger.
type retentionRun struct {
	RunID     string
	AsOf      string
	Kind      string
	Status    string
	StartedAt time.Time
	Pruned    bool
}

// retentionRuns lists every run of the ledger, newest as-of first (then
// newest start), with whether retention has removed its artifacts.
func (l *Ledger) retentionRuns(ctx context.Context) ([]retentionRun, error) {
	rows, err := l.conn.query(ctx, `SELECT r.run_id, r.as_of, r.kind, r.status, r.started_at, p.run_id IS NOT NULL
		FROM retain_runs r LEFT JOIN retain_run_prunes p ON p.run_id = r.run_id
		ORDER BY r.as_of DESC, r.started_at DESC, r.run_id DESC`)
	if err != nil {
		return nil, fmt.Errorf("ledger: listing runs for retention: %w", err)
	}
	defer rows.Close()
	var out []retentionRun
	for rows.Next() {
		var r retentionRun
		if err := rows.Scan(&r.RunID, &r.AsOf, &r.Kind, &r.Status, &r.StartedAt, &r.Pruned); err != nil {
			return nil, fmt.Errorf("ledger: listing runs for retention: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: listing runs for retention: %w", err)
	}
	return out, nil
}

// MarkPruned records that retention removed a run's artifacts (bytes of
// them). The run's own row is left as it was.
func (l *Ledger) MarkPruned(ctx context.Context, runID string, bytes int64, now time.Time) error {
	_, err := l.exec(ctx, `INSERT INTO retain_run_prunes (run_id, pruned_at, bytes) VALUES (?, ?, ?)
		ON CONFLICT (run_id) DO UPDATE SET pruned_at = excluded.pruned_at, bytes = excluded.bytes`, runID, now.UTC(), bytes)
	if err != nil {
		return fmt.Errorf("ledger: marking run %s pruned: %w", runID, err)
	}
	return nil
}

// Unprune forgets that a run was pruned (it is being run again from scratch).
func (l *Ledger) Unprune(ctx context.Context, runID string) error {
	if _, err := l.exec(ctx, `DELETE FROM retain_run_prunes WHERE run_id = ?`, runID); err != nil {
		return fmt.Errorf("ledger: unmarking run %s pruned: %w", runID, err)
	}
	return nil
}

// PrunedAt is when retention removed a run's artifacts (nil: it did not, or
// the ledger has no such run).
func (l *Ledger) PrunedAt(ctx context.Context, runID string) (*time.Time, error) {
	var t nullTime
	err := l.conn.queryRow(ctx, l.q(`SELECT pruned_at FROM retain_run_prunes WHERE run_id = ?`), runID).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: pruned state of %s: %w", runID, err)
	}
	return t.ptr(), nil
}
