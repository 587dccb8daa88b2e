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

// TestParquetTextColumns: text columns are read through column chunk
// readers — dictionary-encoded, overflowed to plain pages mid-chunk,
// nullable, over several row groups and pages — and give the values
// (nulls included) and line numbers of pqarrow's string arrays; so do
// files whose every column is text.
func TestParquetTextColumns(t *testing.T) {
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
	props := parquet.NewWriterProperties(parquet.WithDictionaryPageSizeLimit(4<<10), parquet.WithMaxRowGroupLength(3000), parquet.WithDataPageSize(2<<10))
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
	if want := []bool{true, true, true, false}; !slices.Equal(p.text, want) {
		t.Fatalf("text columns %v, want %v", p.text, want)
	}
	read := func(cols []int) []string {
		var mu sync.Mutex
		var out []string
		err := p.run(context.Background(), cols, func(_ int, b *rawBatch) error {
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
	for _, cols := range [][]int{{0, 1, 2, 3}, {2, 0, 1}, {3}} {
		text := p.text
		got := read(cols)
		p.text = nil
		want := read(cols)
		p.text = text
		if len(got) != 10_000 || !slices.Equal(got, want) {
			t.Fatalf("columns %v: column chunk readers %d rows, pqarrow %d; first %q vs %q", cols, len(got), len(want), got[0], want[0])
		}
		if len(cols) == 4 && !slices.Contains(got, "8|store|order-0000007||7") {
			t.Errorf("row 8 (a null product) missing")
		}
	}
}

// TestArrowToRawDictionary: a dictionary-typed text column (as pqarrow
// returns for files whose stored Arrow schema has one) expands to its
// values, a null to empty text.
func TestArrowToRawDictionary(t *testing.T) {
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}
	bld := array.NewDictionaryBuilder(memory.DefaultAllocator, dt).(*array.BinaryDictionaryBuilder)
	for _, v := range []string{"web", "store", "", "web", "app"} {
		if v == "" {
			bld.AppendNull()
		} else if err := bld.AppendString(v); err != nil {
			t.Fatal(err)
		}
	}
	a := bld.NewArray()
	defer a.Release()
	var c rawCol
	if err := arrowToRaw(&c, a); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range 5 {
		got = append(got, string(c.text(i)))
	}
	if want := []string{"web", "store", "", "web", "app"}; !slices.Equal(got, want) || !c.isNull(2) {
		t.Fatalf("got %q (null %v), want %q", got, c.isNull(2), want)
	}
}
