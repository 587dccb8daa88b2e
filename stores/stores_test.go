package stores

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

const pgDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// testStores opens a fresh SQLite store and a fresh Postgres schema.
func testStores(t testing.TB) map[string]*DB {
	t.Helper()
	ctx := context.Background()
	out := map[string]*DB{}
	s, err := OpenSQLite(ctx, t.TempDir()+"/retain.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	out["sqlite"] = s
	schema := fmt.Sprintf("stores_test_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	p, err := OpenPostgres(ctx, pgDSN, schema)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Logf("postgres not available: %v", err)
		return out
	}
	t.Cleanup(func() {
		p.w.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		p.Close()
	})
	out["postgres"] = p
	return out
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// makeRisk builds n rows for one run; shift changes every probability.
func makeRisk(n int, run, asOf string, shift float64) []RiskRow {
	rows := make([]RiskRow, n)
	scored := day(asOf).Add(3 * time.Hour)
	for i := range rows {
		p := math.Mod(float64(i)*0.618034+shift, 1)
		tier := TierLow
		if p >= 0.66 {
			tier = TierHigh
		} else if p >= 0.33 {
			tier = TierMedium
		}
		clv := float64(i%500) + 10
		rows[i] = RiskRow{CustomerID: fmt.Sprintf("c%07d", i), AsOf: day(asOf), ScoredAt: scored, RunID: run, ModelVersion: "gbdt-1",
			ChurnProbability: p, RiskTier: tier, ChurnPercentile: p * 100, PAlive: 1 - p, ExpectedPurchases: 2 * (1 - p),
			PredictedCLV: clv, HistoricCLV: clv * 2, ValueAtRisk: p * clv, ExpectedNextOrder: day(asOf).AddDate(0, 0, i%60),
			Reasons: []Reason{{Feature: "days_since_last_order", Contribution: 0.4, Text: "no order for 80 days"}},
			Segment: []string{"champions", "at_risk", "lost"}[i%3], ValueRiskCell: "high_value/high_risk"}
	}
	return rows
}

func testPolicy() *Policy {
	share := 0.2
	return &Policy{Campaigns: []Campaign{
		{Name: "save", Tiers: []string{TierHigh}, DailyCapacity: 0, ControlShare: &share},
		{Name: "winback", Tiers: []string{TierHigh, TierMedium}, MinCLV: 100, DailyCapacity: 50},
	}}
}

func countCurrent(t testing.TB, db *DB) (n, runs int) {
	t.Helper()
	if err := db.r.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT run_id) FROM risk_current`).Scan(&n, &runs); err != nil {
		t.Fatal(err)
	}
	return
}

func TestPublishIdempotentAndChanges(t *testing.T) {
	ctx := context.Background()
	for name, db := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			rows := makeRisk(2000, "run-1", "2026-11-01", 0)
			res, err := db.Publish(ctx, PublishInput{Risk: rows, Policy: testPolicy()})
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped || res.QueueInserted == 0 || res.QueueInserted != res.QueueRows {
				t.Fatalf("first publish: %+v", res)
			}
			q1, _ := db.QueueRows(ctx, time.Time{})
			// the same list again: nothing changes
			res2, err := db.Publish(ctx, PublishInput{Risk: rows, Policy: testPolicy()})
			if err != nil || !res2.Skipped {
				t.Fatalf("second publish: %+v %v", res2, err)
			}
			// the same night rescored by another run with the same result: nothing changes
			if res3, err := db.Publish(ctx, PublishInput{Risk: makeRisk(2000, "run-1b", "2026-11-01", 0), Policy: testPolicy()}); err != nil || !res3.Skipped {
				t.Fatalf("rerun publish: %+v %v", res3, err)
			}
			q2, err := db.QueueRows(ctx, time.Time{})
			if err != nil || len(q1) != len(q2) {
				t.Fatalf("queue went from %d to %d rows (%v)", len(q1), len(q2), err)
			}
			// the same night with other scores: no (customer, campaign, night) queued twice
			if _, err := db.Publish(ctx, PublishInput{Risk: makeRisk(2000, "run-1c", "2026-11-01", 0.05), Policy: testPolicy()}); err != nil {
				t.Fatal(err)
			}
			var all, keys int
			db.r.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT customer_id || campaign) FROM intervention_queue`).Scan(&all, &keys)
			if all != keys {
				t.Fatalf("%d queue rows for %d customer-campaigns", all, keys)
			}
			// the next night with unchanged content: updated_at stays (reverse-ETL syncs nothing)
			var upd1 time.Time
			db.r.QueryRow(`SELECT MAX(updated_at) FROM risk_current`).Scan(dbTime{&upd1})
			same := makeRisk(2000, "run-2", "2026-11-02", 0.05)
			for i := range same {
				same[i].ExpectedNextOrder = day("2026-11-01").AddDate(0, 0, i%60)
			}
			if _, err := db.Publish(ctx, PublishInput{Risk: same}); err != nil {
				t.Fatal(err)
			}
			var changed, moved int
			db.r.QueryRow(`SELECT COUNT(*) FROM risk_current WHERE updated_at > $1`, db.ts(upd1)).Scan(&changed)
			db.r.QueryRow(`SELECT COUNT(*) FROM risk_current WHERE as_of = $1`, db.date(day("2026-11-02"))).Scan(&moved)
			if changed != 0 || moved != 2000 {
				t.Fatalf("%d rows have a new updated_at although their content is unchanged; %d moved to the new as-of", changed, moved)
			}
			// a new night: fewer customers, different scores
			next := makeRisk(1500, "run-3", "2026-11-03", 0.1)
			if _, err := db.Publish(ctx, PublishInput{Risk: next, Policy: testPolicy()}); err != nil {
				t.Fatal(err)
			}
			if n, runs := countCurrent(t, db); n != 1500 || runs != 1 {
				t.Fatalf("risk_current has %d rows of %d runs", n, runs)
			}
			var hist int
			db.r.QueryRow(`SELECT COUNT(*) FROM risk_history`).Scan(&hist)
			if hist != 5500 {
				t.Fatalf("risk_history has %d rows, want 5500 (2000 + 2000 + 1500)", hist)
			}
			var superseded int
			db.r.QueryRow(`SELECT COUNT(*) FROM intervention_queue WHERE status = 'pending' AND as_of < $1`, db.date(day("2026-11-03"))).Scan(&superseded)
			if superseded != 0 {
				t.Fatalf("%d pending rows of the earlier night were not expired", superseded)
			}
			d, err := db.Customer(ctx, "c0000007")
			if err != nil || d.Current == nil || len(d.History) != 3 || d.Current.RunID != "run-3" || len(d.Current.Reasons) != 1 {
				t.Fatalf("customer: %+v %v", d, err)
			}
			if _, err := db.Customer(ctx, "nobody"); err != ErrNotFound {
				t.Fatalf("unknown customer: %v", err)
			}
		})
	}
}

