package stores

import (
	"context"
	"testing"
	"time"
)

func BenchmarkPublishSQLite100k(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		db, err := OpenSQLite(ctx, b.TempDir()+"/b.db")
		if err != nil {
			b.Fatal(err)
		}
		db.SetClock(func() time.Time { return time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC) })
		rows := makeRisk(100000, "r", "2026-11-01", 0)
		b.ResetTimer()
		res, err := db.Publish(ctx, PublishInput{Risk: rows, Policy: testPolicy()})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%+v", res.Seconds)
		db.Close()
	}
}
