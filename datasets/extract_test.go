package datasets

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// exitCode mirrors cmd/retain: ExitCode() wins, BadInput() means 2, else 1.
func exitCode(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	var bi interface{ BadInput() bool }
	if errors.As(err, &bi) && bi.BadInput() {
		return 2
	}
	return 1
}

var ordersCols = map[string]string{"customer_id": "customer_id", "order_id": "order_id", "ordered_at": "ordered_at", "amount": "amount"}

func extractCSV(t *testing.T, content []byte, name string, src Source) (*ExtractSummary, string, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	src.Format = "csv"
	src.Path = path
	if src.Columns == nil {
		src.Columns = ordersCols
	}
	sum, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "data"), Shards: 4, Sources: map[Table]Source{Orders: src}})
	return sum, dir, err
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func goodRows(n int) string {
	var s strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&s, "o%d,c%d,2024-01-%02d 10:00:00,%d.5\n", i, i%37, i%28+1, i)
	}
	return s.String()
}

const hdr = "order_id,customer_id,ordered_at,amount\n"

// TestMalformedInputs: each malformed input gives a message naming the file
// and the line or column, and exit status 2; tolerable ones extract.
func TestMalformedInputs(t *testing.T) {
	truncated := gz([]byte(hdr + goodRows(5000)))
	truncated = truncated[:len(truncated)/2]
	quotedNL := hdr + goodRows(100) + "o900,\"c\n1\",2024-02-01 10:00:00,3\n" + "o901,c5,2024-02-30 10:00:00,3\n" + goodRows(100)
	cases := []struct {
		name     string
		file     string
		content  []byte
		src      Source
		wantErr  []string // substrings of the message; nil = success
		wantRows int64
		wantQ    int64
	}{
		{name: "wrong types", file: "o.csv", content: []byte(hdr + strings.ReplaceAll(goodRows(50), ".5\n", ".5x\n")),
			wantErr: []string{"o.csv", "line 2", `"amount"`, "not a number", "max_bad_row_share"}},
		{name: "missing column", file: "o.csv", content: []byte("order_id,customer_id,ordered_at\no1,c1,2024-01-01\n"),
			wantErr: []string{"o.csv", `column "amount"`, "not in the source", "sources.orders.columns.amount"}},
		{name: "unknown mapped column", file: "o.csv", content: []byte(hdr + goodRows(3)), src: Source{Columns: map[string]string{"customer_id": "cust", "ordered_at": "ordered_at", "amount": "amount"}},
			wantErr: []string{"o.csv", `column "cust"`, "not in the source"}},
		{name: "unrecognisable dates", file: "o.csv", content: []byte(hdr + strings.ReplaceAll(goodRows(20), "2024-01-", "Jan x ")),
			wantErr: []string{"o.csv", `column "ordered_at"`, "cannot recognise the date format", "time_format"}},
		{name: "dates not in the configured format", file: "o.csv", content: []byte(hdr + goodRows(20)), src: Source{TimeFormat: "%d/%m/%Y"},
			wantErr: []string{"o.csv", `column "ordered_at"`, "no value parses", "time_format"}},
		{name: "bad dates over the share", file: "o.csv", content: []byte(hdr + goodRows(200) + strings.Repeat("o999,c2,2024-13-45 99:00:00,1.0\n", 20)),
			wantErr: []string{"o.csv", "20 of 220 rows", "line 202", `"ordered_at"`, "2024-13-45 99:00:00"}},
		{name: "bad dates under the share", file: "o.csv", content: []byte(hdr + goodRows(200) + "o999,c2,2024-13-45 99:00:00,1.0\n"), wantRows: 200, wantQ: 1},
		{name: "truncated gzip", file: "o.csv.gz", content: truncated, wantErr: []string{"o.csv.gz", "truncated or corrupt gzip"}},
		{name: "corrupt gzip data", file: "o.csv.gz", content: []byte("\x1f\x8b\bA0000002A00"), wantErr: []string{"o.csv.gz", "truncated or corrupt gzip"}},
		{name: "not gzip", file: "o.csv.gz", content: []byte(hdr), wantErr: []string{"o.csv.gz", "not gzip"}},
		{name: "empty file", file: "o.csv", content: nil, wantErr: []string{"o.csv", "file is empty"}},
		{name: "blank file", file: "o.csv", content: []byte("\n\n"), wantErr: []string{"o.csv", "file is empty"}},
		{name: "duplicate header", file: "o.csv", content: []byte("order_id,customer_id,ordered_at,amount,customer_id\no1,c1,2024-01-01,1,c1\n"),
			wantErr: []string{"o.csv", "line 1", `column "customer_id"`, "duplicate header name"}},
		{name: "BOM", file: "o.csv", content: []byte("\xef\xbb\xbf" + hdr + goodRows(10)), wantRows: 10},
		{name: "CRLF", file: "o.csv", content: []byte(strings.ReplaceAll(hdr+goodRows(10), "\n", "\r\n")), wantRows: 10},
		{name: "gzip", file: "o.csv.gz", content: gz([]byte(hdr + goodRows(10))), wantRows: 10},
		{name: "quoted newlines", file: "o.csv", content: []byte(quotedNL), src: Source{}, wantRows: 101, wantQ: 1},
		{name: "ragged rows", file: "o.csv", content: []byte(hdr + goodRows(300) + "o1,c1\n"), wantRows: 300, wantQ: 1},
		{name: "unterminated quote", file: "o.csv", content: []byte(hdr + "o1,\"c1,2024-01-01,1\n"), wantErr: []string{"o.csv", "1 of 1 rows", "unterminated quoted field"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sum, dir, err := extractCSV(t, tc.content, tc.file, tc.src)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("extract succeeded, want an error with %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("message %q lacks %q", err, w)
					}
				}
				if c := exitCode(err); c != 2 {
					t.Errorf("exit status %d, want 2 (%v)", c, err)
				}
				if _, serr := os.Stat(filepath.Join(dir, "data", "snapshot", "manifest.json")); serr == nil {
					t.Errorf("a failed extract left a snapshot")
				}
				return
			}
			if err != nil {
				t.Fatalf("extract: %v", err)
			}
			ts := sum.Tables[Orders]
			if ts.Rows != tc.wantRows || ts.Quarantined != tc.wantQ {
				t.Fatalf("rows %d quarantined %d, want %d and %d", ts.Rows, ts.Quarantined, tc.wantRows, tc.wantQ)
			}
			if ts.Read != ts.Kept+ts.Quarantined+sumMap(ts.Filtered) {
				t.Errorf("accounting: read %d != kept %d + quarantined %d + filtered %v", ts.Read, ts.Kept, ts.Quarantined, ts.Filtered)
			}
			if tc.wantQ > 0 {
				q, err := os.ReadFile(filepath.Join(dir, "data", "quarantine", "orders.csv"))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(string(q), "file,line,column,value,reason\n") || bytes.Count(q, []byte("\n")) < 2 {
					t.Errorf("quarantine file:\n%s", q)
				}
				if tc.name == "quoted newlines" && !strings.Contains(string(q), ",104,ordered_at,2024-02-30 10:00:00,") {
					t.Errorf("quoted newline miscounted lines; quarantine:\n%s", q)
				}
			}
			snap, err := OpenSnapshot(sum.Snapshot)
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			for i, f := range snap.Files[Orders] {
				n += int64(len(checkSorted(t, f, i, 4, "ordered_at")))
			}
			if n != tc.wantRows {
				t.Errorf("snapshot holds %d rows, want %d", n, tc.wantRows)
			}
		})
	}
}