func TestConcurrentClaimers(t *testing.T) {
	ctx := context.Background()
	for name, db := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			db.SetClock(func() time.Time { return time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC) })
			zero := 0.0
			pol := &Policy{Campaigns: []Campaign{{Name: "save", ControlShare: &zero}}}
			if _, err := db.Publish(ctx, PublishInput{Risk: makeRisk(3000, "r", "2026-11-01", 0), Policy: pol}); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			seen := map[int64]string{}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for w := range 8 {
				wg.Go(func() {
					me := fmt.Sprintf("worker-%d", w)
					for {
						got, err := db.Claim(ctx, ClaimRequest{Campaign: "save", N: 25, Lease: time.Minute, Claimer: me})
						if err != nil {
							errs <- err
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, q := range got {
							if prev, dup := seen[q.ID]; dup {
								errs <- fmt.Errorf("row %d handed to %s and %s", q.ID, prev, me)
							}
							seen[q.ID] = me
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if len(seen) != 3000 {
				t.Fatalf("claimed %d rows, want 3000", len(seen))
			}
		})
	}
}

func TestLeaseExpiryAndAck(t *testing.T) {
	ctx := context.Background()
	for name, db := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			now := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
			db.SetClock(func() time.Time { return now })
			if _, err := db.Publish(ctx, PublishInput{Risk: makeRisk(200, "r", "2026-11-01", 0), Policy: testPolicy()}); err != nil {
				t.Fatal(err)
			}
			dead, err := db.Claim(ctx, ClaimRequest{Campaign: "save", N: 10, Lease: 30 * time.Second, Claimer: "dies"})
			if err != nil || len(dead) != 10 {
				t.Fatalf("claim: %d %v", len(dead), err)
			}
			for _, q := range dead {
				if q.Treatment != Treatment {
					t.Fatalf("control row %d handed out", q.ID)
				}
			}
			// the lease still runs: the next claimer gets other rows
			other, _ := db.Claim(ctx, ClaimRequest{Campaign: "save", N: 1000, Lease: time.Minute, Claimer: "next"})
			for _, q := range other {
				if q.ID == dead[0].ID {
					t.Fatal("row handed out while its lease runs")
				}
			}
			if _, err := db.Ack(ctx, other[0].ID, "next", StatusDone, "converted"); err != nil {
				t.Fatal(err)
			}
			now = now.Add(31 * time.Second)
			again, err := db.Claim(ctx, ClaimRequest{Campaign: "save", N: 1000, Lease: time.Minute, Claimer: "next"})
			if err != nil || len(again) != 10 || again[0].Attempts != 2 {
				t.Fatalf("after the lease: %d rows (%v)", len(again), err)
			}
			if _, err := db.Ack(ctx, dead[0].ID, "dies", StatusDone, ""); err == nil || !strings.Contains(err.Error(), "conflict") {
				t.Fatalf("ack by the claimer that lost its lease: %v", err)
			}
			if _, err := db.Ack(ctx, 999999, "next", StatusDone, ""); err != ErrNotFound {
				t.Fatalf("ack of unknown row: %v", err)
			}
			// outcomes for a control row
			var ctl QueueRow
			all, err := db.QueueRows(ctx, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range all {
				if q.Treatment == Control {
					ctl = q
					break
				}
			}
			v := 12.5
			if _, err := db.RecordOutcomes(ctx, []Outcome{{CustomerID: ctl.CustomerID, Campaign: ctl.Campaign, AsOf: "2026-11-01", Outcome: "purchased", Value: &v}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.RecordOutcomes(ctx, []Outcome{{CustomerID: "nobody", Campaign: "save", AsOf: "2026-11-01", Outcome: "x"}}); err == nil {
				t.Fatal("outcome for an unknown row accepted")
			}
			all, _ = db.QueueRows(ctx, time.Time{})
			for _, q := range all {
				if q.ID == ctl.ID && (q.Outcome != "purchased" || q.OutcomeValue != 12.5) {
					t.Fatalf("control outcome not stored: %+v", q)
				}
			}
			// past expiry pending rows expire
			now = now.AddDate(0, 0, 30)
			if _, exp, err := db.Reap(ctx); err != nil || exp == 0 {
				t.Fatalf("reap: %d %v", exp, err)
			}
		})
	}
}

// TestReaderSeesWholeLists reads risk_current while lists are published.
func TestReaderSeesWholeLists(t *testing.T) {
	ctx := context.Background()
	for name, db := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const n = 5000
			if _, err := db.Publish(ctx, PublishInput{Risk: makeRisk(n, "run-0", "2026-11-01", 0)}); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			var reads int
			var bad error
			go func() {
				defer close(done)
				for i := 0; i < 2; i++ {
					if _, err := db.Publish(ctx, PublishInput{Risk: makeRisk(n, fmt.Sprintf("run-%d", i+1), "2026-11-01", float64(i+1)/10)}); err != nil {
						bad = err
						return
					}
				}
			}()
			for {
				select {
				case <-done:
					if bad != nil {
						t.Fatal(bad)
					}
					if reads == 0 {
						t.Fatal("no reads during the publishes")
					}
					t.Logf("%d consistent reads", reads)
					return
				default:
				}
				if c, runs := countCurrent(t, db); c != n || runs != 1 {
					t.Fatalf("reader saw %d rows of %d runs", c, runs)
				}
				reads++
			}
		})
	}
}

