package datasets

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// sortedCopy writes the rows of the CSV file src to dst in (customer_id,
// time) order (stable), as a sorted export would have them; with swapEvery
// > 0, every swapEvery-th row trades places with the next (a nearly sorted
// export).
func sortedCopy(t *testing.T, src, dst string, custCol, timeCol, swapEvery int) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	rows := lines[1:]
	key := func(l string) (string, string) {
		f := strings.Split(l, ",")
		return f[custCol], f[timeCol]
	}
	slices.SortStableFunc(rows, func(x, y string) int {
		cx, tx := key(x)
		cy, ty := key(y)
		if c := strings.Compare(cx, cy); c != 0 {
			return c
		}
		return strings.Compare(tx, ty)
	})
	for i := swapEvery; swapEvery > 0 && i+1 < len(rows); i += swapEvery {
		rows[i], rows[i+1] = rows[i+1], rows[i]
	}
	if err := os.WriteFile(dst, []byte(lines[0]+"\n"+strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTinyMemoryBudgetSameBytes: with a tiny memory budget every table is
// spilled, and the snapshot's files are byte for byte those of the default
// (in-memory) extract: rows in random order go to key-range buckets (with
// one shard the buckets outgrow their share and are sorted in chunks and
// merged a few at a time); rows already in order (a sorted export) or
// nearly so are spilled as sorted runs and merged a few at a time.
func TestTinyMemoryBudgetSameBytes(t *testing.T) {
	dir := t.TempDir()
	srcs := writeRunsTestData(t, dir)
	sortedSrcs, nearlySrcs := map[Table]Source{}, map[Table]Source{}
	for tb, src := range srcs {
		time := map[Table]int{Orders: 2, Customers: 1, Events: 1}[tb]
		cust := map[Table]int{Orders: 1, Customers: 0, Events: 0}[tb]
		s := src
		s.Path = strings.TrimSuffix(src.Path, ".csv") + "-sorted.csv"
		sortedCopy(t, src.Path, s.Path, cust, time, 0)
		sortedSrcs[tb] = s
		s.Path = strings.TrimSuffix(src.Path, ".csv") + "-nearly.csv"
		sortedCopy(t, src.Path, s.Path, cust, time, 500)
		nearlySrcs[tb] = s
	}
	cases := []struct {
		name   string
		shards int
		srcs   map[Table]Source
		want   []string // progress lines that must appear
	}{
		{"random/shards=1", 1, srcs, []string{"in key-range buckets", "sorted in", "chunks and merged", "sorted runs; merging them 4 at a time"}},
		{"random/shards=3", 3, srcs, []string{"(30 in key-range buckets, 0 sorted runs)"}},
		{"random/shards=3/files-opened-per-piece", 3, srcs, []string{"(30 in key-range buckets, 0 sorted runs)"}},
		{"sorted/shards=3", 3, sortedSrcs, []string{"(0 in key-range buckets,", "sorted runs; merging them 4 at a time"}},
		{"nearly-sorted/shards=3", 3, nearlySrcs, []string{"(0 in key-range buckets,", "sorted runs; merging them 4 at a time"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var lines []string
			progress := func(format string, args ...any) {
				mu.Lock()
				lines = append(lines, fmt.Sprintf(format, args...))
				mu.Unlock()
			}
			shards := tc.shards
			sub := strings.ReplaceAll(tc.name, "/", "-")
			big, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "big-"+sub), Shards: shards, Sources: tc.srcs})
			if err != nil {
				t.Fatal(err)
			}
			maxOpen := 0
			if strings.HasSuffix(tc.name, "files-opened-per-piece") {
				maxOpen = 1
			}
			tiny, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "tiny-"+sub), Shards: shards, Sources: tc.srcs,
				MemoryBudget: 1, fanIn: 4, maxOpen: maxOpen, Progress: progress})
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(lines, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Fatalf("progress has no %q:\n%s", w, all)
				}
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

