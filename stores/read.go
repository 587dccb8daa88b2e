package stores

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrNotFound is returned when the asked-for row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a row is not in a state that allows the change
// (e.g. acknowledging a row whose lease was lost).
var ErrConflict = errors.New("conflict")

// PublishInfo is one row of the publish history.
type PublishInfo struct {
	ID            int64     `json:"id"`
	RunID         string    `json:"run_id"`
	AsOf          time.Time `json:"as_of"`
	ModelVersion  string    `json:"model_version"`
	ContentHash   string    `json:"content_hash"`
	RiskRows      int       `json:"risk_rows"`
	QueueRows     int       `json:"queue_rows"`
	QueueInserted int       `json:"queue_inserted"`
	PublishedAt   time.Time `json:"published_at"`
	Current       bool      `json:"current"`
}

const publishCols = `id, run_id, as_of, model_version, content_hash, risk_rows, queue_rows, queue_inserted, published_at, is_current`

func scanPublish(s interface{ Scan(...any) error }) (PublishInfo, error) {
	var p PublishInfo
	err := s.Scan(&p.ID, &p.RunID, dbTime{&p.AsOf}, &p.ModelVersion, &p.ContentHash, &p.RiskRows, &p.QueueRows, &p.QueueInserted, dbTime{&p.PublishedAt}, dbBool{&p.Current})
	return p, err
}