// TestPagingDuringPublish walks 100k rows with cursors while a new list is published.
func TestPagingDuringPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("100k rows")
	}
	ctx := context.Background()
	for name, db := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const n = 100000
			if _, err := db.Publish(ctx, PublishInput{Risk: makeRisk(n, "run-a", "2026-11-01", 0)}); err != nil {
				t.Fatal(err)
			}
			seen := make(map[string]int, n)
			q := RiskQuery{Limit: 5000}
			published := false
			pubDone := make(chan error, 1)
			for pages := 0; ; pages++ {
				p, err := db.RiskPage(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range p.Rows {
					seen[r.CustomerID]++
					if r.RunID != "run-a" {
						t.Fatalf("page %d mixes run %s into the walk of run-a", pages, r.RunID)
					}
				}
				if pages == 2 && !published {
					published = true
					go func() {
						_, err := db.Publish(ctx, PublishInput{Risk: makeRisk(n, "run-b", "2026-11-02", 0.3)})
						pubDone <- err
					}()
				}
				if pages == 10 {
					if err := <-pubDone; err != nil {
						t.Fatal(err)
					}
				}
				if !p.HasMore {
					break
				}
				q.Cursor = p.NextCursor
			}
			if len(seen) != n {
				t.Fatalf("walk returned %d distinct customers, want %d", len(seen), n)
			}
			for id, c := range seen {
				if c != 1 {
					t.Fatalf("customer %s returned %d times", id, c)
				}
			}
			// a new walk reads the new list, with filters
			p, err := db.RiskPage(ctx, RiskQuery{Tier: TierHigh, MinValue: 100, Limit: 10})
			if err != nil || p.RunID != "run-b" || len(p.Rows) != 10 {
				t.Fatalf("new walk: %+v %v", p.RunID, err)
			}
			for _, r := range p.Rows {
				if r.RiskTier != TierHigh || r.ValueAtRisk < 100 {
					t.Fatalf("filter not applied: %+v", r.RiskRow)
				}
			}
		})
	}
}

