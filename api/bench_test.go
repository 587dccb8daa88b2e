package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/retainlab/retain/stores"
)

// BenchmarkRiskListPage is one 1,000-row page through the handler (SQLite).
func BenchmarkRiskListPage(b *testing.B) {
	ctx := context.Background()
	db, err := stores.OpenSQLite(ctx, b.TempDir()+"/b.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Publish(ctx, stores.PublishInput{Risk: riskRows(20000)}); err != nil {
		b.Fatal(err)
	}
	tok, _, _ := db.CreateToken(ctx, "b", []string{"read"})
	h := New(db, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/v1/risk-list?limit=1000&tier=high", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