func TestFiltersRollUpAndNoOp(t *testing.T) {
	csv := "Invoice,Cust,When,Qty,Price,SKU\n" +
		"1,a,2024-01-02 10:00:00,2,1.5,p1\n" +
		"2,b,2024-01-01 09:00:00,1,10,p1\n" +
		"1,a,2024-01-02 10:05:00,3,1,p2\n" + // same order, later line
		"3,a,2024-01-01 08:00:00,1,4,p1\n" +
		"1,a,2024-01-02 10:06:00,1,1,p1\n" +
		"C4,a,2024-01-03 10:00:00,-1,4,p1\n" +
		"5,,2024-01-03 10:00:00,1,4,p1\n" +
		"6,b,2024-01-03 10:00:00,0,4,p1\n"
	z := 0.0
	src := Source{Columns: map[string]string{"customer_id": "Cust", "order_id": "Invoice", "ordered_at": "When", "amount": "Qty * Price", "quantity": "Qty", "product": "SKU"},
		Filters: []Filter{{Name: "cancellations", Column: "Invoice", StartsWith: "C"}, {Name: "no_customer", Column: "customer_id", Empty: true}, {Name: "non_positive", Column: "Qty", LE: &z}}}
	sum, dir, err := extractCSV(t, []byte(csv), "lines.csv", src)
	if err != nil {
		t.Fatal(err)
	}
	ts := sum.Tables[Orders]
	want := map[string]int64{"cancellations": 1, "no_customer": 1, "non_positive": 1}
	for k, v := range want {
		if ts.Filtered[k] != v {
			t.Errorf("filtered %s = %d, want %d (%v)", k, ts.Filtered[k], v, ts.Filtered)
		}
	}
	if ts.Read != 8 || ts.Kept != 5 || ts.Rows != 3 || !ts.RolledUp {
		t.Fatalf("read %d kept %d rows %d rolled up %v, want 8 5 3 true", ts.Read, ts.Kept, ts.Rows, ts.RolledUp)
	}
	snap, err := OpenSnapshot(sum.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range snap.Files[Orders] {
		tbl := readShard(t, f)
		tr := array.NewTableReader(tbl, -1)
		for tr.Next() {
			rec := tr.RecordBatch()
			col := func(n string) any { return rec.Column(indexOfField(rec.Schema(), n)) }
			for i := 0; i < int(rec.NumRows()); i++ {
				oid := col("order_id").(*array.String).Value(i)
				got[oid] = fmt.Sprintf("%s %s amount=%g qty=%g lines=%d distinct=%d product=%s",
					col("customer_id").(*array.String).Value(i),
					col("ordered_at").(*array.Timestamp).Value(i).ToTime(arrow.Microsecond).UTC().Format("01-02 15:04"),
					col("amount").(*array.Float64).Value(i), col("quantity").(*array.Float64).Value(i),
					col("lines").(*array.Int64).Value(i), col("distinct_products").(*array.Int64).Value(i),
					col("product").(*array.String).Value(i))
			}
		}
		tr.Release()
		tbl.Release()
	}
	wantRows := map[string]string{
		"1": "a 01-02 10:00 amount=7 qty=6 lines=3 distinct=2 product=p1",
		"2": "b 01-01 09:00 amount=10 qty=1 lines=1 distinct=1 product=p1",
		"3": "a 01-01 08:00 amount=4 qty=1 lines=1 distinct=1 product=p1",
	}
	for k, v := range wantRows {
		if got[k] != v {
			t.Errorf("order %s: got %q, want %q", k, got[k], v)
		}
	}
	// unchanged sources: a no-op that says so
	sum2, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "data"), Shards: 4, Sources: map[Table]Source{Orders: withPath(src, filepath.Join(dir, "lines.csv"))}})
	if err != nil {
		t.Fatal(err)
	}
	if !sum2.Unchanged || sum2.Tables[Orders].Rows != 3 {
		t.Fatalf("second extract: unchanged %v rows %d, want a no-op", sum2.Unchanged, sum2.Tables[Orders].Rows)
	}
	// a changed config re-extracts
	sum3, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "data"), Shards: 2, Sources: map[Table]Source{Orders: withPath(src, filepath.Join(dir, "lines.csv"))}})
	if err != nil {
		t.Fatal(err)
	}
	if sum3.Unchanged || len(sum3.Tables[Orders].ShardRows) != 2 {
		t.Fatalf("changed shards did not re-extract: %+v", sum3)
	}
}