func TestRiskQueryValidate(t *testing.T) {
	for _, tc := range []struct {
		q    RiskQuery
		want string
	}{
		{RiskQuery{Tier: "extreme"}, "tier"},
		{RiskQuery{Limit: 20000}, "limit"},
		{RiskQuery{Limit: -1}, "limit"},
		{RiskQuery{MinValue: -3}, "min_value"},
		{RiskQuery{MinValue: math.NaN()}, "min_value"},
		{RiskQuery{Cursor: "'; DROP TABLE risk_current; --"}, "cursor"},
		{RiskQuery{Tier: "high", Limit: 5}, ""},
	} {
		err := tc.q.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && (!strings.HasPrefix(err.Error(), tc.want) || !IsBadInput(err))) {
			t.Errorf("%+v: %v, want %q", tc.q, err, tc.want)
		}
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	for name, db := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			plain, tok, err := db.CreateToken(ctx, "crm", []string{ScopeClaim})
			if err != nil {
				t.Fatal(err)
			}
			var stored string
			db.r.QueryRow(`SELECT token_hash FROM api_tokens WHERE id = $1`, tok.ID).Scan(&stored)
			if stored == plain || strings.Contains(stored, plain) {
				t.Fatal("token stored in plain text")
			}
			got, err := db.LookupToken(ctx, plain)
			if err != nil || !got.Allows(ScopeRead) || !got.Allows(ScopeClaim) || got.Allows(ScopeAdmin) {
				t.Fatalf("lookup: %+v %v", got, err)
			}
			if _, err := db.LookupToken(ctx, plain+"x"); err != ErrNotFound {
				t.Fatalf("wrong token: %v", err)
			}
			if err := db.RevokeToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := db.LookupToken(ctx, plain); err != ErrNotFound {
				t.Fatalf("revoked token: %v", err)
			}
		})
	}
}