// CurrentPublish returns the publish whose list is in risk_current (nil before the first).
func (db *DB) CurrentPublish(ctx context.Context) (*PublishInfo, error) {
	p, err := scanPublish(db.r.QueryRowContext(ctx, `SELECT `+publishCols+` FROM publishes WHERE is_current = $1 ORDER BY id DESC LIMIT 1`, db.boolean(true)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading publishes: %w", db.label, err)
	}
	return &p, nil
}

// Publishes lists the latest publishes, newest first.
func (db *DB) Publishes(ctx context.Context, limit int) ([]PublishInfo, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+publishCols+` FROM publishes ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: reading publishes: %w", db.label, err)
	}
	defer rows.Close()
	var out []PublishInfo
	for rows.Next() {
		p, err := scanPublish(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: reading publishes: %w", db.label, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RiskRecord is a stored risk row with its sync columns.
type RiskRecord struct {
	RiskRow
	RowHash   string    `json:"row_hash"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// RawReasons is the stored JSON of Reasons when they were not decoded
	// (risk-list pages pass it through untouched).
	RawReasons string `json:"-"`
}

func scanRisk(s interface{ Scan(...any) error }, withUpdated bool) (RiskRecord, error) {
	return scanRiskRaw(s, withUpdated, false)
}

func scanRiskRaw(s interface{ Scan(...any) error }, withUpdated, raw bool) (RiskRecord, error) {
	var r RiskRecord
	var reasons string
	dst := []any{&r.CustomerID, dbTime{&r.AsOf}, dbTime{&r.ScoredAt}, &r.RunID, &r.ModelVersion,
		&r.ChurnProbability, &r.RiskTier, &r.ChurnPercentile, dbFloat{&r.PAlive}, dbFloat{&r.ExpectedPurchases},
		dbFloat{&r.PredictedCLV}, dbFloat{&r.HistoricCLV}, dbFloat{&r.ValueAtRisk}, dbTime{&r.ExpectedNextOrder},
		&reasons, &r.Segment, &r.ValueRiskCell, dbBool{&r.ControlGroup}, &r.RowHash}
	if withUpdated {
		dst = append(dst, dbTime{&r.UpdatedAt})
	}
	if err := s.Scan(dst...); err != nil {
		return r, err
	}
	if raw {
		r.RawReasons = reasons
		return r, nil
	}
	if reasons != "" && reasons != "[]" {
		if err := json.Unmarshal([]byte(reasons), &r.Reasons); err != nil {
			return r, fmt.Errorf("customer %s: reasons: %w", r.CustomerID, err)
		}
	}
	return r, nil
}

// RiskQuery selects a page of the risk list. The list is ordered by
// customer_id (the stable key); Cursor continues a previous page.
type RiskQuery struct {
	Tier     string  // "", high, medium or low
	Segment  string  // "" or a segment name
	MinValue float64 // least value at risk (0 = no filter)
	Limit    int     // 1..10000 (default 100)
	Cursor   string  // opaque, from RiskPage.NextCursor
}

// RiskPage is one page of the risk list. Every page of one walk comes from
// the same published list: when a new list is published mid-walk, the
// remaining pages are read from risk_history at the walk's as-of date and
// model version, so each customer is returned exactly once.
type RiskPage struct {
	Rows         []RiskRecord `json:"rows"`
	HasMore      bool         `json:"has_more"`
	NextCursor   string       `json:"next_cursor,omitempty"`
	RunID        string       `json:"run_id"`
	AsOf         string       `json:"as_of"`
	ModelVersion string       `json:"model_version"`
}

type cursor struct {
	Run   string `json:"r"`
	AsOf  string `json:"a"`
	Model string `json:"m"`
	After string `json:"k"`
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err == nil {
		_, err = time.Parse(time.DateOnly, c.AsOf)
	}
	if err != nil || c.After == "" {
		return c, badInput("cursor: not a cursor this API returned")
	}
	return c, nil
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Tiers lists the valid risk tiers.
var Tiers = []string{TierHigh, TierMedium, TierLow}

// Validate checks the filters; messages name the parameter.
func (q *RiskQuery) Validate() error {
	if q.Tier != "" && q.Tier != TierHigh && q.Tier != TierMedium && q.Tier != TierLow {
		return badInput("tier: %q is not high, medium or low", q.Tier)
	}
	if len(q.Segment) > 64 {
		return badInput("segment: longer than 64 characters")
	}
	if math.IsNaN(q.MinValue) || math.IsInf(q.MinValue, 0) || q.MinValue < 0 {
		return badInput("min_value: %g is not a non-negative number", q.MinValue)
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > 10000 {
		return badInput("limit: %d is not between 1 and 10000", q.Limit)
	}
	if q.Cursor != "" {
		if _, err := decodeCursor(q.Cursor); err != nil {
			return err
		}
	}
	return nil
}

// RiskPage returns one page of the current risk list.
func (db *DB) RiskPage(ctx context.Context, q RiskQuery) (RiskPage, error) {
	if err := q.Validate(); err != nil {
		return RiskPage{}, err
	}
	var pin cursor
	if q.Cursor != "" {
		pin, _ = decodeCursor(q.Cursor)
	}
	rows, err := db.riskRows(ctx, q, pin.After, nil)
	if err != nil {
		return RiskPage{}, err
	}
	switch {
	case pin.Run == "" && len(rows) > 0:
		pin = cursor{Run: rows[0].RunID, AsOf: dateString(rows[0].AsOf), Model: rows[0].ModelVersion}
	case pin.Run == "":
		cur, err := db.CurrentPublish(ctx)
		if err != nil || cur == nil {
			return RiskPage{Rows: []RiskRecord{}}, err
		}
		pin = cursor{Run: cur.RunID, AsOf: dateString(cur.AsOf), Model: cur.ModelVersion}
	case len(rows) > 0 && rows[0].RunID == pin.Run:
	default:
		// a new list was published since this walk began (or this page is
		// empty and the current list may be another): read the walk's list
		moved := len(rows) > 0
		if !moved {
			cur, err := db.CurrentPublish(ctx)
			if err != nil {
				return RiskPage{}, err
			}
			moved = cur != nil && cur.RunID != pin.Run
		}
		if moved {
			if rows, err = db.riskRows(ctx, q, pin.After, &pin); err != nil {
				return RiskPage{}, err
			}
		}
	}
	page := RiskPage{Rows: rows, RunID: pin.Run, AsOf: pin.AsOf, ModelVersion: pin.Model}
	if len(rows) > q.Limit {
		page.Rows, page.HasMore = rows[:q.Limit], true
		next := pin
		next.After = page.Rows[q.Limit-1].CustomerID
		page.NextCursor = next.encode()
	}
	return page, nil
}

// riskRows reads limit+1 rows after `after` from risk_current, or from
// risk_history for the pinned list.
func (db *DB) riskRows(ctx context.Context, q RiskQuery, after string, hist *cursor) ([]RiskRecord, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	table, cols := "risk_current", strings.Join(riskCols, ", ")+", updated_at"
	if hist != nil {
		asOf, _ := time.Parse(time.DateOnly, hist.AsOf)
		table, cols = "risk_history", strings.Join(riskCols, ", ")
		where = append(where, "as_of = "+arg(db.date(asOf)), "model_version = "+arg(hist.Model))
	}
	if after != "" {
		where = append(where, "customer_id > "+arg(after))
	}
	if q.Tier != "" {
		where = append(where, "risk_tier = "+arg(q.Tier))
	}
	if q.Segment != "" {
		where = append(where, "segment = "+arg(q.Segment))
	}
	if q.MinValue > 0 {
		where = append(where, "value_at_risk >= "+arg(q.MinValue))
	}
	s := "SELECT " + cols + " FROM " + table
	if len(where) > 0 {
		s += " WHERE " + strings.Join(where, " AND ")
	}
	s += " ORDER BY customer_id LIMIT " + arg(q.Limit+1)
	rs, err := db.r.QueryContext(ctx, s, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", db.label, table, err)
	}
	defer rs.Close()
	out := make([]RiskRecord, 0, q.Limit+1)
	for rs.Next() {
		r, err := scanRiskRaw(rs, hist == nil, true)
		if err != nil {
			return nil, fmt.Errorf("%s: reading %s: %w", db.label, table, err)
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// CustomerDetail is everything the store holds about one customer.
type CustomerDetail struct {
	Current *RiskRecord  `json:"current"`
	History []RiskRecord `json:"history"`
	Queue   []QueueRow   `json:"queue"`
}

// Customer returns the customer's current row, last 30 scores and last 50 queue rows.
func (db *DB) Customer(ctx context.Context, id string) (CustomerDetail, error) {
	var d CustomerDetail
	r, err := scanRisk(db.r.QueryRowContext(ctx, `SELECT `+strings.Join(riskCols, ", ")+`, updated_at FROM risk_current WHERE customer_id = $1`, id), true)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return d, fmt.Errorf("%s: reading customer: %w", db.label, err)
	default:
		d.Current = &r
	}
	rs, err := db.r.QueryContext(ctx, `SELECT `+strings.Join(riskCols, ", ")+` FROM risk_history WHERE customer_id = $1 ORDER BY as_of DESC, model_version LIMIT 30`, id)
	if err != nil {
		return d, fmt.Errorf("%s: reading customer history: %w", db.label, err)
	}
	d.History = []RiskRecord{}
	for rs.Next() {
		h, err := scanRisk(rs, false)
		if err != nil {
			rs.Close()
			return d, fmt.Errorf("%s: reading customer history: %w", db.label, err)
		}
		d.History = append(d.History, h)
	}
	rs.Close()
	if d.Queue, err = db.queueRows(ctx, db.r, `WHERE customer_id = $1 ORDER BY id DESC LIMIT 50`, id); err != nil {
		return d, err
	}
	if d.Current == nil && len(d.History) == 0 && len(d.Queue) == 0 {
		return d, ErrNotFound
	}
	return d, nil
}

// TopAtRisk returns the n rows of risk_current with the most value at risk
// (churn probability when value is unknown).
func (db *DB) TopAtRisk(ctx context.Context, n int) ([]RiskRecord, error) {
	rs, err := db.r.QueryContext(ctx, `SELECT `+strings.Join(riskCols, ", ")+`, updated_at FROM risk_current
	 ORDER BY COALESCE(value_at_risk, -1) DESC, churn_probability DESC, customer_id LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("%s: reading risk_current: %w", db.label, err)
	}
	defer rs.Close()
	var out []RiskRecord
	for rs.Next() {
		r, err := scanRisk(rs, true)
		if err != nil {
			return nil, fmt.Errorf("%s: reading risk_current: %w", db.label, err)
		}
		out = append(out, r)
	}
	return out, rs.Err()
}