func withPath(s Source, p string) Source {
	s.Format = "csv"
	s.Path = p
	return s
}

func TestWhitespaceHeaderless(t *testing.T) {
	data := " 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n 00021 0002 19970101  3   63.34\r\n"
	no := false
	src := Source{Delimiter: "whitespace", Header: &no, TimeFormat: "20060102", Columns: map[string]string{"customer_id": "2", "ordered_at": "3", "quantity": "4", "amount": "$5"}}
	sum, _, err := extractCSV(t, []byte(data), "cdnow.txt", src)
	if err != nil {
		t.Fatal(err)
	}
	ts := sum.Tables[Orders]
	if ts.Rows != 3 || ts.MinTime.Format("2006-01-02") != "1997-01-01" || ts.MaxTime.Format("2006-01-02") != "1997-01-18" {
		t.Fatalf("got %+v", ts)
	}
}

func TestTimeZone(t *testing.T) {
	data := hdr + "o1,c1,2011-07-01 00:30:00,1\no2,c1,2011-01-01 00:30:00,1\n"
	sum, _, err := extractCSV(t, []byte(data), "o.csv", Source{TimeZone: "Europe/London"})
	if err != nil {
		t.Fatal(err)
	}
	ts := sum.Tables[Orders]
	if got := ts.MaxTime.Format(time.RFC3339); got != "2011-06-30T23:30:00Z" {
		t.Errorf("BST time stored as %s, want 2011-06-30T23:30:00Z", got)
	}
	if got := ts.MinTime.Format(time.RFC3339); got != "2011-01-01T00:30:00Z" {
		t.Errorf("GMT time stored as %s", got)
	}
}