// TestIncrementalSpillSameBytes: an incremental extract merges the previous
// snapshot's shard files with the new rows; with a tiny memory budget the
// new rows are spilled to key-range buckets and merged with the previous
// files, and the shard files must be byte for byte those of the same
// incremental extract held in memory.
func TestIncrementalSpillSameBytes(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, "shop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE sales (invoice TEXT, customer TEXT, sold_at TEXT, total REAL, seq INTEGER)`); err != nil {
		t.Fatal(err)
	}
	x := uint64(7)
	rnd := func(n uint64) uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x % n }
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	insert := func(from, to int) {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			// unique times: rows never tie on (customer, time)
			at := t0.Add(time.Duration(i) * time.Minute).Add(time.Duration(rnd(1000)) * time.Hour * 24)
			if _, err := tx.Exec(`INSERT INTO sales VALUES (?,?,?,?,?)`, fmt.Sprintf("o%d", i), fmt.Sprintf("c%d", rnd(2000)), at.Format(time.DateTime), float64(rnd(9000))/100, i); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	insert(0, 20_000)
	src := Source{Format: "sqlite", Path: filepath.Join(dir, "shop.db"), Query: "SELECT * FROM sales ORDER BY seq", Watermark: "seq",
		Columns: map[string]string{"customer_id": "customer", "order_id": "invoice", "ordered_at": "sold_at", "amount": "total"}}
	noRollUp := false // incremental extracts need rows that are not rolled up
	src.RollUp = &noRollUp
	for _, name := range []string{"mem", "tiny"} {
		cfg := ExtractConfig{DataDir: filepath.Join(dir, name), Shards: 2, Sources: map[Table]Source{Orders: src}}
		if _, err := Extract(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	insert(20_000, 50_000)
	var lines []string
	sums := map[string]*ExtractSummary{}
	for _, name := range []string{"mem", "tiny"} {
		cfg := ExtractConfig{DataDir: filepath.Join(dir, name), Shards: 2, Sources: map[Table]Source{Orders: src}}
		if name == "tiny" {
			cfg.MemoryBudget = 1
			cfg.Progress = func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
		}
		sum, err := Extract(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if ts := sum.Tables[Orders]; !ts.Incremental || ts.Read != 30_000 || ts.Rows != 50_000 {
			t.Fatalf("%s: incremental %v read %d rows %d, want true 30000 50000", name, ts.Incremental, ts.Read, ts.Rows)
		}
		sums[name] = sum
	}
	if all := strings.Join(lines, "\n"); !strings.Contains(all, "in key-range buckets") {
		t.Fatalf("the tiny budget spilled no buckets:\n%s", all)
	}
	for s := 0; s < 2; s++ {
		a, err := os.ReadFile(ShardPath(sums["mem"].Snapshot, Orders, s))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(ShardPath(sums["tiny"].Snapshot, Orders, s))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("shard %d: %d bytes in memory, %d bytes from spilled buckets: files differ", s, len(a), len(b))
		}
		checkSorted(t, ShardPath(sums["tiny"].Snapshot, Orders, s), s, 2, Specs[Orders].TimeCol)
	}
}

// TestChunkedBucketsBesideSortedRuns: a shard with more sorted runs than the
// fan-in (merged into intermediate files first) and buckets too big to sort
// at once (their chunks merged into intermediate files too, while the
// others are open) still comes out byte for byte as the in-memory extract.
func TestChunkedBucketsBesideSortedRuns(t *testing.T) {
	dir := t.TempDir()
	x := uint64(99)
	rnd := func(n uint64) uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x % n }
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var e strings.Builder
	e.WriteString("customer_id,occurred_at,event_type\n")
	for i := 0; i < 400_000; i++ { // random order: key-range buckets
		fmt.Fprintf(&e, "u%05d,%s,e%d\n", rnd(50_000), t0.Add(time.Duration(rnd(100_000))*time.Minute).Format(time.DateTime), rnd(5))
	}
	for i := 0; i < 30_000; i++ { // then in order: sorted runs
		fmt.Fprintf(&e, "w%05d,%s,e%d\n", i/3, t0.Add(time.Duration(i)*time.Minute).Format(time.DateTime), i%5)
	}
	path := filepath.Join(dir, "events.csv")
	if err := os.WriteFile(path, []byte(e.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	srcs := map[Table]Source{Events: {Format: "csv", Path: path,
		Columns: map[string]string{"customer_id": "customer_id", "occurred_at": "occurred_at", "event_type": "event_type"}}}
	big, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "big"), Shards: 1, Sources: srcs})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	tiny, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "tiny"), Shards: 1, Sources: srcs,
		MemoryBudget: 1, fanIn: 4, Progress: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(lines, "\n")
	for _, w := range []string{"chunks and merged", "sorted runs; merging them 4 at a time"} {
		if !strings.Contains(all, w) {
			t.Fatalf("progress has no %q:\n%s", w, all)
		}
	}
	if strings.Count(all, "merging them 4 at a time") < 2 {
		t.Fatalf("want merges of both the sorted runs and a bucket's chunks:\n%s", all)
	}
	a, err := os.ReadFile(ShardPath(big.Snapshot, Events, 0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ShardPath(tiny.Snapshot, Events, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%d bytes in memory, %d bytes from spills: files differ", len(a), len(b))
	}
}