var _ = stdlib.OpenDB
var _ = sql.ErrNoRows

func TestRiskJSON(t *testing.T) {
	r := RiskRecord{RiskRow: makeRisk(1, "r\"1", "2026-11-01", 0)[0], RowHash: "h"}
	r.Reasons = append(r.Reasons, Reason{Feature: "nps", Contribution: -0.5, Text: "NPS fell <3 — \"détracteur\"\n"})
	r.PAlive = math.NaN()
	p := RiskPage{Rows: []RiskRecord{r, r}, HasMore: true, NextCursor: "abc", RunID: "r\"1"}
	b := p.AppendJSON(nil)
	var back struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	row := back.Rows[1]
	if row["p_alive"] != nil || row["as_of"] != "2026-11-01" || row["run_id"] != "r\"1" || row["reasons"].([]any)[1].(map[string]any)["text"] != r.Reasons[1].Text {
		t.Fatalf("%s", b)
	}
}

// TestPublishRoundTrip reads back every column of published rows, including
// unknown numbers, no expected order date, empty reasons and sub-second times
// (Postgres COPYs them in binary, SQLite binds them), and the queue rows as planned.
func TestPublishRoundTrip(t *testing.T) {
	ctx := context.Background()
	for name, db := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			rows := makeRisk(300, "run-rt", "2026-11-01", 0)
			for i := range rows {
				rows[i].ScoredAt = rows[i].ScoredAt.Add(1234567 * time.Microsecond)
			}
			rows[1].PAlive, rows[1].ExpectedPurchases, rows[1].PredictedCLV, rows[1].ValueAtRisk = math.NaN(), math.NaN(), math.Inf(1), math.NaN()
			rows[2].ExpectedNextOrder, rows[2].Reasons, rows[2].ControlGroup = time.Time{}, nil, true
			rows[3].ExpectedNextOrder = day("1999-12-31")
			res, err := db.Publish(ctx, PublishInput{Risk: rows, Policy: testPolicy()})
			if err != nil {
				t.Fatal(err)
			}
			same := func(a, b float64) bool { return a == b || (math.IsNaN(a) || math.IsInf(a, 0)) && math.IsNaN(b) }
			for _, i := range []int{0, 1, 2, 3, 299} {
				want := rows[i]
				d, err := db.Customer(ctx, want.CustomerID)
				if err != nil || d.Current == nil {
					t.Fatalf("customer %s: %v", want.CustomerID, err)
				}
				got := d.Current.RiskRow
				if got.CustomerID != want.CustomerID || !got.AsOf.Equal(want.AsOf) || !got.ScoredAt.Equal(want.ScoredAt) ||
					got.RunID != want.RunID || got.ModelVersion != want.ModelVersion || got.RiskTier != want.RiskTier ||
					!same(want.ChurnProbability, got.ChurnProbability) || !same(want.ChurnPercentile, got.ChurnPercentile) ||
					!same(want.PAlive, got.PAlive) || !same(want.ExpectedPurchases, got.ExpectedPurchases) ||
					!same(want.PredictedCLV, got.PredictedCLV) || !same(want.HistoricCLV, got.HistoricCLV) ||
					!same(want.ValueAtRisk, got.ValueAtRisk) || !got.ExpectedNextOrder.Equal(want.ExpectedNextOrder) ||
					got.Segment != want.Segment || got.ValueRiskCell != want.ValueRiskCell || got.ControlGroup != want.ControlGroup ||
					got.ReasonsJSON() != want.ReasonsJSON() || d.Current.RowHash != want.Hash() {
					t.Fatalf("row %d read back as\n%+v\nwant\n%+v", i, got, want)
				}
				if len(d.History) != 1 || d.History[0].RowHash != want.Hash() || !d.History[0].ScoredAt.Equal(want.ScoredAt) {
					t.Fatalf("row %d history: %+v", i, d.History)
				}
			}
			stored, err := db.QueueRows(ctx, time.Time{})
			if err != nil || len(stored) != len(res.Queue) || len(stored) == 0 {
				t.Fatalf("%d queue rows stored, %d planned (%v)", len(stored), len(res.Queue), err)
			}
			us := func(t time.Time) time.Time { return t.Truncate(time.Microsecond) } // both stores keep microseconds
			byKey := map[string]QueueRow{}
			for _, q := range stored {
				byKey[q.IdempotencyKey] = q
			}
			for _, want := range res.Queue {
				got, ok := byKey[want.IdempotencyKey]
				if !ok || got.RunID != want.RunID || got.CustomerID != want.CustomerID || got.Campaign != want.Campaign ||
					!got.AsOf.Equal(want.AsOf) || got.Priority != want.Priority || got.Status != want.Status ||
					got.SuppressionReason != want.SuppressionReason || got.Treatment != want.Treatment ||
					!got.NotBefore.Equal(us(want.NotBefore)) || !got.ExpiresAt.Equal(us(want.ExpiresAt)) || got.Attempts != 0 ||
					!got.ClaimedAt.IsZero() || !got.CreatedAt.Equal(us(want.CreatedAt)) || !got.UpdatedAt.Equal(us(want.UpdatedAt)) {
					t.Fatalf("queue row read back as\n%+v\nwant\n%+v", got, want)
				}
			}
		})
	}
}

