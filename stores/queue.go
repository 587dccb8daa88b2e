package stores

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// MaxAttempts: a row whose lease expired this many times is marked failed
// instead of returning to pending.
const MaxAttempts = 5

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func scanQueue(s interface{ Scan(...any) error }) (QueueRow, error) {
	var q QueueRow
	err := s.Scan(&q.ID, &q.IdempotencyKey, &q.RunID, &q.CustomerID, &q.Campaign, dbTime{&q.AsOf},
		&q.Priority, &q.Status, dbString{&q.SuppressionReason}, &q.Treatment, dbTime{&q.NotBefore}, dbTime{&q.ExpiresAt},
		dbString{&q.ClaimedBy}, dbTime{&q.ClaimedAt}, dbTime{&q.LeaseUntil}, &q.Attempts, dbString{&q.Outcome},
		dbFloat{&q.OutcomeValue}, dbTime{&q.OutcomeAt}, dbTime{&q.CreatedAt}, dbTime{&q.UpdatedAt})
	if q.OutcomeValue != q.OutcomeValue { // NaN: no value recorded
		q.OutcomeValue = 0
	}
	return q, err
}

func collectQueue(rs *sql.Rows, err error) ([]QueueRow, error) {
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := []QueueRow{}
	for rs.Next() {
		q, err := scanQueue(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rs.Err()
}

func (db *DB) queueRows(ctx context.Context, qr querier, tail string, args ...any) ([]QueueRow, error) {
	out, err := collectQueue(qr.QueryContext(ctx, `SELECT `+strings.Join(queueCols, ", ")+` FROM intervention_queue `+tail, args...))
	if err != nil {
		return nil, fmt.Errorf("%s: reading intervention_queue: %w", db.label, err)
	}
	return out, nil
}

// QueueRows returns queue rows of one as-of date (zero: all), for exports and tests.
func (db *DB) QueueRows(ctx context.Context, asOf time.Time) ([]QueueRow, error) {
	if asOf.IsZero() {
		return db.queueRows(ctx, db.r, `ORDER BY id`)
	}
	return db.queueRows(ctx, db.r, `WHERE as_of = $1 ORDER BY id`, db.date(asOf))
}

// ClaimRequest asks for up to N pending treated rows of a campaign.
type ClaimRequest struct {
	Campaign string
	N        int
	Lease    time.Duration
	Claimer  string // who claims (the token's name); acks must come from the same claimer
}

// Validate checks the request; messages name the field.
func (r *ClaimRequest) Validate() error {
	if r.Campaign == "" {
		return badInput("campaign: missing")
	}
	if r.N < 1 || r.N > 10000 {
		return badInput("n: %d is not between 1 and 10000", r.N)
	}
	if r.Lease < time.Second || r.Lease > 24*time.Hour {
		return badInput("lease_seconds: %g is not between 1 and 86400", r.Lease.Seconds())
	}
	if r.Claimer == "" {
		return badInput("claimer: missing")
	}
	return nil
}

// Claim hands out up to N pending treated rows of the campaign, highest
// priority first, and leases them until now+Lease. Control rows are never
// handed out. On Postgres concurrent claimers skip each other's rows (FOR
// UPDATE SKIP LOCKED); on SQLite claims run in the single writer's
// transaction. Leases that ran out are returned to pending first.
func (db *DB) Claim(ctx context.Context, req ClaimRequest) ([]QueueRow, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if _, _, err := db.Reap(ctx); err != nil {
		return nil, err
	}
	now := db.now().UTC()
	pick := `SELECT id FROM intervention_queue WHERE status = 'pending' AND treatment = 'treatment' AND campaign = $1
	 AND not_before <= $2 AND expires_at > $2 ORDER BY priority DESC, id LIMIT $3`
	if db.dialect == Postgres {
		pick += ` FOR UPDATE SKIP LOCKED`
	}
	q := `UPDATE intervention_queue SET status = 'claimed', claimed_by = $4, claimed_at = $2, lease_until = $5,
	 attempts = attempts + 1, updated_at = $2 WHERE id IN (` + pick + `) RETURNING ` + strings.Join(queueCols, ", ")
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: claim: %w", db.label, err)
	}
	defer tx.Rollback()
	out, err := collectQueue(tx.QueryContext(ctx, q, req.Campaign, db.ts(now), req.N, req.Claimer, db.ts(now.Add(req.Lease))))
	if err != nil {
		return nil, fmt.Errorf("%s: claim: %w", db.label, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("%s: claim: %w", db.label, err)
	}
	slices.SortFunc(out, func(a, b QueueRow) int {
		if a.Priority != b.Priority {
			if a.Priority > b.Priority {
				return -1
			}
			return 1
		}
		return int(a.ID - b.ID)
	})
	return out, nil
}

// Reap returns rows whose lease ran out to pending (or marks them failed
// after MaxAttempts) and expires pending rows past their expiry.
func (db *DB) Reap(ctx context.Context) (returned, expired int, err error) {
	now := db.ts(db.now().UTC())
	lost := `SELECT id FROM intervention_queue WHERE status = 'claimed' AND lease_until < $1`
	if db.dialect == Postgres {
		lost += ` FOR UPDATE SKIP LOCKED`
	}
	res, err := db.w.ExecContext(ctx, `UPDATE intervention_queue SET status = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'pending' END,
	 lease_until = NULL, updated_at = $1 WHERE id IN (`+lost+`)`, now, MaxAttempts)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: returning lost leases: %w", db.label, err)
	}
	n, _ := res.RowsAffected()
	old := `SELECT id FROM intervention_queue WHERE status = 'pending' AND expires_at <= $1`
	if db.dialect == Postgres {
		old += ` FOR UPDATE SKIP LOCKED`
	}
	res, err = db.w.ExecContext(ctx, `UPDATE intervention_queue SET status = 'expired', updated_at = $1 WHERE id IN (`+old+`)`, now)
	if err != nil {
		return int(n), 0, fmt.Errorf("%s: expiring rows: %w", db.label, err)
	}
	e, _ := res.RowsAffected()
	return int(n), int(e), nil
}

// Ack records the end of a claimed row: status done or failed, with an
// optional outcome. Only the claimer holding the row may acknowledge it.
func (db *DB) Ack(ctx context.Context, id int64, claimer, status, outcome string) (QueueRow, error) {
	if status == "" {
		status = StatusDone
	}
	if status != StatusDone && status != StatusFailed {
		return QueueRow{}, badInput("status: %q is not done or failed", status)
	}
	if len(outcome) > 200 {
		return QueueRow{}, badInput("outcome: longer than 200 characters")
	}
	now := db.ts(db.now().UTC())
	rows, err := db.queueRowsTx(ctx, `UPDATE intervention_queue SET status = $1, outcome = NULLIF($2, ''), outcome_at = CASE WHEN $2 = '' THEN outcome_at ELSE $3 END,
	 lease_until = NULL, updated_at = $3 WHERE id = $4 AND status = 'claimed' AND claimed_by = $5 RETURNING `+strings.Join(queueCols, ", "),
		status, outcome, now, id, claimer)
	if err != nil {
		return QueueRow{}, err
	}
	if len(rows) == 1 {
		return rows[0], nil
	}
	cur, err := db.queueRows(ctx, db.r, `WHERE id = $1`, id)
	if err != nil {
		return QueueRow{}, err
	}
	if len(cur) == 0 {
		return QueueRow{}, ErrNotFound
	}
	return cur[0], fmt.Errorf("%w: row %d is %s (claimed by %q), not claimed by %q", ErrConflict, id, cur[0].Status, cur[0].ClaimedBy, claimer)
}

func (db *DB) queueRowsTx(ctx context.Context, q string, args ...any) ([]QueueRow, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", db.label, err)
	}
	defer tx.Rollback()
	out, err := collectQueue(tx.QueryContext(ctx, q, args...))
	if err != nil {
		return nil, fmt.Errorf("%s: updating intervention_queue: %w", db.label, err)
	}
	return out, tx.Commit()
}

