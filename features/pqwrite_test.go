package features

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pgo "github.com/parquet-go/parquet-go"
)

// TestWriteFileReadBack writes frames through our Parquet writer and reads
// them back with ReadFile (our page decoder), arrow-go's pqarrow table
// reader and parquet-go: every value, null, id and cutoff must come back,
// across pages, row groups, dictionary and plain columns, a dictionary
// that overflows pqMaxDict (plain fallback) and an empty frame.
func TestWriteFileReadBack(t *testing.T) {
	D1 := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	D2 := time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		rows int
	}{
		{"empty", 0},
		{"one row", 1},
		{"two pages", pqPageRows + 3},
		{"two row groups", writeRowGroup + 1001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.rows
			f := &Frame{Horizon: 90 * Day, Kind: KindOrders, ObservedUntil: D2}
			cols := []struct {
				name string
				val  func(i int) float64
			}{
				{"counts", func(i int) float64 { return float64(i % 7) }},
				{"counts_nulls", func(i int) float64 {
					if i%3 == 0 {
						return math.NaN()
					}
					return float64(i % 5)
				}},
				{"all_null", func(int) float64 { return math.NaN() }},
				{"distinct", func(i int) float64 { return float64(i)*1.37 + 0.001 }},                       // plain, incompressible-ish
				{"neg_zero", func(i int) float64 { return []float64{0, math.Copysign(0, -1), -1.5}[i%3] }}, // bits kept
				{"many_then_dict", func(i int) float64 { // > pqMaxDict distinct after a repetitive start
					if i < 20000 {
						return float64(i % 4)
					}
					return float64(i)
				}},
				{"sparse", func(i int) float64 {
					if i%1000 != 7 {
						return math.NaN()
					}
					return float64(i) / 3
				}},
			}
			for _, c := range cols {
				x := make([]float64, n)
				for i := range x {
					x[i] = c.val(i)
				}
				f.Names = append(f.Names, c.name)
				f.Registry = append(f.Registry, Def{Name: c.name, Kind: Numeric})
				f.X = append(f.X, x)
			}
			for i := 0; i < n; i++ {
				f.IDs = append(f.IDs, fmt.Sprintf("C%07d", i/2))
				d := D1
				if i%2 == 1 {
					d = D2
				}
				f.Cutoffs = append(f.Cutoffs, d)
				l := float64(i % 2)
				if i%5 == 0 {
					l = math.NaN()
				}
				f.Labels = append(f.Labels, l)
			}
			path := filepath.Join(t.TempDir(), "f.parquet")
			if err := WriteFile(context.Background(), path, f); err != nil {
				t.Fatal(err)
			}
			same := func(a, b float64) bool {
				return math.Float64bits(a) == math.Float64bits(b) || (a != a && b != b)
			}
			// ReadFile: our page decoder (floats, times) and pqarrow (ids).
			g, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if g.Rows() != n || len(g.X) != len(f.X) || g.Horizon != f.Horizon || g.Kind != f.Kind || !g.ObservedUntil.Equal(f.ObservedUntil) {
				t.Fatalf("ReadFile: %d rows, %d columns, %v %s %v", g.Rows(), len(g.X), g.Horizon, g.Kind, g.ObservedUntil)
			}
			for i := 0; i < n; i++ {
				if g.IDs[i] != f.IDs[i] || !g.Cutoffs[i].Equal(f.Cutoffs[i]) || !same(g.Labels[i], f.Labels[i]) {
					t.Fatalf("ReadFile row %d: %s %v %v, want %s %v %v", i, g.IDs[i], g.Cutoffs[i], g.Labels[i], f.IDs[i], f.Cutoffs[i], f.Labels[i])
				}
				for j := range f.X {
					if !same(g.X[j][i], f.X[j][i]) {
						t.Fatalf("ReadFile %s row %d: %v, want %v", f.Names[j], i, g.X[j][i], f.X[j][i])
					}
				}
			}
			// arrow-go's own decoders.
			fh, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			pf, err := file.NewParquetReader(fh)
			if err != nil {
				t.Fatal(err)
			}
			defer pf.Close()
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			tbl, err := fr.ReadTable(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer tbl.Release()
			if int(tbl.NumRows()) != n || int(tbl.NumCols()) != len(f.X)+3 {
				t.Fatalf("arrow: %d rows %d columns", tbl.NumRows(), tbl.NumCols())
			}
			for j := range f.X {
				i := 0
				for _, ch := range tbl.Column(j + 2).Data().Chunks() {
					a := ch.(*array.Float64)
					for k := 0; k < a.Len(); k++ {
						v := math.NaN()
						if a.IsValid(k) {
							v = a.Value(k)
						}
						if !same(v, f.X[j][i]) {
							t.Fatalf("arrow %s row %d: %v, want %v", f.Names[j], i, v, f.X[j][i])
						}
						i++
					}
				}
			}
			// parquet-go.
			st, _ := fh.Stat()
			gf, err := pgo.OpenFile(fh, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			row := 0
			for _, rg := range gf.RowGroups() {
				rows := rg.Rows()
				buf := make([]pgo.Row, 512)
				for {
					k, err := rows.ReadRows(buf)
					for _, r := range buf[:k] {
						for _, v := range r {
							c := v.Column()
							switch {
							case c == 0:
								if string(v.ByteArray()) != f.IDs[row] {
									t.Fatalf("parquet-go id row %d: %q", row, v.ByteArray())
								}
							case c == 1:
								if v.Int64() != f.Cutoffs[row].UnixMicro() {
									t.Fatalf("parquet-go cutoff row %d: %d", row, v.Int64())
								}
							default:
								want := f.Labels[row]
								if c-2 < len(f.X) {
									want = f.X[c-2][row]
								}
								got := math.NaN()
								if !v.IsNull() {
									got = v.Double()
								}
								if !same(got, want) {
									t.Fatalf("parquet-go column %d row %d: %v, want %v", c, row, got, want)
								}
							}
						}
						row++
					}
					if err != nil {
						break
					}
				}
				rows.Close()
			}
			if row != n {
				t.Fatalf("parquet-go: %d rows, want %d", row, n)
			}
		})
	}
}

