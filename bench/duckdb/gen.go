package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/retainlab/retain/datasets"
)

// generate writes a customers + orders snapshot straight in the canonical
// snapshot layout (docs/ARCHITECTURE.md: <dir>/<table>/part-NNNNN.parquet,
// schema datasets.Specs[t].ArrowSchema(), sorted by (customer_id, time),
// zstd), for when `retain generate` + `retain extract` are too slow to run
// at 20M rows on a busy machine. Each customer signs up in 2023-2024, buys
// at a Gamma-distributed weekly rate until a geometric number of purchases
// ends their life; about ordersPer orders per customer on average.
func generate(dir string, customers int, ordersPer float64, shards int, seed uint64) (int, error) {
	rng := rand.New(rand.NewPCG(seed, 2))
	k := ordersPer * 1.75 // calibrated: the window and lifetimes cut the raw rate
	ids := make([][]string, shards)
	for c := 0; c < customers; c++ {
		id := fmt.Sprintf("C%08d", c)
		s := datasets.ShardOf(id, shards)
		ids[s] = append(ids[s], id)
	}
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	end := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	week := int64(7 * 24 * time.Hour / time.Microsecond)
	channels := []string{"web", "app", "store", "phone"}
	countries := []string{"US", "UK", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "CA"}
	segments := []string{"consumer", "small_business", "wholesale"}
	acq := []string{"search", "social", "referral", "email", "direct"}
	total := 0
	for _, t := range []datasets.Table{datasets.Customers, datasets.Orders} {
		if err := os.MkdirAll(filepath.Join(dir, string(t)), 0o755); err != nil {
			return 0, err
		}
	}
	for s := 0; s < shards; s++ {
		sort.Strings(ids[s])
		mem := memory.NewGoAllocator()
		ob := array.NewRecordBuilder(mem, datasets.Specs[datasets.Orders].ArrowSchema())
		cb := array.NewRecordBuilder(mem, datasets.Specs[datasets.Customers].ArrowSchema())
		var times []int64
		for _, id := range ids[s] {
			signup := start + rng.Int64N((end-start)*3/4)
			rate := gamma(rng, 1.5) * k / 1.5 / 80 // orders per week
			life := 1 + int(math.Floor(math.Log(1-rng.Float64())/math.Log(1-1/(k*1.6))))
			times = times[:0]
			t := signup
			for len(times) < life {
				times = append(times, t)
				t += int64(rng.ExpFloat64() / math.Max(rate, 1e-3) * float64(week))
				if t >= end {
					break
				}
			}
			cb.Field(0).(*array.StringBuilder).Append(id)
			cb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(signup))
			cb.Field(2).(*array.StringBuilder).Append(countries[rng.IntN(len(countries))])
			cb.Field(3).(*array.StringBuilder).Append(segments[rng.IntN(len(segments))])
			cb.Field(4).(*array.StringBuilder).Append(acq[rng.IntN(len(acq))])
			cb.Field(5).(*array.Int64Builder).Append(int64(1950 + rng.IntN(55)))
			cb.Field(6).(*array.StringBuilder).Append([]string{"f", "m"}[rng.IntN(2)])
			spend := 20 + 80*gamma(rng, 2)
			for i, t := range times {
				ob.Field(0).(*array.StringBuilder).Append(id)
				ob.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(t))
				ob.Field(2).(*array.StringBuilder).Append(id + "-" + strconv.Itoa(i))
				ob.Field(3).(*array.Float64Builder).Append(math.Round(spend*gamma(rng, 4)/4*100) / 100)
				ob.Field(4).(*array.Float64Builder).Append(float64(1 + rng.IntN(5)))
				p := int(math.Min(3999, 4000*rng.Float64()*rng.Float64()))
				ob.Field(5).(*array.StringBuilder).Append("P" + strconv.Itoa(p))
				ob.Field(6).(*array.StringBuilder).Append("cat" + strconv.Itoa(p%20))
				ob.Field(7).(*array.StringBuilder).Append(channels[rng.IntN(len(channels))])
				ob.Field(8).(*array.Float64Builder).Append(float64(rng.IntN(3)) * 2.5)
				ob.Field(9).(*array.BooleanBuilder).Append(rng.IntN(50) == 0)
				ob.Field(10).(*array.Int64Builder).Append(int64(1 + rng.IntN(4)))
				ob.Field(11).(*array.Int64Builder).Append(int64(1 + rng.IntN(3)))
			}
			total += len(times)
		}
		for _, x := range []struct {
			t datasets.Table
			b *array.RecordBuilder
		}{{datasets.Customers, cb}, {datasets.Orders, ob}} {
			if err := writeParquet(datasets.ShardPath(dir, x.t, s), x.b); err != nil {
				return 0, err
			}
			x.b.Release()
		}
	}
	return total, nil
}

func writeParquet(path string, b *array.RecordBuilder) error {
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(1), parquet.WithMaxRowGroupLength(1<<20))
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	if err := w.Write(rec); err != nil {
		return err
	}
	return w.Close()
}

// gamma draws Gamma(shape, 1) (Marsaglia-Tsang; shape >= 1).
func gamma(rng *rand.Rand, shape float64) float64 {
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}
