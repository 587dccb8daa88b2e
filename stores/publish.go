package stores

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// PublishInput is one night's risk list and the policy that queues it.
type PublishInput struct {
	// Risk is the whole list; every row has the same as-of date, run,
	// model version and scoring time.
	Risk []RiskRow
	// Prepared, when set, is the list already checked and hashed (Prepare,
	// ReadRiskList); Risk is then ignored.
	Prepared *Prepared
	// Policy makes the queue rows (nil: no queue rows).
	Policy *Policy
	// OptedOut are customers never to contact (from policy.opted_out_file);
	// the store adds policy.opted_out_table itself.
	OptedOut map[string]bool
}

// Prepared is a risk list checked and hashed once: each row's reasons JSON
// and row hash, and the list's content hash. Publishing it to several stores
// and the files reuses that work. Its rows must not change afterwards.
type Prepared struct {
	Rows []RiskRow
	m    listMeta
}

// Prepare checks the list (one as-of date, run, model and scoring time, no
// empty customer_id) and computes each row's reasons JSON and hash.
func Prepare(rows []RiskRow) (*Prepared, error) {
	m, err := checkList(rows, nil)
	if err != nil {
		return nil, err
	}
	return &Prepared{Rows: rows, m: m}, nil
}

// PublishResult says what one store received.
type PublishResult struct {
	Store         string     `json:"store"`
	RiskRows      int        `json:"risk_rows"`
	QueueRows     int        `json:"queue_rows"`
	QueueInserted int        `json:"queue_inserted"`
	Skipped       bool       `json:"skipped"` // the same list was already the current one
	Seconds       float64    `json:"seconds"`
	Queue         []QueueRow `json:"-"` // the planned queue rows
	// Steps is where the time went, in order (hashing, planning, each SQL step).
	Steps []PublishStep `json:"steps,omitempty"`
	took  time.Duration // for logs
}

// PublishStep is the wall time of one step of a publish.
type PublishStep struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// stepClock records the wall time between marks.
type stepClock struct {
	last  time.Time
	steps []PublishStep
}

func newStepClock() *stepClock { return &stepClock{last: time.Now()} }

// mark closes the step that ran since the previous mark.
func (c *stepClock) mark(name string) {
	now := time.Now()
	c.steps = append(c.steps, PublishStep{Name: name, Seconds: now.Sub(c.last).Seconds()})
	c.last = now
}

// listMeta is what every row of a publish shares.
type listMeta struct {
	runID, modelVersion string
	asOf, scoredAt      time.Time
	hash                string
	rowHash, reasons    []string // per row, computed once
}

