package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/retainlab/retain/stores"
)

func day(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }

func riskRows(n int) []stores.RiskRow {
	rows := make([]stores.RiskRow, n)
	for i := range rows {
		p := float64((i*37)%100) / 100
		tier := stores.TierLow
		if p >= 0.66 {
			tier = stores.TierHigh
		} else if p >= 0.33 {
			tier = stores.TierMedium
		}
		rows[i] = stores.RiskRow{CustomerID: fmt.Sprintf("c%05d", i), AsOf: day("2026-11-01"), ScoredAt: day("2026-11-01").Add(time.Hour),
			RunID: "run-1", ModelVersion: "m1", ChurnProbability: p, RiskTier: tier, ChurnPercentile: p * 100, PAlive: 1 - p,
			PredictedCLV: 100, HistoricCLV: 50, ValueAtRisk: 100 * p, Segment: "at_risk", ValueRiskCell: "x",
			Reasons: []stores.Reason{{Feature: "recency", Contribution: 0.5, Text: "no order for 90 days"}}}
	}
	return rows
}

type fixture struct {
	srv                *httptest.Server
	read, claim, admin string
	db                 *stores.DB
}

func newFixture(t *testing.T, db *stores.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	db.SetClock(func() time.Time { return time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC) })
	zero := 0.0
	pol := &stores.Policy{Campaigns: []stores.Campaign{{Name: "save", Tiers: []string{"high"}, ControlShare: &zero}}}
	if _, err := db.Publish(ctx, stores.PublishInput{Risk: riskRows(2500), Policy: pol}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db}
	for _, s := range []struct {
		dst   *string
		scope string
	}{{&f.read, "read"}, {&f.claim, "claim"}, {&f.admin, "admin"}} {
		p, _, err := db.CreateToken(ctx, s.scope+"-token", []string{s.scope})
		if err != nil {
			t.Fatal(err)
		}
		*s.dst = p
	}
	f.srv = httptest.NewServer(New(db, Options{}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func openStores(t *testing.T) map[string]*stores.DB {
	ctx := context.Background()
	out := map[string]*stores.DB{}
	s, err := stores.OpenSQLite(ctx, t.TempDir()+"/api.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	out["sqlite"] = s
	schema := fmt.Sprintf("api_test_%d", os.Getpid())
	p, err := stores.OpenPostgres(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", schema)
	if err != nil {
		t.Logf("postgres not available: %v", err)
		return out
	}
	t.Cleanup(func() { p.DropSchema(context.Background()); p.Close() })
	out["postgres"] = p
	return out
}

func TestAuthAndValidation(t *testing.T) {
	for name, db := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, db)
			for _, tc := range []struct {
				method, path, token, body string
				want                      int
			}{
				{"GET", "/healthz", "", "", 200},
				{"GET", "/v1/openapi.json", "", "", 200},
				{"GET", "/metrics", "", "", 200},
				{"GET", "/v1/risk-list", "", "", 401},
				{"GET", "/v1/risk-list", "rt_wrong", "", 401},
				{"GET", "/v1/risk-list", f.read, "", 200},
				{"GET", "/v1/risk-list?tier=extreme", f.read, "", 400},
				{"GET", "/v1/risk-list?min_value=abc", f.read, "", 400},
				{"GET", "/v1/risk-list?min_value=-1", f.read, "", 400},
				{"GET", "/v1/risk-list?limit=0", f.read, "", 400},
				{"GET", "/v1/risk-list?limit=100000", f.read, "", 400},
				{"GET", "/v1/risk-list?cursor=bm9wZQ", f.read, "", 400},
				{"GET", "/v1/risk-list?tier=high'%20OR%201=1--", f.read, "", 400},
				{"GET", "/v1/risk-list?segment=x'%20OR%20'1'='1", f.read, "", 200},
				{"GET", "/v1/risk-list?colour=red", f.read, "", 400},
				{"GET", "/v1/customers/c00001", f.read, "", 200},
				{"GET", "/v1/customers/nobody", f.read, "", 404},
				{"GET", "/v1/runs", f.read, "", 200},
				{"POST", "/v1/queue/claim", f.read, `{"campaign":"save","n":1}`, 403},
				{"POST", "/v1/queue/claim", "", `{"campaign":"save","n":1}`, 401},
				{"POST", "/v1/queue/claim", f.claim, `{"campaign":"save","n":0}`, 400},
				{"POST", "/v1/queue/claim", f.claim, `{"campaign":"save","n":1,"lease_seconds":-4}`, 400},
				{"POST", "/v1/queue/claim", f.claim, `{"campaign":"save","n":1,"bogus":1}`, 400},
				{"POST", "/v1/queue/claim", f.claim, `not json`, 400},
				{"POST", "/v1/queue/abc/ack", f.claim, `{}`, 400},
				{"POST", "/v1/queue/999999/ack", f.claim, `{}`, 404},
				{"POST", "/v1/outcomes", f.read, `{"outcomes":[{"customer_id":"c1","campaign":"save","as_of":"2026-11-01","outcome":"x"}]}`, 403},
				{"POST", "/v1/outcomes", f.claim, `{"outcomes":[]}`, 400},
				{"POST", "/v1/outcomes", f.claim, `{"outcomes":[{"customer_id":"nobody","campaign":"save","as_of":"2026-11-01","outcome":"x"}]}`, 404},
				{"POST", "/v1/outcomes", f.admin, `{"outcomes":[{"customer_id":"c1","campaign":"save","as_of":"yesterday","outcome":"x"}]}`, 400},
			} {
				code, body := f.do(t, tc.method, tc.path, tc.token, tc.body)
				if code != tc.want {
					t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.want)
				}
			}
			// risk_current survived the injection attempts
			if n, _ := f.db.RiskPage(context.Background(), stores.RiskQuery{Limit: 1}); len(n.Rows) != 1 {
				t.Fatal("risk_current is gone")
			}
		})
	}
}

