package datasets

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/jackc/pgx/v5"
)

// sqlOrders are the rows every reader test loads: 2 customers, 4 orders,
// one row without a customer (filtered) and one with a bad amount.
var sqlOrders = []struct {
	id, cust, at string
	amount       any
}{
	{"o1", "c1", "2024-01-03 10:00:00", 10.5},
	{"o2", "c2", "2024-01-01 09:00:00", 3.0},
	{"o3", "c1", "2024-01-01 08:00:00", 7.25},
	{"o4", "c2", "2024-01-05 12:00:00", 1.0},
	{"o5", "", "2024-01-05 12:00:00", 1.0},
}

func checkSQLSnapshot(t *testing.T, sum *ExtractSummary, shards int) {
	t.Helper()
	ts := sum.Tables[Orders]
	if ts.Read != 5 || ts.Kept != 4 || ts.Filtered["no_customer"] != 1 || ts.Rows != 4 {
		t.Fatalf("accounting %+v", ts)
	}
	if ts.MinTime.Format(time.DateTime) != "2024-01-01 08:00:00" || ts.MaxTime.Format(time.DateTime) != "2024-01-05 12:00:00" {
		t.Errorf("time range %v .. %v", ts.MinTime, ts.MaxTime)
	}
	snap, err := OpenSnapshot(sum.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, f := range snap.Files[Orders] {
		n += len(checkSorted(t, f, i, shards, "ordered_at"))
	}
	if n != 4 {
		t.Errorf("snapshot rows %d, want 4", n)
	}
}

var sqlFilter = []Filter{{Name: "no_customer", Column: "customer_id", Empty: true}}

func TestSQLiteReader(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, "shop.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE sales (invoice TEXT, customer TEXT, sold_at TEXT, total REAL, seq INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for i, r := range sqlOrders {
		if _, err := db.Exec(`INSERT INTO sales VALUES (?,?,?,?,?)`, r.id, r.cust, r.at, r.amount, i); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	src := Source{Format: "sqlite", Path: filepath.Join(dir, "shop.db"), Query: "SELECT * FROM sales ORDER BY seq", Watermark: "seq",
		Columns: map[string]string{"customer_id": "customer", "order_id": "invoice", "ordered_at": "sold_at", "amount": "total"}, Filters: sqlFilter}
	cfg := ExtractConfig{DataDir: filepath.Join(dir, "data"), Shards: 3, Sources: map[Table]Source{Orders: src}}
	sum, err := Extract(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSQLSnapshot(t, sum, 3)
	if sum.Tables[Orders].Watermark != "4" {
		t.Errorf("watermark %q, want 4", sum.Tables[Orders].Watermark)
	}
	again, err := Extract(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Unchanged {
		t.Errorf("unchanged SQLite source with a watermark re-extracted")
	}
	// a bad query names the source
	src.Query = "SELECT * FROM nope"
	src.Watermark = ""
	_, err = Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "data2"), Sources: map[Table]Source{Orders: src}})
	if err == nil || exitCode(err) != 2 {
		t.Fatalf("bad query: %v (exit %d), want exit 2", err, exitCode(err))
	}
}