// TestOnlineRetailExample extracts the real Online Retail file with the
// example config's mapping and checks the row accounting and the population
// the features step relies on (3,362 customers buying before 2011-09-09).
func TestOnlineRetailExample(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "datasets", "online_retail", "online_retail.csv.gz")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("skipping: %s not found (../shared is not next to the project)", path)
	}
	z := 0.0
	src := Source{Format: "csv", Path: path, TimeFormat: "2006-01-02 15:04:05", TimeZone: "Europe/London", Currency: "GBP",
		Columns: map[string]string{"customer_id": "CustomerID", "order_id": "InvoiceNo", "ordered_at": "InvoiceDate", "amount": "Quantity * UnitPrice", "quantity": "Quantity", "product": "StockCode"},
		Filters: []Filter{{Name: "cancellations", Column: "InvoiceNo", StartsWith: "C"}, {Name: "non_positive_quantity", Column: "Quantity", LE: &z}, {Name: "no_customer", Column: "CustomerID", Empty: true}}}
	sum, err := Extract(context.Background(), ExtractConfig{DataDir: t.TempDir(), Sources: map[Table]Source{Orders: src},
		Progress: func(f string, a ...any) { t.Logf(f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	ts := sum.Tables[Orders]
	t.Logf("read %d, filtered %v, quarantined %d, kept %d lines → %d orders", ts.Read, ts.Filtered, ts.Quarantined, ts.Kept, ts.Rows)
	if ts.Read != 541909 || ts.Quarantined != 0 || ts.Kept+sumMap(ts.Filtered) != ts.Read {
		t.Fatalf("accounting: %+v", ts)
	}
	if ts.Filtered["cancellations"] != 9288 {
		t.Errorf("cancellations filtered %d, want 9288 (README)", ts.Filtered["cancellations"])
	}
	snap, err := OpenSnapshot(sum.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	cut := time.Date(2011, 9, 9, 0, 0, 0, 0, time.UTC).UnixMicro()
	seen := map[string]bool{}
	for i, f := range snap.Files[Orders] {
		for _, r := range checkSorted(t, f, i, 8, "ordered_at") {
			if r.t < cut {
				seen[r.id] = true
			}
		}
	}
	if len(seen) != 3362 {
		t.Errorf("%d customers with a purchase before 2011-09-09, want 3362", len(seen))
	}
}
