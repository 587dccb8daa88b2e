package datasets

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// writeRunsTestData writes order lines (several lines per order, equal
// times within a customer), customers with repeated ids and events, in
// pseudo-random order (deterministic).
func writeRunsTestData(t *testing.T, dir string) map[Table]Source {
	t.Helper()
	x := uint64(0x9E3779B97F4A7C15)
	rnd := func(n uint64) uint64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x % n
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var o, c, e strings.Builder
	o.WriteString("order_id,customer_id,ordered_at,amount,product\n")
	for i := 0; i < 40_000; i++ {
		ord := rnd(15_000)
		cust := ord % 3_000 // an order always belongs to one customer
		at := t0.Add(time.Duration(ord%500) * time.Hour)
		fmt.Fprintf(&o, "o%d,c%d,%s,%d.25,p%d\n", ord, cust, at.Format(time.DateTime), rnd(90), rnd(40))
	}
	c.WriteString("customer_id,signed_up_at,country\n")
	for i := 0; i < 9_000; i++ {
		cust := rnd(4_000)
		at := t0.Add(time.Duration(rnd(30)) * 24 * time.Hour)
		fmt.Fprintf(&c, "c%d,%s,%c%c\n", cust, at.Format(time.DateOnly), 'A'+byte(rnd(26)), 'A'+byte(rnd(26)))
	}
	e.WriteString("customer_id,occurred_at,event_type\n")
	for i := 0; i < 280_000; i++ { // more than writeChunk rows in one shard
		at := t0.Add(time.Duration(rnd(2000)) * time.Minute)
		fmt.Fprintf(&e, "u%d,%s,e%d\n", rnd(20_000), at.Format(time.DateTime), rnd(5))
	}
	for name, s := range map[string]*strings.Builder{"orders.csv": &o, "customers.csv": &c, "events.csv": &e} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return map[Table]Source{
		Orders: {Format: "csv", Path: filepath.Join(dir, "orders.csv"),
			Columns: map[string]string{"customer_id": "customer_id", "order_id": "order_id", "ordered_at": "ordered_at", "amount": "amount", "product": "product"}},
		Customers: {Format: "csv", Path: filepath.Join(dir, "customers.csv"),
			Columns: map[string]string{"customer_id": "customer_id", "signed_up_at": "signed_up_at", "country": "country"}},
		Events: {Format: "csv", Path: filepath.Join(dir, "events.csv"),
			Columns: map[string]string{"customer_id": "customer_id", "occurred_at": "occurred_at", "event_type": "event_type"}},
	}
}

// TestTinyMemoryBudgetSameBytes: with a tiny memory budget every table is
// spilled as many sorted runs, merged a few at a time, and the snapshot's
// files are byte for byte those of the default (in-memory) extract.
func TestTinyMemoryBudgetSameBytes(t *testing.T) {
	dir := t.TempDir()
	srcs := writeRunsTestData(t, dir)
	for _, shards := range []int{1, 3} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			var mu sync.Mutex
			var lines []string
			progress := func(format string, args ...any) {
				mu.Lock()
				lines = append(lines, fmt.Sprintf(format, args...))
				mu.Unlock()
			}
			big, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, fmt.Sprintf("big%d", shards)), Shards: shards, Sources: srcs})
			if err != nil {
				t.Fatal(err)
			}
			tiny, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, fmt.Sprintf("tiny%d", shards)), Shards: shards, Sources: srcs,
				MemoryBudget: 1, fanIn: 4, Progress: progress})
			if err != nil {
				t.Fatal(err)
			}
			merged := false
			for _, l := range lines {
				if strings.Contains(l, "sorted runs; merging them 4 at a time") {
					merged = true
				}
			}
			if !merged {
				t.Fatalf("the tiny budget spilled no more than 4 runs per shard; progress:\n%s", strings.Join(lines, "\n"))
			}
			for _, tb := range []Table{Orders, Customers, Events} {
				bt, tt := big.Tables[tb], tiny.Tables[tb]
				if bt.Rows != tt.Rows || bt.Duplicates != tt.Duplicates || fmt.Sprint(bt.ShardRows) != fmt.Sprint(tt.ShardRows) {
					t.Errorf("%s: rows %d/%d duplicates %d/%d shard rows %v/%v", tb, bt.Rows, tt.Rows, bt.Duplicates, tt.Duplicates, bt.ShardRows, tt.ShardRows)
				}
				for s := 0; s < shards; s++ {
					a, err := os.ReadFile(ShardPath(big.Snapshot, tb, s))
					if err != nil {
						t.Fatal(err)
					}
					b, err := os.ReadFile(ShardPath(tiny.Snapshot, tb, s))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(a, b) {
						t.Errorf("%s shard %d: %d bytes in memory, %d bytes from spilled runs: files differ", tb, s, len(a), len(b))
					}
					checkSorted(t, ShardPath(tiny.Snapshot, tb, s), s, shards, Specs[tb].TimeCol)
				}
			}
			if tt := tiny.Tables[Events]; tt.Rows != 280_000 {
				t.Errorf("events rows %d, want 280000", tt.Rows)
			}
		})
	}
}

// TestCustomersLatestWins: a customer listed several times keeps one row,
// the latest by signed_up_at and then by source line; the summary counts
// the rows folded away.
func TestCustomersLatestWins(t *testing.T) {
	csv := "customer_id,signed_up_at,country\n" +
		"a,2024-01-05,FR\n" + // line 2
		"b,2024-02-01,DE\n" +
		"a,2024-03-01,IT\n" + // latest signup of a
		"a,2024-02-01,ES\n" +
		"c,,NL\n" + // no signup time sorts first
		"c,2023-01-01,BE\n" +
		"d,2024-01-01,PT\n" +
		"d,2024-01-01,PL\n" + // same time: the later line wins
		"e,,SE\n" +
		"e,,NO\n" // both null: the later line wins
	dir := t.TempDir()
	path := filepath.Join(dir, "customers.csv")
	if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	src := Source{Format: "csv", Path: path, Columns: map[string]string{"customer_id": "customer_id", "signed_up_at": "signed_up_at", "country": "country"}}
	sum, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "data"), Shards: 2, Sources: map[Table]Source{Customers: src}})
	if err != nil {
		t.Fatal(err)
	}
	ts := sum.Tables[Customers]
	if ts.Read != 10 || ts.Kept != 10 || ts.Duplicates != 5 || ts.Rows != 5 {
		t.Fatalf("read %d kept %d duplicates %d rows %d, want 10 10 5 5", ts.Read, ts.Kept, ts.Duplicates, ts.Rows)
	}
	got := map[string]string{}
	for s := 0; s < 2; s++ {
		tbl := readShard(t, ShardPath(sum.Snapshot, Customers, s))
		tr := array.NewTableReader(tbl, -1)
		for tr.Next() {
			rec := tr.RecordBatch()
			ids := rec.Column(indexOfField(rec.Schema(), "customer_id")).(*array.String)
			cs := rec.Column(indexOfField(rec.Schema(), "country")).(*array.String)
			for i := 0; i < int(rec.NumRows()); i++ {
				if _, dup := got[ids.Value(i)]; dup {
					t.Errorf("customer %s appears twice", ids.Value(i))
				}
				got[ids.Value(i)] = cs.Value(i)
			}
		}
		tr.Release()
		tbl.Release()
	}
	want := map[string]string{"a": "IT", "b": "DE", "c": "BE", "d": "PL", "e": "NO"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("kept %v, want %v", got, want)
	}
}