// Outcome is a result for a queue row, treated or control: found by its id,
// its idempotency key, or customer + campaign + as-of date.
type Outcome struct {
	ID             int64    `json:"id,omitempty"`
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
	CustomerID     string   `json:"customer_id,omitempty"`
	Campaign       string   `json:"campaign,omitempty"`
	AsOf           string   `json:"as_of,omitempty"` // YYYY-MM-DD
	Outcome        string   `json:"outcome"`
	Value          *float64 `json:"value,omitempty"`
}

func (o *Outcome) key() (string, error) {
	if o.Outcome == "" || len(o.Outcome) > 200 {
		return "", badInput("outcome: missing or longer than 200 characters")
	}
	if o.IdempotencyKey != "" || o.ID != 0 {
		return o.IdempotencyKey, nil
	}
	d, err := time.Parse(time.DateOnly, o.AsOf)
	if err != nil || o.CustomerID == "" || o.Campaign == "" {
		return "", badInput("an outcome needs id, idempotency_key, or customer_id + campaign + as_of (YYYY-MM-DD)")
	}
	return IdempotencyKey(o.CustomerID, o.Campaign, d), nil
}

// RecordOutcomes stores results (converted, churned, revenue…) on their queue
// rows, control rows included, so lift = treated vs control outcomes. All or
// nothing: an unknown row fails the batch with ErrNotFound naming it.
func (db *DB) RecordOutcomes(ctx context.Context, outs []Outcome) (int, error) {
	keys := make([]string, len(outs))
	for i := range outs {
		k, err := outs[i].key()
		if err != nil {
			return 0, fmt.Errorf("outcomes[%d]: %w", i, err)
		}
		keys[i] = k
	}
	now := db.ts(db.now().UTC())
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", db.label, err)
	}
	defer tx.Rollback()
	for i := range outs {
		o := &outs[i]
		var v any
		if o.Value != nil {
			v = *o.Value
		}
		var res sql.Result
		if o.ID != 0 {
			res, err = tx.ExecContext(ctx, `UPDATE intervention_queue SET outcome = $1, outcome_value = $2, outcome_at = $3, updated_at = $3 WHERE id = $4`, o.Outcome, v, now, o.ID)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE intervention_queue SET outcome = $1, outcome_value = $2, outcome_at = $3, updated_at = $3 WHERE idempotency_key = $4`, o.Outcome, v, now, keys[i])
		}
		if err != nil {
			return 0, fmt.Errorf("%s: outcomes[%d]: %w", db.label, i, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return 0, fmt.Errorf("outcomes[%d] (%s): %w", i, cmpOr(keys[i], fmt.Sprint(o.ID)), ErrNotFound)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("%s: outcomes: %w", db.label, err)
	}
	return len(outs), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// IsBadInput reports whether err is bad input (400 / exit 2).
func IsBadInput(err error) bool {
	var b interface{ BadInput() bool }
	return errors.As(err, &b) && b.BadInput()
}