// checkList checks the rows and computes their row hashes and the content
// hash. reasons, when given, are the rows' reasons JSON as read from a file
// (not encoded again); else each row's ReasonsJSON.
func checkList(rows []RiskRow, reasons []string) (listMeta, error) {
	if len(rows) == 0 {
		return listMeta{}, badInput("publish: the risk list is empty")
	}
	m := listMeta{runID: rows[0].RunID, modelVersion: rows[0].ModelVersion, asOf: rows[0].AsOf.UTC().Truncate(24 * time.Hour), scoredAt: rows[0].ScoredAt}
	for i := range rows {
		r := &rows[i]
		if r.CustomerID == "" {
			return m, badInput("publish: risk row %d has no customer_id", i)
		}
		if r.RunID != m.runID || r.ModelVersion != m.modelVersion || !r.AsOf.Equal(rows[0].AsOf) || !r.ScoredAt.Equal(m.scoredAt) {
			return m, badInput("publish: risk row %d (customer %s) belongs to another run, as-of date or model than row 0", i, r.CustomerID)
		}
	}
	// reasons JSON and row hashes are independent per row: one chunk per core
	m.rowHash, m.reasons = make([]string, len(rows)), reasons
	if m.reasons == nil {
		m.reasons = make([]string, len(rows))
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, len(rows)/10000))
	per := (len(rows) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < len(rows); lo += per {
		hi := min(len(rows), lo+per)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				if reasons == nil {
					m.reasons[i] = rows[i].ReasonsJSON()
				}
				m.rowHash[i] = rows[i].hashWith(m.reasons[i])
			}
		})
	}
	wg.Wait()
	h := fnv.New128a()
	fmt.Fprintf(h, "%s|%s|", dateString(m.asOf), m.modelVersion)
	buf := make([]byte, 0, 64)
	for i := range rows {
		buf = append(buf[:0], m.rowHash[i]...)
		h.Write(buf)
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
	clk := newStepClock()
	var m listMeta
	if in.Prepared != nil {
		in.Risk, m = in.Prepared.Rows, in.Prepared.m
	} else {
		var err error
		if m, err = checkList(in.Risk, nil); err != nil {
			return PublishResult{Store: db.label, RiskRows: len(in.Risk)}, err
		}
		clk.mark("hash rows")
	}
	res := PublishResult{Store: db.label, RiskRows: len(in.Risk)}
	cur, err := db.CurrentPublish(ctx)
	if err != nil {
		return res, err
	}
	if cur != nil && cur.ContentHash == m.hash {
		res.Skipped = true
		res.Steps = clk.steps
		res.Seconds = time.Since(start).Seconds()
		return res, nil
	}
	now := db.now().UTC()
	// the queue is planned while the store loads the risk list (the plan
	// is a CPU pass in this process; the load is mostly the database's work)
	plan := &queuePlan{done: make(chan struct{})}
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
		go func() {
			defer close(plan.done)
			plan.rows = in.Policy.Plan(in.Risk, m.runID, m.asOf, now, opted, contacts)
			plan.order = byKey(plan.rows) // the insert order, off the load's path
		}()
	} else {
		close(plan.done)
	}
	if db.dialect == Postgres {
		res.QueueInserted, res.Skipped, err = db.publishPostgres(ctx, in.Risk, plan, m, now, clk)
	} else {
		res.QueueInserted, res.Skipped, err = db.publishSQLite(ctx, in.Risk, plan, m, now, clk)
	}
	<-plan.done
	res.Queue, res.QueueRows = plan.rows, len(plan.rows)
	res.Steps = clk.steps
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

// queuePlan is the queue rows, planned concurrently with the risk load, and
// their insert order (byKey).
type queuePlan struct {
	done  chan struct{}
	rows  []QueueRow
	order []int32
}

// wait returns the planned rows and their insert order, marking the time
// spent waiting for them.
func (p *queuePlan) wait(clk *stepClock) ([]QueueRow, []int32) {
	<-p.done
	clk.mark("wait for the queue plan")
	return p.rows, p.order
}

// rowConsts are the values every row of one publish shares, converted for
// the dialect once instead of once per row.
type rowConsts struct {
	asOfTime            time.Time
	asOf, scoredAt, now any
	memo                timeMemo
}

func (db *DB) rowConsts(m listMeta, now time.Time) *rowConsts {
	return &rowConsts{asOfTime: m.asOf, asOf: db.date(m.asOf), scoredAt: db.ts(m.scoredAt), now: db.ts(now)}
}

// timeMemo remembers the last converted timestamp: queue rows repeat a
// handful of times (publish time, expiry per campaign).
type timeMemo struct {
	t time.Time
	v any
}

func (db *DB) tsMemo(m *timeMemo, t time.Time) any {
	if m.v != nil && t.Equal(m.t) {
		return m.v
	}
	m.t, m.v = t, db.ts(t)
	return m.v
}

