package datasets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// TestParquetDictionaryColumns: text columns whose pages are all
// dictionary-encoded are read as dictionary arrays, a column whose
// dictionary overflowed to plain pages is not, and both ways give the same
// values (nulls included) as reading every column as plain strings.
func TestParquetDictionaryColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.parquet")
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "channel", Type: arrow.BinaryTypes.String},
		{Name: "order_id", Type: arrow.BinaryTypes.String},
		{Name: "product", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithDictionaryPageSizeLimit(4<<10), parquet.WithMaxRowGroupLength(3000))
	w, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for i := 0; i < 10_000; i++ {
		b.Field(0).(*array.StringBuilder).Append([]string{"web", "store", "app"}[i%3])
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("order-%07d", i))
		if i%7 == 0 {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("p%d", i%50))
		}
		b.Field(3).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := openParquet(context.Background(), path, "o.parquet")
	if err != nil {
		t.Fatal(err)
	}
	p := src.(*parquetReader)
	if want := []bool{true, false, true, false}; !slices.Equal(p.dict, want) {
		t.Fatalf("dictionary columns %v, want %v", p.dict, want)
	}
	read := func() []string {
		var mu sync.Mutex
		var out []string
		err := p.run(context.Background(), []int{0, 1, 2, 3}, func(_ int, b *rawBatch) error {
			mu.Lock()
			defer mu.Unlock()
			for i := 0; i < b.n; i++ {
				row := []string{fmt.Sprint(b.line[i])}
				for k := range b.cols {
					row = append(row, rawString(&b.cols[k], i))
				}
				out = append(out, strings.Join(row, "|"))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	got := read()
	p.dict = nil
	want := read()
	if len(got) != 10_000 || !slices.Equal(got, want) {
		t.Fatalf("dictionary read %d rows, plain %d; first %q vs %q", len(got), len(want), got[0], want[0])
	}
	if !slices.Contains(got, "8|store|order-0000007||7") {
		t.Errorf("row 8 (a null product) missing")
	}
}
