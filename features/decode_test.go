package features

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// TestPageDecoderMatchesArrowReaders writes the same columns with several
// writer settings (dictionary or PLAIN, page v1 or v2, tiny pages so runs
// and dictionaries cross page and row-group ends, nulls or none, several
// cardinalities) and checks the page decoder reads exactly what arrow-go's
// typed column readers read.
func TestPageDecoderMatchesArrowReaders(t *testing.T) {
	cases := []struct {
		name     string
		dict     bool
		v2       bool
		nulls    bool
		pageSize int64
		card     int // distinct strings and numbers
		milli    bool
	}{
		{"dict v1 nulls", true, false, true, 512, 7, false},
		{"dict v2 nulls", true, true, true, 512, 300, false},
		{"plain v1", false, false, false, 1 << 20, 50, false},
		{"plain v2 nulls", false, true, true, 256, 3, true},
		{"dict v1 no nulls one value", true, false, false, 1024, 1, false},
		{"dict v1 big card", true, false, true, 4096, 70000, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "part.parquet")
			rng := rand.New(rand.NewPCG(uint64(tc.card), 7))
			n := 20011
			writeDecodeFile(t, path, rng, n, tc.dict, tc.v2, tc.nulls, tc.pageSize, tc.card, tc.milli)

			r, err := openShard(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var ids strCol
			ids, runs, err := r.idRunsPages("id", ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			var ids2 strCol
			ids2, runs2, err := r.idRunsInto("id", ids2, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(runs, runs2) || string(ids.data) != string(ids2.data) || !slices.Equal(ids.offs, ids2.offs) {
				t.Fatalf("id runs differ: %d vs %d runs", len(runs), len(runs2))
			}
			for _, col := range []string{"t", "missing"} {
				fast, err := r.timesFast(col, nil)
				if err != nil {
					t.Fatal(err)
				}
				slow, err := r.timesPages(col, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(fast, slow) {
					t.Fatalf("times %s differ", col)
				}
			}
			for _, col := range []string{"x", "k", "missing"} {
				fast, err := r.floatsFast(col, nil)
				if err != nil {
					t.Fatal(err)
				}
				slow, err := r.floatsPages(col, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(fast) != len(slow) {
					t.Fatalf("floats %s: %d vs %d values", col, len(fast), len(slow))
				}
				for i := range fast {
					if math.Float64bits(fast[i]) != math.Float64bits(slow[i]) && !(fast[i] != fast[i] && slow[i] != slow[i]) {
						t.Fatalf("floats %s row %d: %v vs %v", col, i, fast[i], slow[i])
					}
				}
			}
			for _, col := range []string{"s", "missing"} {
				in1, in2 := newInterner(), newInterner()
				fast := make([]int32, r.rows)
				nf, err := r.codesPages(col, in1, fast)
				if err != nil {
					t.Fatal(err)
				}
				if col == "missing" {
					fast, err = r.codes(context.Background(), col, in1, nil)
					if err != nil {
						t.Fatal(err)
					}
				} else {
					fast = fast[:nf]
				}
				slow, err := r.codesSlow(context.Background(), col, in2, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(fast) != len(slow) {
					t.Fatalf("codes %s: %d vs %d values", col, len(fast), len(slow))
				}
				for i := range fast {
					a, b := "<null>", "<null>"
					if fast[i] >= 0 {
						a = in1.names[fast[i]]
					}
					if slow[i] >= 0 {
						b = in2.names[slow[i]]
					}
					if a != b {
						t.Fatalf("codes %s row %d: %q vs %q", col, i, a, b)
					}
				}
			}
			fast, err := r.bools(context.Background(), "b", nil)
			if err != nil {
				t.Fatal(err)
			}
			slow, err := r.boolsSlow(context.Background(), "b", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fast, slow) {
				t.Fatal("bools differ")
			}
		})
	}
}

func writeDecodeFile(t *testing.T, path string, rng *rand.Rand, n int, dict, v2, nulls bool, pageSize int64, card int, milli bool) {
	t.Helper()
	unit := arrow.Microsecond
	if milli {
		unit = arrow.Millisecond
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "t", Type: &arrow.TimestampType{Unit: unit, TimeZone: "UTC"}, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer b.Release()
	null := func() bool { return nulls && rng.IntN(9) == 0 }
	id := 0
	for i := 0; i < n; i++ {
		if rng.IntN(4) == 0 {
			id++
		}
		if nulls && i < 3 { // a null id reads as "", which sorts first
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%07d", id))
		}
		if null() {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000 + int64(rng.IntN(card))*1000))
		}
		if null() {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Float64Builder).Append(float64(rng.IntN(card)) / 4)
		}
		if null() {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.Int64Builder).Append(int64(rng.IntN(card)) - int64(card/2))
		}
		switch {
		case null():
			b.Field(4).AppendNull()
		case rng.IntN(50) == 0:
			b.Field(4).(*array.StringBuilder).Append("")
		default:
			b.Field(4).(*array.StringBuilder).Append("v" + strconv.Itoa(rng.IntN(card)))
		}
		if null() {
			b.Field(5).AppendNull()
		} else {
			b.Field(5).(*array.BooleanBuilder).Append(rng.IntN(3) == 0)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	opts := []parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Zstd), parquet.WithDictionaryDefault(dict),
		parquet.WithDataPageSize(pageSize), parquet.WithMaxRowGroupLength(7000), parquet.WithDictionaryPageSizeLimit(4096)}
	if v2 {
		opts = append(opts, parquet.WithDataPageVersion(parquet.DataPageV2))
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(opts...), pqarrow.DefaultWriterProps())
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

// TestRLEDecode checks the RLE/bit-packed hybrid decoder against values
// encoded by a plain reference encoder, for every bit width.
func TestRLEDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for width := 0; width <= 32; width++ {
		var want []int32
		var buf []byte
		for run := 0; run < 40; run++ {
			max := int64(1) << width
			if rng.IntN(2) == 0 { // RLE run
				cnt := 1 + rng.IntN(100)
				v := int32(rng.Int64N(max))
				buf = appendUvarint(buf, uint64(cnt)<<1)
				for b := 0; b < (width+7)/8; b++ {
					buf = append(buf, byte(uint32(v)>>(8*b)))
				}
				for i := 0; i < cnt; i++ {
					want = append(want, v)
				}
				continue
			}
			groups := 1 + rng.IntN(5)
			if rng.IntN(3) == 0 { // long runs take the 8-values-at-once path
				groups = 1 + rng.IntN(70)
			}
			buf = appendUvarint(buf, uint64(groups)<<1|1)
			bitsBuf := make([]byte, groups*width)
			for j := 0; j < groups*8; j++ {
				v := int32(rng.Int64N(max))
				want = append(want, v)
				for k := 0; k < width; k++ {
					if uint32(v)>>k&1 == 1 {
						bit := j*width + k
						bitsBuf[bit/8] |= 1 << (bit % 8)
					}
				}
			}
			buf = append(buf, bitsBuf...)
		}
		got := make([]int32, len(want))
		if err := rleDecode(buf, width, got); err != nil {
			t.Fatalf("width %d: %v", width, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("width %d: decoded values differ", width)
		}
		if err := rleDecode(buf[:len(buf)/2], width, make([]int32, len(want))); err == nil {
			t.Fatalf("width %d: truncated input decoded without error", width)
		}
	}
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