// riskArgs are the risk_current columns of row r (updated_at last).
func (db *DB) riskArgs(r *RiskRow, c *rowConsts, reasons, hash string, updated any, dst []any) []any {
	return append(dst, r.CustomerID, c.asOf, c.scoredAt, r.RunID, r.ModelVersion,
		r.ChurnProbability, r.RiskTier, r.ChurnPercentile, nullFloat(r.PAlive), nullFloat(r.ExpectedPurchases),
		nullFloat(r.PredictedCLV), nullFloat(r.HistoricCLV), nullFloat(r.ValueAtRisk), db.date(r.ExpectedNextOrder),
		reasons, r.Segment, r.ValueRiskCell, db.boolean(r.ControlGroup), hash, updated)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// queueArgs are the queue columns without id.
func (db *DB) queueArgs(q *QueueRow, c *rowConsts, dst []any) []any {
	ts := func(t time.Time) any { return db.tsMemo(&c.memo, t) }
	asOf := c.asOf
	if !q.AsOf.Equal(c.asOfTime) {
		asOf = db.date(q.AsOf)
	}
	return append(dst, q.IdempotencyKey, q.RunID, q.CustomerID, q.Campaign, asOf,
		q.Priority, q.Status, nullString(q.SuppressionReason), q.Treatment, ts(q.NotBefore), ts(q.ExpiresAt),
		nullString(q.ClaimedBy), db.ts(q.ClaimedAt), db.ts(q.LeaseUntil), q.Attempts, nullString(q.Outcome),
		nil, db.ts(q.OutcomeAt), ts(q.CreatedAt), ts(q.UpdatedAt))
}

func excludedSet(cols []string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = excluded.%s", c, c)
	}
	return b.String()
}

// historyUpsert rewrites history rows of a night that is published again
// with other scores; a night's first publish needs no conflict handling.
func historyUpsert() string {
	return ` ON CONFLICT (as_of, model_version, customer_id) DO UPDATE SET ` + excludedSet(riskCols[2:]) +
		` WHERE risk_history.row_hash <> excluded.row_hash`
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

// byCustomer returns the row indexes in customer_id byte order (SQLite's
// BINARY collation), so a WITHOUT ROWID table is filled by appending.
// Scores come as a few runs already in order (one per scoring shard): those
// are merged pairwise instead of sorted.
func byCustomer(rows []RiskRow) []int32 {
	idx := make([]int32, len(rows))
	for i := range idx {
		idx[i] = int32(i)
	}
	bounds := []int{0} // run k is [bounds[k], bounds[k+1])
	for i := 1; i < len(rows); i++ {
		if rows[i-1].CustomerID > rows[i].CustomerID {
			if bounds = append(bounds, i); len(bounds) > 64 {
				slices.SortFunc(idx, func(a, b int32) int { return strings.Compare(rows[a].CustomerID, rows[b].CustomerID) })
				return idx
			}
		}
	}
	bounds = append(bounds, len(rows))
	src, dst := idx, make([]int32, 0)
	if len(bounds) > 2 {
		dst = make([]int32, len(idx))
	}
	for len(bounds) > 2 {
		next := []int{0}
		for k := 0; k+1 < len(bounds); k += 2 {
			lo := bounds[k]
			if k+2 >= len(bounds) { // the odd run out
				copy(dst[lo:bounds[k+1]], src[lo:bounds[k+1]])
				next = append(next, bounds[k+1])
				continue
			}
			mid, hi := bounds[k+1], bounds[k+2]
			a, b, o := lo, mid, lo
			for a < mid && b < hi {
				if rows[src[b]].CustomerID < rows[src[a]].CustomerID {
					dst[o], b = src[b], b+1
				} else {
					dst[o], a = src[a], a+1
				}
				o++
			}
			o += copy(dst[o:], src[a:mid])
			copy(dst[o:], src[b:hi])
			next = append(next, hi)
		}
		src, dst, bounds = dst, src, next
	}
	return src
}

// byKey returns the queue row indexes in idempotency-key order (customer,
// campaign, night). Inserting in that order walks the key and customer
// indexes forward instead of jumping around them; ids are assigned in it,
// which claims do not mind (they order by priority, then id, per campaign,
// and within a campaign key order is customer order, the plan's tie-break).
func byKey(queue []QueueRow) []int32 {
	idx := make([]int32, len(queue))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return strings.Compare(queue[a].IdempotencyKey, queue[b].IdempotencyKey) })
	return idx
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
