package datasets

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// writeBenchCSV writes n order lines of n/20 customers (deterministic).
func writeBenchCSV(tb testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("order_id,customer_id,ordered_at,quantity,unit_price,product\n")
	t0 := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	x := uint64(88172645463325252)
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		c := x % uint64(max(n/20, 1))
		at := t0.Add(time.Duration(x%(3*365*86400)) * time.Second)
		fmt.Fprintf(w, "o%d,c%d,%s,%d,%d.%02d,p%d\n", i, c, at.Format("2006-01-02 15:04:05"), 1+x%5, x%50, x%100, x%4000)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

// BenchmarkExtractCSV extracts order lines from CSV into an 8-shard snapshot
// (read, parse, partition, sort, roll up, write zstd Parquet). The 20M-row
// figures come from bench/cases/extract.sh.
func BenchmarkExtractCSV(b *testing.B) {
	benchExtract(b, "orders.csv", writeBenchCSV, Source{Format: "csv", TimeFormat: "2006-01-02 15:04:05"})
}

// BenchmarkExtractCSVSpill is BenchmarkExtractCSV for 1M rows with a 16 MB
// memory budget, so nearly every row is spilled: the rows arrive in random
// customer order and go to key-range buckets, sorted bucket by bucket when
// the shards are written.
func BenchmarkExtractCSVSpill(b *testing.B) {
	benchExtractBudget(b, "orders.csv", writeBenchCSV, Source{Format: "csv", TimeFormat: "2006-01-02 15:04:05"}, []int{1_000_000}, 16<<20)
}

// benchExtract extracts n generated order lines, written by write to file in
// a temporary folder and read through src (its path and columns set here),
// for 100k and 1M rows, reporting rows/s and CPU seconds per extract.
func benchExtract(b *testing.B, file string, write func(testing.TB, string, int), src Source) {
	benchExtractBudget(b, file, write, src, []int{100_000, 1_000_000}, 0)
}

// benchExtractBudget is benchExtract for the given sizes and memory budget
// (0: the default).
func benchExtractBudget(b *testing.B, file string, write func(testing.TB, string, int), src Source, sizes []int, budget int64) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			src := src
			src.Path = filepath.Join(dir, file)
			write(b, src.Path, n)
			src.Columns = map[string]string{"customer_id": "customer_id", "order_id": "order_id", "ordered_at": "ordered_at", "amount": "quantity * unit_price", "quantity": "quantity", "product": "product"}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				if _, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "data"), Force: true, MemoryBudget: budget, Sources: map[Table]Source{Orders: src}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			// CPU seconds per op: steadier than wall time on a shared machine.
			b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
		})
	}
}

// writeBenchParquet writes the same order lines as writeBenchCSV as a
// Parquet file (typed columns: times as timestamps, numbers as doubles).
func writeBenchParquet(tb testing.TB, path string, n int) {
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "order_id", Type: arrow.BinaryTypes.String},
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ordered_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "quantity", Type: arrow.PrimitiveTypes.Float64},
		{Name: "unit_price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "product", Type: arrow.BinaryTypes.String},
	}, nil)
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithMaxRowGroupLength(128<<10))
	fw, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		tb.Fatal(err)
	}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	t0 := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	x := uint64(88172645463325252)
	flush := func() {
		rec := b.NewRecordBatch()
		defer rec.Release()
		if err := fw.Write(rec); err != nil {
			tb.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		c := x % uint64(max(n/20, 1))
		at := t0.Add(time.Duration(x%(3*365*86400)) * time.Second)
		b.Field(0).(*array.StringBuilder).Append("o" + strconv.Itoa(i))
		b.Field(1).(*array.StringBuilder).Append("c" + strconv.FormatUint(c, 10))
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(at.UnixMicro()))
		b.Field(3).(*array.Float64Builder).Append(float64(1 + x%5))
		b.Field(4).(*array.Float64Builder).Append(float64(x%50) + float64(x%100)/100)
		b.Field(5).(*array.StringBuilder).Append("p" + strconv.FormatUint(x%4000, 10))
		if (i+1)%(64<<10) == 0 {
			flush()
		}
	}
	flush()
	if err := fw.Close(); err != nil {
		tb.Fatal(err)
	}
}

// cpuSeconds is the user+system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkExtractParquet is BenchmarkExtractCSV from a Parquet source.
func BenchmarkExtractParquet(b *testing.B) {
	benchExtract(b, "orders.parquet", writeBenchParquet, Source{Format: "parquet"})
}