func TestPagingClaimAck(t *testing.T) {
	for name, db := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, db)
			seen := map[string]bool{}
			cursor := ""
			for {
				code, b := f.do(t, "GET", "/v1/risk-list?limit=700&cursor="+cursor, f.read, "")
				if code != 200 {
					t.Fatalf("%d %s", code, b)
				}
				var p struct {
					Rows []struct {
						CustomerID string          `json:"customer_id"`
						Reasons    []stores.Reason `json:"reasons"`
					} `json:"rows"`
					HasMore    bool   `json:"has_more"`
					NextCursor string `json:"next_cursor"`
				}
				if err := json.Unmarshal(b, &p); err != nil {
					t.Fatal(err)
				}
				for _, r := range p.Rows {
					if seen[r.CustomerID] || len(r.Reasons) != 1 {
						t.Fatalf("customer %s twice or without reasons", r.CustomerID)
					}
					seen[r.CustomerID] = true
				}
				if !p.HasMore {
					break
				}
				cursor = p.NextCursor
			}
			if len(seen) != 2500 {
				t.Fatalf("paged %d customers, want 2500", len(seen))
			}
			code, b := f.do(t, "POST", "/v1/queue/claim", f.claim, `{"campaign":"save","n":5,"lease_seconds":60,"worker":"w1"}`)
			var c struct{ Rows []stores.QueueRow }
			if code != 200 || json.Unmarshal(b, &c) != nil || len(c.Rows) != 5 {
				t.Fatalf("claim: %d %s", code, b)
			}
			path := fmt.Sprintf("/v1/queue/%d/ack", c.Rows[0].ID)
			if code, b := f.do(t, "POST", path, f.claim, `{"outcome":"called","worker":"w2"}`); code != 409 {
				t.Fatalf("ack by another worker: %d %s", code, b)
			}
			if code, b := f.do(t, "POST", path, f.claim, `{"outcome":"called","worker":"w1"}`); code != 200 || !strings.Contains(string(b), `"done"`) {
				t.Fatalf("ack: %d %s", code, b)
			}
			// a new publish empties the page cache: the first page shows the new list
			rows := riskRows(2500)
			for i := range rows {
				rows[i].RunID = "run-2"
				rows[i].ChurnProbability /= 2
			}
			if _, err := f.db.Publish(context.Background(), stores.PublishInput{Risk: rows}); err != nil {
				t.Fatal(err)
			}
			if code, b := f.do(t, "GET", "/v1/risk-list?limit=700", f.read, ""); code != 200 || !strings.Contains(string(b), `"run_id":"run-2"`) {
				t.Fatalf("after a new publish: %d %.300s", code, b)
			}
			_, m := f.do(t, "GET", "/metrics", "", "")
			if !strings.Contains(string(m), `retain_api_requests_total{code="200",route="/v1/risk-list"}`) || !strings.Contains(string(m), "retain_queue_claimed_total 5") {
				t.Fatalf("metrics lack request counts:\n%.2000s", m)
			}
		})
	}
}

// TestOpenAPICoversRoutes keeps api/openapi.json in step with the routes.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v", err)
	}
	for _, r := range []string{"GET /healthz", "GET /metrics", "GET /v1/openapi.json", "GET /v1/risk-list", "GET /v1/customers/{id}",
		"GET /v1/runs", "POST /v1/queue/claim", "POST /v1/queue/{id}/ack", "POST /v1/outcomes"} {
		m, p, _ := strings.Cut(r, " ")
		if doc.Paths[p][strings.ToLower(m)] == nil {
			t.Errorf("openapi.json lacks %s", r)
		}
	}
}
