package datasets

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// scatterSource is a block of n rows of an orders-like layout (two ids, a
// time, two floats, two short strings), some values null, with a shard per
// row (-1 for rows not kept).
func scatterSource(n, shards int, seed uint64) (*block, []int32, []Kind, []bool) {
	kinds := []Kind{String, String, Time, Float, Float, String, String}
	present := []bool{true, true, true, true, true, true, true}
	rng := rand.New(rand.NewPCG(seed, 7))
	b := newBlock(len(kinds))
	shard := make([]int32, n)
	for r := 0; r < n; r++ {
		vals := []string{fmt.Sprintf("o%d", rng.IntN(20_000_000)), fmt.Sprintf("c%d", rng.IntN(1_000_000)), "", "", "",
			fmt.Sprintf("p%d", rng.IntN(4000)), []string{"web", "app", "store", "a much longer channel name here"}[rng.IntN(4)]}
		for k, kind := range kinds {
			c := &b.cols[k]
			c.null = append(c.null, rng.IntN(50) == 0)
			switch kind {
			case String:
				c.dat = append(c.dat, vals[k]...)
				c.off = append(c.off, uint32(len(c.dat)))
			case Float:
				c.f = append(c.f, rng.Float64()*100)
			default:
				c.i = append(c.i, rng.Int64())
			}
		}
		b.line = append(b.line, int64(r+2))
		b.n++
		shard[r] = int32(rng.IntN(shards))
		if rng.IntN(20) == 0 {
			shard[r] = -1
		}
	}
	return b, shard, kinds, present
}

// TestScatterMatchesRowByRow: scatter appends each kept row onto its
// shard's block as appendRow would, over several calls onto buffers that
// already hold rows.
func TestScatterMatchesRowByRow(t *testing.T) {
	for _, shards := range []int{1, 3, 8} {
		src, shard, kinds, present := scatterSource(5000, shards, uint64(shards))
		got, want := make([]*block, shards), make([]*block, shards)
		for s := range got {
			got[s], want[s] = newBlock(len(kinds)), newBlock(len(kinds))
		}
		for lo := 0; lo < src.n; lo += 777 {
			hi := min(lo+777, src.n)
			scatter(src, shard, lo, hi, got, kinds, present)
			for r := lo; r < hi; r++ {
				if s := shard[r]; s >= 0 {
					want[s].appendRow(src, r, kinds, present)
				}
			}
		}
		for s := range got {
			if err := sameBlock(got[s], want[s], kinds, present); err != nil {
				t.Fatalf("%d shards, shard %d: %v", shards, s, err)
			}
		}
	}
}

func sameBlock(a, b *block, kinds []Kind, present []bool) error {
	if a.n != b.n || len(a.line) != len(b.line) {
		return fmt.Errorf("%d rows, want %d", a.n, b.n)
	}
	for r := 0; r < a.n; r++ {
		if a.line[r] != b.line[r] {
			return fmt.Errorf("row %d: line %d, want %d", r, a.line[r], b.line[r])
		}
		for k, ok := range present {
			if !ok {
				continue
			}
			x, y := &a.cols[k], &b.cols[k]
			if x.null[r] != y.null[r] {
				return fmt.Errorf("row %d col %d: null %v, want %v", r, k, x.null[r], y.null[r])
			}
			switch kinds[k] {
			case String:
				if string(x.str(r)) != string(y.str(r)) {
					return fmt.Errorf("row %d col %d: %q, want %q", r, k, x.str(r), y.str(r))
				}
			case Float:
				if x.f[r] != y.f[r] {
					return fmt.Errorf("row %d col %d: %v, want %v", r, k, x.f[r], y.f[r])
				}
			default:
				if x.i[r] != y.i[r] {
					return fmt.Errorf("row %d col %d: %v, want %v", r, k, x.i[r], y.i[r])
				}
			}
		}
	}
	return nil
}

// BenchmarkScatter partitions 64k orders-like rows over 8 shards, in the
// converter's 4096-row steps.
func BenchmarkScatter(b *testing.B) {
	src, shard, kinds, present := scatterSource(1<<16, 8, 1)
	bufs := make([]*block, 8)
	for s := range bufs {
		bufs[s] = newBlock(len(kinds))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, sb := range bufs {
			sb.reset()
		}
		for lo := 0; lo < src.n; lo += scatterRows {
			scatter(src, shard, lo, min(lo+scatterRows, src.n), bufs, kinds, present)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(src.n), "ns/row")
}

// TestExtractProgressWhileLong: a long read says how many rows it has read
// (of how many, for Parquet) and a long shard write how many shards are
// written, at the progress interval; the row accounting is unchanged.
func TestExtractProgressWhileLong(t *testing.T) {
	for _, format := range []string{"csv", "parquet"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			src := Source{Format: format, Path: filepath.Join(dir, "orders."+format),
				Columns: map[string]string{"customer_id": "customer_id", "order_id": "order_id", "ordered_at": "ordered_at", "amount": "quantity * unit_price"}}
			if format == "csv" {
				src.TimeFormat = "2006-01-02 15:04:05"
				writeBenchCSV(t, src.Path, 300_000)
			} else {
				writeBenchParquet(t, src.Path, 300_000)
			}
			var mu sync.Mutex
			var lines []string
			sum, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "data"), MemoryBudget: 4 << 20,
				progressEvery: time.Millisecond, Sources: map[Table]Source{Orders: src},
				Progress: func(f string, a ...any) { mu.Lock(); lines = append(lines, fmt.Sprintf(f, a...)); mu.Unlock() }})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Tables[Orders].Read != 300_000 || sum.Tables[Orders].Kept != 300_000 {
				t.Fatalf("read %d, kept %d", sum.Tables[Orders].Read, sum.Tables[Orders].Kept)
			}
			mu.Lock()
			defer mu.Unlock()
			read, shards := false, false
			for _, l := range lines {
				read = read || strings.Contains(l, "rows so far") && (format == "csv" || strings.Contains(l, "of 300000 rows"))
				shards = shards || strings.Contains(l, "shards written")
			}
			if !read || !shards {
				t.Fatalf("progress lines (read %v, shards %v):\n%s", read, shards, strings.Join(lines, "\n"))
			}
		})
	}
}