// TestFailedPublishChangesNothing: a publish that fails part way (here a
// duplicate customer, refused by the keys of risk_history and risk_current —
// on Postgres by whichever connection meets it first) leaves the current
// list, history, queue and publishes as they were, and the next publish
// succeeds over its leftovers (on Postgres also a risk_current_next left by
// a publish that died after building it).
func TestFailedPublishChangesNothing(t *testing.T) {
	ctx := context.Background()
	for name, db := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := db.Publish(ctx, PublishInput{Risk: makeRisk(1000, "run-1", "2026-11-01", 0), Policy: testPolicy()}); err != nil {
				t.Fatal(err)
			}
			counts := func() (cur, hist, queue, pubs int) {
				db.r.QueryRow(`SELECT COUNT(*) FROM risk_current`).Scan(&cur)
				db.r.QueryRow(`SELECT COUNT(*) FROM risk_history`).Scan(&hist)
				db.r.QueryRow(`SELECT COUNT(*) FROM intervention_queue`).Scan(&queue)
				db.r.QueryRow(`SELECT COUNT(*) FROM publishes`).Scan(&pubs)
				return
			}
			c0, h0, q0, p0 := counts()
			bad := makeRisk(1000, "run-2", "2026-11-02", 0.3)
			bad[999].CustomerID = bad[0].CustomerID
			if _, err := db.Publish(ctx, PublishInput{Risk: bad, Policy: testPolicy()}); err == nil {
				t.Fatal("a list with a duplicate customer was published")
			}
			if c, h, q, p := counts(); c != c0 || h != h0 || q != q0 || p != p0 {
				t.Fatalf("after the failed publish: current %d→%d, history %d→%d, queue %d→%d, publishes %d→%d", c0, c, h0, h, q0, q, p0, p)
			}
			if n, runs := countCurrent(t, db); n != 1000 || runs != 1 {
				t.Fatalf("risk_current has %d rows of %d runs", n, runs)
			}
			if db.dialect == Postgres { // a leftover of a publish that died after building it
				if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS risk_current_next (LIKE risk_current INCLUDING DEFAULTS)`); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Publish(ctx, PublishInput{Risk: makeRisk(1000, "run-3", "2026-11-02", 0.3), Policy: testPolicy()}); err != nil {
				t.Fatal(err)
			}
			var run string
			db.r.QueryRow(`SELECT MIN(run_id) FROM risk_current`).Scan(&run)
			if _, h, _, p := counts(); run != "run-3" || h != h0+1000 || p != p0+1 {
				t.Fatalf("after the next publish: run %s, history %d, publishes %d", run, h, p)
			}
		})
	}
}
