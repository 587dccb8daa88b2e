package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/retainlab/retain/stores"
)

// BenchmarkRiskListPage is one 1,000-row page through the handler (SQLite),
// built every time (page cache off) and served from the page cache.
func BenchmarkRiskListPage(b *testing.B) {
	b.Run("built", func(b *testing.B) { benchPage(b, -1) })
	b.Run("cached", func(b *testing.B) { benchPage(b, 0) })
}

func benchPage(b *testing.B, cache int) {
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
	h := New(db, Options{PageCacheBytes: cache})
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
