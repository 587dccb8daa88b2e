package datasets

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pgo "github.com/parquet-go/parquet-go"
)

// pqTestBlock builds n orders rows: customer ids in sorted runs of runLen
// (unique ids when runLen is 1), a product from 40 values, unique order
// ids, few distinct quantities and lines (number dictionaries), and every
// nullEvery-th row null in the optional columns (none when
// nullEvery is 0); long makes the products 100 kB strings.
func pqTestBlock(n, runLen, nullEvery int, long bool) *block {
	spec := Specs[Orders]
	b := newBlock(len(spec.Columns))
	x := uint64(0x9E3779B97F4A7C15)
	rnd := func(m uint64) uint64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x % m
	}
	for r := 0; r < n; r++ {
		b.line = append(b.line, int64(r+1))
		for k, c := range spec.Columns {
			d := &b.cols[k]
			null := !c.Required && nullEvery > 0 && (r+k)%nullEvery == 0
			d.null = append(d.null, null)
			switch c.Kind {
			case String:
				if !null {
					switch c.Name {
					case "customer_id":
						d.dat = fmt.Appendf(d.dat, "c%08d", r/runLen)
					case "order_id":
						d.dat = fmt.Appendf(d.dat, "o%d", r)
					case "channel":
						if rnd(10) > 0 { // long runs of "web"
							d.dat = append(d.dat, "web"...)
						} else {
							d.dat = append(d.dat, "store"...)
						}
					default:
						if long { // 12 products of 100 kB: a dictionary over 1 MiB
							d.dat = append(d.dat, bytes.Repeat([]byte{'a' + byte(rnd(12))}, 100_000)...)
						} else {
							d.dat = fmt.Appendf(d.dat, "p%d", rnd(40))
						}
					}
				}
				d.off = append(d.off, uint32(len(d.dat)))
			case Float:
				if c.Name == "quantity" { // few values: a dictionary
					d.f = append(d.f, float64(rnd(5))-0.5)
				} else {
					d.f = append(d.f, float64(rnd(100000))/100)
				}
			case Bool:
				d.i = append(d.i, int64(rnd(2)))
			default:
				switch c.Name {
				case "lines": // one value: a dictionary of one
					d.i = append(d.i, 1)
				case "distinct_products": // just over the dictionary limit
					d.i = append(d.i, int64(rnd(maxNumDict+1)))
				default:
					d.i = append(d.i, int64(rnd(1<<40)))
				}
			}
		}
		b.n++
	}
	return b
}

// TestPQWriterReadBack writes blocks with pqWriter and reads them back with
// arrow-go (pqarrow) and parquet-go: every value and null must come back.
func TestPQWriterReadBack(t *testing.T) {
	spec := Specs[Orders]
	all := make([]bool, len(spec.Columns))
	for k := range all {
		all[k] = true
	}
	requiredOnly := make([]bool, len(spec.Columns))
	for k, c := range spec.Columns {
		requiredOnly[k] = c.Required
	}
	cases := []struct {
		name                string
		rows, runLen, nulls int
		long                bool
		groups              []int // row group sizes
		present             []bool
	}{
		{"dense, several pages", 150_000, 20, 0, false, []int{150_000}, all},
		{"nulls, two row groups", 90_000, 7, 3, false, []int{50_000, 40_000}, all},
		{"unique customer ids (no dictionary)", 5_000, 1, 0, false, []int{5_000}, all},
		{"long strings (pages split by bytes, no dictionary)", 200, 3, 5, true, []int{200}, all},
		{"absent optional columns", 1_000, 3, 0, false, []int{1_000}, requiredOnly},
		{"odd sizes", 13, 2, 2, false, []int{5, 8}, all},
		{"empty", 0, 1, 0, false, []int{0}, all},
	}
	var kinds []Kind
	for _, c := range spec.Columns {
		kinds = append(kinds, c.Kind)
	}
	meta, err := arrowSchemaMeta(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := pqTestBlock(tc.rows, tc.runLen, tc.nulls, tc.long)
			path := filepath.Join(t.TempDir(), "part.parquet")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			bw := bufio.NewWriter(f)
			pw, err := newPQWriter(bw, spec, meta)
			if err != nil {
				t.Fatal(err)
			}
			out := newBlock(len(spec.Columns))
			lo := 0
			for _, g := range tc.groups {
				out.reset()
				out.appendRows(want, lo, lo+g, kinds, tc.present)
				if err := pw.writeRowGroup(out, g, tc.present); err != nil {
					t.Fatal(err)
				}
				lo += g
			}
			if err := pw.close(); err != nil {
				t.Fatal(err)
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if tc.long {
				checkLongPages(t, path)
			}
			checkArrow(t, path, want, tc.present)
			checkParquetGo(t, path, want, tc.present)
		})
	}
}

// checkLongPages checks that a column of 100 kB strings was written PLAIN
// (its dictionary would exceed 1 MiB) in pages of about 1 MiB.
func checkLongPages(t *testing.T, path string) {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	pr, err := rdr.RowGroup(0).GetColumnPageReader(rdr.MetaData().Schema.ColumnIndexByName("product"))
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	for pr.Next() {
		switch pr.Page().(type) {
		case *file.DictionaryPage:
			t.Fatalf("product: a dictionary page over 1 MiB")
		case *file.DataPageV1:
			pages++
		}
	}
	if err := pr.Err(); err != nil {
		t.Fatal(err)
	}
	if pages < 10 {
		t.Fatalf("product: %d data pages for ~20 MB of strings, want pages of about 1 MiB", pages)
	}
}