// TestPostgresReader streams a query from the real Postgres on
// 127.0.0.1:5432 in its own schema.
func TestPostgresReader(t *testing.T) {
	ctx := context.Background()
	dsn := os.Getenv("RETAIN_TEST_PG")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("postgres at %s is required for this test (make test starts it): %v", dsn, err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("retain_datasets_test_%d", os.Getpid())
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE; CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	if _, err := conn.Exec(ctx, "CREATE TABLE "+schema+".sales (invoice text, customer text, sold_at timestamptz, total numeric(10,2), qty int4, id bigserial)"); err != nil {
		t.Fatal(err)
	}
	for _, r := range sqlOrders {
		at, _ := time.Parse(time.DateTime, r.at)
		var cust any = r.cust
		if r.cust == "" {
			cust = nil
		}
		if _, err := conn.Exec(ctx, "INSERT INTO "+schema+".sales (invoice, customer, sold_at, total, qty) VALUES ($1,$2,$3,$4,2)", r.id, cust, at, r.amount); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	noRollUp := false
	src := Source{Format: "postgres", DSN: dsn, Query: "SELECT * FROM " + schema + ".sales ORDER BY id", Watermark: "id", RollUp: &noRollUp,
		Columns: map[string]string{"customer_id": "customer", "order_id": "invoice", "ordered_at": "sold_at", "amount": "total", "quantity": "qty"}, Filters: sqlFilter}
	cfg := ExtractConfig{DataDir: filepath.Join(dir, "data"), Shards: 2, Sources: map[Table]Source{Orders: src}}
	sum, err := Extract(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSQLSnapshot(t, sum, 2)
	again, err := Extract(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Unchanged {
		t.Errorf("unchanged Postgres source with a watermark re-extracted")
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+schema+".sales (invoice, customer, sold_at, total, qty) VALUES ('o6','c3',now(),2,1)"); err != nil {
		t.Fatal(err)
	}
	third, err := Extract(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ts := third.Tables[Orders]; third.Unchanged || ts.Rows != 5 || !ts.Incremental || ts.Read != 1 || ts.Watermark != "6" {
		t.Errorf("new row not extracted incrementally: unchanged %v, %+v", third.Unchanged, ts)
	}
	snap, err := OpenSnapshot(third.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, f := range snap.Files[Orders] {
		n += len(checkSorted(t, f, i, 2, "ordered_at"))
	}
	if n != 5 {
		t.Errorf("incremental snapshot holds %d rows, want 5", n)
	}
	// --force reads everything again
	cfg.Force = true
	full, err := Extract(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ts := full.Tables[Orders]; ts.Incremental || ts.Read != 6 || ts.Rows != 5 {
		t.Errorf("forced extract: %+v", ts)
	}
	cfg.Force = false
	// a missing column names it
	src.Columns = map[string]string{"customer_id": "nobody", "ordered_at": "sold_at", "amount": "total"}
	_, err = Extract(ctx, ExtractConfig{DataDir: filepath.Join(dir, "d2"), Sources: map[Table]Source{Orders: src}})
	if err == nil || exitCode(err) != 2 {
		t.Fatalf("missing column: %v, want exit 2", err)
	}
}

func TestParquetReader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "orders.parquet")
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "invoice", Type: arrow.BinaryTypes.String},
		{Name: "customer", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "sold_at", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "total", Type: arrow.PrimitiveTypes.Float32},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for _, r := range sqlOrders {
		b.Field(0).(*array.StringBuilder).Append(r.id)
		if r.cust == "" {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(r.cust)
		}
		at, _ := time.Parse(time.DateTime, r.at)
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(at.UnixMilli()))
		b.Field(3).(*array.Float32Builder).Append(float32(r.amount.(float64)))
		b.Field(4).(*array.Int32Builder).Append(2)
	}
	rec := b.NewRecordBatch()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.Close()
	rec.Release()
	src := Source{Format: "parquet", Path: path, Columns: map[string]string{"customer_id": "customer", "order_id": "invoice", "ordered_at": "sold_at", "amount": "total * 2", "quantity": "qty"}, Filters: sqlFilter}
	sum, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "data"), Shards: 2, Sources: map[Table]Source{Orders: src}})
	if err != nil {
		t.Fatal(err)
	}
	checkSQLSnapshot(t, sum, 2)
	// not a Parquet file
	os.WriteFile(path, []byte("hello"), 0o644)
	_, err = Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "d2"), Sources: map[Table]Source{Orders: src}})
	if err == nil || exitCode(err) != 2 {
		t.Fatalf("corrupt parquet: %v, want exit 2", err)
	}
}
