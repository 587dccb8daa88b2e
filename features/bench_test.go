package features

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
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

	"github.com/retainlab/retain/datasets"
)

// writeSyntheticOrders writes an orders-only snapshot in the canonical
// schema: customers × ordersPer orders on average, 2023-01-01 .. 2025-01-01,
// every optional column filled, sorted by (customer_id, ordered_at).
func writeSyntheticOrders(tb testing.TB, dir string, customers, ordersPer, shards int, seed uint64) int {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	ids := make([][]string, shards)
	for c := 0; c < customers; c++ {
		id := fmt.Sprintf("C%08d", c)
		s := datasets.ShardOf(id, shards)
		ids[s] = append(ids[s], id)
	}
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	span := int64(730) * dayUS
	channels := []string{"web", "app", "store", "phone"}
	schema := datasets.Specs[datasets.Orders].ArrowSchema()
	if err := os.MkdirAll(filepath.Join(dir, "orders"), 0o755); err != nil {
		tb.Fatal(err)
	}
	total := 0
	for s := 0; s < shards; s++ {
		sort.Strings(ids[s])
		mem := memory.NewGoAllocator()
		b := array.NewRecordBuilder(mem, schema)
		for _, id := range ids[s] {
			n := 1 + rng.IntN(2*ordersPer-1)
			times := make([]int64, n)
			for i := range times {
				times[i] = start + rng.Int64N(span)
			}
			sort.Slice(times, func(a, c int) bool { return times[a] < times[c] })
			for i, t := range times {
				b.Field(0).(*array.StringBuilder).Append(id)
				b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(t))
				b.Field(2).(*array.StringBuilder).Append(id + "-" + strconv.Itoa(i))
				amt := float64(rng.IntN(20000)) / 100
				b.Field(3).(*array.Float64Builder).Append(amt)
				b.Field(4).(*array.Float64Builder).Append(float64(1 + rng.IntN(5)))
				b.Field(5).(*array.StringBuilder).Append("P" + strconv.Itoa(rng.IntN(4000)))
				b.Field(6).(*array.StringBuilder).Append("cat" + strconv.Itoa(rng.IntN(20)))
				b.Field(7).(*array.StringBuilder).Append(channels[rng.IntN(len(channels))])
				b.Field(8).(*array.Float64Builder).Append(float64(rng.IntN(3)) * 2.5)
				b.Field(9).(*array.BooleanBuilder).Append(rng.IntN(50) == 0)
				b.Field(10).(*array.Int64Builder).Append(int64(1 + rng.IntN(4)))
				b.Field(11).(*array.Int64Builder).Append(int64(1 + rng.IntN(3)))
			}
			total += n
		}
		rec := b.NewRecordBatch()
		f, err := os.Create(datasets.ShardPath(dir, datasets.Orders, s))
		if err != nil {
			tb.Fatal(err)
		}
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithMaxRowGroupLength(1<<20))
		w, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.DefaultWriterProps())
		if err != nil {
			tb.Fatal(err)
		}
		if err := w.Write(rec); err != nil {
			tb.Fatal(err)
		}
		if err := w.Close(); err != nil {
			tb.Fatal(err)
		}
		rec.Release()
		b.Release()
	}
	return total
}

// BenchmarkBuild builds the full order feature set over a synthetic
// snapshot (100k customers, ~2M orders; FEATURES_BENCH_CUSTOMERS overrides)
// and reports order rows per second.
func BenchmarkBuild(b *testing.B) {
	customers := 100_000
	if v, err := strconv.Atoi(os.Getenv("FEATURES_BENCH_CUSTOMERS")); err == nil && v > 0 {
		customers = v
	}
	dir := b.TempDir()
	rows := writeSyntheticOrders(b, dir, customers, 20, 8, 1)
	D := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				f, err := Build(context.Background(), dir, Options{Cutoffs: []time.Time{D}, Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				if f.Rows() == 0 {
					b.Fatal("no rows")
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
			b.ReportMetric(float64(rows)*float64(b.N)/(cpuSeconds()-cpu0), "orders/cpu-s")
		})
	}
}

// cpuSeconds is the process's user+system CPU time: on the shared, loaded
// machine it compares runs more fairly than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// BenchmarkBuildSnapshot builds and writes the features of an existing
// snapshot (FEATURES_BENCH_SNAPSHOT=dir, FEATURES_BENCH_AS_OF=YYYY-MM-DD);
// skipped without it. bench/cases/features.sh measures the same through the CLI.
func BenchmarkBuildSnapshot(b *testing.B) {
	dir := os.Getenv("FEATURES_BENCH_SNAPSHOT")
	if dir == "" {
		b.Skip("FEATURES_BENCH_SNAPSHOT not set")
	}
	D, err := time.Parse(time.DateOnly, os.Getenv("FEATURES_BENCH_AS_OF"))
	if err != nil {
		b.Fatal("FEATURES_BENCH_AS_OF: ", err)
	}
	out := filepath.Join(b.TempDir(), "features.parquet")
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		f, err := Build(context.Background(), dir, Options{Cutoffs: []time.Time{D}})
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteFile(context.Background(), out, f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}

// BenchmarkLoadSnapshot only reads what a build reads of an existing
// snapshot (FEATURES_BENCH_SNAPSHOT=dir): the label table's ids, then every
// shard's columns, shards in parallel on FEATURES_BENCH_WORKERS (default 2)
// workers, computing no feature and writing nothing. It is the floor under
// BenchmarkBuildSnapshot: the time a build spends before its first feature.
func BenchmarkLoadSnapshot(b *testing.B) {
	dir := os.Getenv("FEATURES_BENCH_SNAPSHOT")
	if dir == "" {
		b.Skip("FEATURES_BENCH_SNAPSHOT not set")
	}
	workers := 2
	if v, err := strconv.Atoi(os.Getenv("FEATURES_BENCH_WORKERS")); err == nil && v > 0 {
		workers = v
	}
	present, shards, err := snapshotTables(dir)
	if err != nil {
		b.Fatal(err)
	}
	spec := &buildSpec{dir: dir, present: present, lay: newLayout(present), cutoffs: []int64{0}, kind: KindOrders}
	ctx := context.Background()
	rows := 0
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		pre := make([]*labelIDs, shards)
		next := make(chan int, shards)
		errs := make(chan error, workers)
		run := func(f func(s int) error) {
			for s := range shards {
				next <- s
			}
			close(next)
			for range workers {
				go func() {
					var err error
					for s := range next {
						if err == nil {
							err = f(s)
						}
					}
					errs <- err
				}()
			}
			for range workers {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
		}
		run(func(s int) (err error) {
			pre[s], err = readLabelIDs(ctx, spec, datasets.Orders, s)
			return err
		})
		next = make(chan int, shards)
		pool := make(chan *worker, workers)
		for range workers {
			pool <- &worker{spec: spec}
		}
		n := make([]int, shards)
		run(func(s int) error {
			w := <-pool
			defer func() { pool <- w }()
			w.pre, w.preTable = pre[s], datasets.Orders
			if err := w.load(ctx, s); err != nil {
				return err
			}
			if w.ord != nil {
				n[s] = w.ord.n
			}
			return nil
		})
		rows = 0
		for _, v := range n {
			rows += v
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}