func checkArrow(t *testing.T, path string, want *block, present []bool) {
	t.Helper()
	spec := Specs[Orders]
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	for k, f := range spec.ArrowSchema().Fields() {
		g := tbl.Schema().Field(k)
		if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) || g.Nullable != f.Nullable {
			t.Fatalf("arrow field %d: %s %s nullable %v, want %s %s %v", k, g.Name, g.Type, g.Nullable, f.Name, f.Type, f.Nullable)
		}
	}
	if int(tbl.NumRows()) != want.n {
		t.Fatalf("arrow: %d rows, want %d", tbl.NumRows(), want.n)
	}
	for k, c := range spec.Columns {
		got := newBlock(len(spec.Columns))
		for _, ch := range tbl.Column(k).Data().Chunks() {
			if err := appendArrow(&got.cols[k], ch); err != nil {
				t.Fatal(err)
			}
		}
		compareCol(t, "arrow", c, &got.cols[k], &want.cols[k], present[k], want.n)
	}
}

func checkParquetGo(t *testing.T, path string, want *block, present []bool) {
	t.Helper()
	spec := Specs[Orders]
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := pgo.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	got := newBlock(len(spec.Columns))
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		buf := make([]pgo.Row, 1000)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				for _, v := range row {
					k := v.Column()
					d := &got.cols[k]
					d.null = append(d.null, v.IsNull())
					switch spec.Columns[k].Kind {
					case String:
						if !v.IsNull() {
							d.dat = append(d.dat, v.ByteArray()...)
						}
						d.off = append(d.off, uint32(len(d.dat)))
					case Float:
						d.f = append(d.f, v.Double())
					case Bool:
						d.i = append(d.i, b2i(v.Boolean()))
					default:
						d.i = append(d.i, v.Int64())
					}
				}
				got.n++
			}
			if err != nil {
				break
			}
		}
		rows.Close()
	}
	if got.n != want.n {
		t.Fatalf("parquet-go: %d rows, want %d", got.n, want.n)
	}
	for k, c := range spec.Columns {
		compareCol(t, "parquet-go", c, &got.cols[k], &want.cols[k], present[k], want.n)
	}
}

func compareCol(t *testing.T, reader string, c Column, got, want *colBuf, present bool, n int) {
	t.Helper()
	for r := 0; r < n; r++ {
		wnull := !present || want.null[r]
		if got.null[r] != wnull {
			t.Fatalf("%s: column %s row %d: null %v, want %v", reader, c.Name, r, got.null[r], wnull)
		}
		if wnull {
			continue
		}
		var g, w any
		switch c.Kind {
		case String:
			g, w = string(got.str(r)), string(want.str(r))
		case Float:
			g, w = got.f[r], want.f[r]
		default:
			g, w = got.i[r], want.i[r]
		}
		if g != w {
			t.Fatalf("%s: column %s row %d: %v, want %v", reader, c.Name, r, g, w)
		}
	}
}

// TestSortRun checks the radix sort of a run against a plain comparison
// sort: ids of 1 to 20 bytes (many sharing their first 8 bytes), repeated
// times, null times and out-of-order lines.
func TestSortRun(t *testing.T) {
	p := &tablePlan{spec: Specs[Events], custIdx: 0, timeIdx: 1}
	p.present = []bool{true, true, false, false}
	p.kinds = []Kind{String, Time, String, String}
	for _, tc := range []struct {
		name string
		ids  []string
	}{
		{"short ids", []string{"c1", "c2", "c10", "c", "b99", "c1\x00"}},
		{"long ids sharing a prefix", []string{"customer-001", "customer-002", "customer-1", "customer", "custome", "customer-0010"}},
		{"one id", []string{"x"}},
		{"many short ids (small groups)", func() []string {
			var ids []string
			for i := 0; i < 400; i++ {
				ids = append(ids, fmt.Sprintf("c%d", i))
			}
			return append(ids, "c1\x00", "c10\x00\x00")
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBlock(4)
			x := uint64(12345)
			rnd := func(m uint64) uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x % m }
			for r := 0; r < 5000; r++ {
				id := tc.ids[rnd(uint64(len(tc.ids)))]
				c := &b.cols[0]
				c.dat = append(c.dat, id...)
				c.off = append(c.off, uint32(len(c.dat)))
				c.null = append(c.null, false)
				tcol := &b.cols[1]
				tcol.i = append(tcol.i, int64(rnd(5)))
				tcol.null = append(tcol.null, rnd(7) == 0)
				b.line = append(b.line, int64(rnd(3)))
				b.n++
			}
			got, inOrder := sortRun(b, p, &runScratch{})
			if inOrder {
				t.Fatalf("random rows reported as already sorted")
			}
			want := make([]int32, b.n)
			for i := range want {
				want[i] = int32(i)
			}
			tm := func(r int32) int64 {
				if b.cols[1].null[r] {
					return -1 << 63
				}
				return b.cols[1].i[r]
			}
			slices.SortStableFunc(want, func(a, c int32) int {
				if x := bytes.Compare(b.cols[0].str(int(a)), b.cols[0].str(int(c))); x != 0 {
					return x
				}
				if x := cmp.Compare(tm(a), tm(c)); x != 0 {
					return x
				}
				return cmp.Compare(b.line[a], b.line[c])
			})
			if !slices.Equal(got, want) {
				t.Fatalf("sortRun order differs from the comparison sort")
			}
			// the same rows in sorted order are recognised as such
			sb := newBlock(4)
			scatterSorted(b, want, p, sb, nil)
			again, inOrder := sortRun(sb, p, &runScratch{})
			if !inOrder {
				t.Fatalf("sorted rows not recognised as sorted")
			}
			for i, r := range again {
				if int(r) != i {
					t.Fatalf("sorted rows: position %d holds row %d", i, r)
				}
			}
		})
	}
}