// TestAppendDefLevels checks the definition levels of a page against the
// format's two forms written out plainly: one RLE run when every value is
// present or every one is null, else bit-packed groups of 8 (LSB first);
// NaN is null, infinities and -0 are values.
func TestAppendDefLevels(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name string
		vals []float64
	}{
		{"empty", nil},
		{"all present", []float64{1, 2, inf, math.Inf(-1), math.Copysign(0, -1), 0, 7, 8, 9}},
		{"all null", []float64{nan, nan, nan}},
		{"mixed, 8", []float64{1, nan, 2, nan, inf, nan, nan, 3}},
		{"mixed, 13", []float64{nan, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -inf}},
		{"one null at the end of 17", append(make([]float64, 16), nan)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := len(c.vals)
			valid := 0
			bs := make([]byte, (n+7)/8)
			for j, v := range c.vals {
				if !math.IsNaN(v) {
					valid++
					bs[j/8] |= 1 << (j % 8)
				}
			}
			var want []byte
			switch valid {
			case 0, n:
				want = binary.AppendUvarint(nil, uint64(n)<<1)
				if valid == n { // an empty page too, as before
					want = append(want, 1)
				} else {
					want = append(want, 0)
				}
			default:
				want = binary.AppendUvarint(nil, uint64(len(bs))<<1|1)
				want = append(want, bs...)
			}
			want = append(binary.LittleEndian.AppendUint32(nil, uint32(len(want))), want...)
			got, gotValid := appendDefLevels([]byte{0xAA}, c.vals)
			if gotValid != valid || !bytes.Equal(got[1:], want) || got[0] != 0xAA {
				t.Fatalf("appendDefLevels(%v) = %x, %d values; want %x, %d", c.vals, got[1:], gotValid, want, valid)
			}
		})
	}
}
