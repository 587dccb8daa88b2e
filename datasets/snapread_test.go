package datasets

import (
	"bytes"
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// readShard reads one shard file whole (tests only).
func readShard(t testing.TB, path string) arrow.Table {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// checkSorted asserts a shard's rows are sorted by (customer_id bytes, time)
// and each customer is in the right shard; it returns the rows.
func checkSorted(t testing.TB, path string, shard, shards int, timeCol string) []snapRow {
	t.Helper()
	tbl := readShard(t, path)
	defer tbl.Release()
	tr := array.NewTableReader(tbl, -1)
	defer tr.Release()
	var rows []snapRow
	for tr.Next() {
		rec := tr.RecordBatch()
		ids := rec.Column(int(indexOfField(rec.Schema(), "customer_id"))).(*array.String)
		var ts *array.Timestamp
		if timeCol != "" {
			ts = rec.Column(indexOfField(rec.Schema(), timeCol)).(*array.Timestamp)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			r := snapRow{id: ids.Value(i)}
			if ts != nil && ts.IsValid(i) {
				r.t = int64(ts.Value(i))
			}
			rows = append(rows, r)
		}
	}
	for i, r := range rows {
		if ShardOf(r.id, shards) != shard {
			t.Fatalf("%s: customer %q belongs to shard %d", path, r.id, ShardOf(r.id, shards))
		}
		if i > 0 {
			p := rows[i-1]
			c := bytes.Compare([]byte(p.id), []byte(r.id))
			if c > 0 || c == 0 && p.t > r.t {
				t.Fatalf("%s: rows %d,%d out of order: %v then %v", path, i-1, i, p, r)
			}
		}
	}
	return rows
}

type snapRow struct {
	id string
	t  int64
}

func indexOfField(s *arrow.Schema, name string) int {
	idx := s.FieldIndices(name)
	if len(idx) == 0 {
		return -1
	}
	return idx[0]
}
