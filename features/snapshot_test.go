package features

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/retainlab/retain/datasets"
)

// rec is one canonical row in tests: column name → value (string, float64,
// int64, bool, time.Time; absent = null).
type rec map[string]any

// history is a hand-made or random set of canonical rows per table.
type history map[datasets.Table][]rec

func (h history) clone() history {
	out := history{}
	for t, rows := range h {
		for _, r := range rows {
			c := rec{}
			for k, v := range r {
				c[k] = v
			}
			out[t] = append(out[t], c)
		}
	}
	return out
}

// writeSnapshot writes h as a snapshot in the layout of docs/ARCHITECTURE.md:
// <dir>/<table>/part-NNNNN.parquet, schema datasets.Specs[t].ArrowSchema(),
// rows sorted by (customer_id, time), zstd.
func writeSnapshot(t testing.TB, dir string, h history, shards int) {
	t.Helper()
	for table, rows := range h {
		spec := datasets.Specs[table]
		byShard := make([][]rec, shards)
		for _, r := range rows {
			s := datasets.ShardOf(r["customer_id"].(string), shards)
			byShard[s] = append(byShard[s], r)
		}
		if err := os.MkdirAll(filepath.Join(dir, string(table)), 0o755); err != nil {
			t.Fatal(err)
		}
		for s, rs := range byShard {
			sort.SliceStable(rs, func(a, b int) bool {
				ia, ib := rs[a]["customer_id"].(string), rs[b]["customer_id"].(string)
				if c := bytes.Compare([]byte(ia), []byte(ib)); c != 0 {
					return c < 0
				}
				ta, _ := rs[a][spec.TimeCol].(time.Time)
				tb, _ := rs[b][spec.TimeCol].(time.Time)
				return ta.Before(tb)
			})
			writeShardFile(t, datasets.ShardPath(dir, table, s), spec, rs)
		}
	}
}

func writeShardFile(t testing.TB, path string, spec datasets.TableSpec, rows []rec) {
	t.Helper()
	schema := spec.ArrowSchema()
	mem := memory.NewGoAllocator()
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, r := range rows {
		for j, c := range spec.Columns {
			v, ok := r[c.Name]
			fb := b.Field(j)
			if !ok || v == nil {
				fb.AppendNull()
				continue
			}
			switch c.Kind {
			case datasets.String:
				fb.(*array.StringBuilder).Append(v.(string))
			case datasets.Float:
				fb.(*array.Float64Builder).Append(v.(float64))
			case datasets.Int:
				fb.(*array.Int64Builder).Append(v.(int64))
			case datasets.Bool:
				fb.(*array.BooleanBuilder).Append(v.(bool))
			case datasets.Time:
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(v.(time.Time).UnixMicro()))
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithMaxRowGroupLength(50))
	w, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(fmt.Sprintf("bad test date %q", s))
	}
	return t
}
