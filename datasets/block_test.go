package datasets

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestSpillRoundTrip writes row ranges of a block in the spill encoding and
// reads them back onto one block: every value, null and string must come
// back, whether a range has nulls or not and whether its strings fit the
// one-byte lengths or need offsets.
func TestSpillRoundTrip(t *testing.T) {
	kinds := []Kind{String, Time, Float, String, Bool}
	present := []bool{true, true, true, true, false}
	for _, tc := range []struct {
		name   string
		long   func(r int) bool // row r's second string is 300 bytes
		null   func(r int) bool // row r's float is null
		ranges [][2]int
	}{
		{"no nulls, short strings", func(int) bool { return false }, func(int) bool { return false }, [][2]int{{0, 100}}},
		{"nulls, short strings, sub-ranges", func(int) bool { return false }, func(r int) bool { return r%7 == 3 }, [][2]int{{0, 10}, {10, 11}, {11, 64}, {64, 100}}},
		{"a long string in one range", func(r int) bool { return r == 42 }, func(r int) bool { return r > 90 }, [][2]int{{0, 40}, {40, 50}, {50, 100}}},
		{"empty range", func(int) bool { return false }, func(int) bool { return false }, [][2]int{{0, 0}, {0, 100}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newBlock(len(kinds))
			for r := 0; r < 100; r++ {
				id := strings.Repeat("c", r%9)
				src.cols[0].dat = append(src.cols[0].dat, id...)
				src.cols[0].off = append(src.cols[0].off, uint32(len(src.cols[0].dat)))
				src.cols[0].null = append(src.cols[0].null, r%9 == 0)
				src.cols[1].i = append(src.cols[1].i, int64(r*1000-7))
				src.cols[1].null = append(src.cols[1].null, false)
				src.cols[2].f = append(src.cols[2].f, float64(r)/3)
				src.cols[2].null = append(src.cols[2].null, tc.null(r))
				s := string(rune('a' + r%26))
				if tc.long(r) {
					s = strings.Repeat("x", 300)
				}
				src.cols[3].dat = append(src.cols[3].dat, s...)
				src.cols[3].off = append(src.cols[3].off, uint32(len(src.cols[3].dat)))
				src.cols[3].null = append(src.cols[3].null, false)
				src.line = append(src.line, int64(2*r+1))
				src.n++
			}
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			var scratch []byte
			for _, rg := range tc.ranges {
				src.writeRange(w, rg[0], rg[1], kinds, present, &scratch)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			got := newBlock(len(kinds))
			r := bufio.NewReader(&buf)
			for {
				err := got.readFrom(r, kinds, present, &scratch)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got.n != src.n || !reflect.DeepEqual(got.line, src.line) {
				t.Fatalf("rows %d lines %v, want %d %v", got.n, got.line, src.n, src.line)
			}
			for k := range kinds {
				g, s := got.cols[k], src.cols[k]
				if len(g.null) != len(s.null) || !bytes.Equal(asBytes(g.null), asBytes(s.null)) ||
					!reflect.DeepEqual(g.f, s.f) || !reflect.DeepEqual(g.i, s.i) ||
					!reflect.DeepEqual(g.off, s.off) || !bytes.Equal(g.dat, s.dat) {
					t.Fatalf("column %d differs:\n got %+v\nwant %+v", k, g, s)
				}
			}
		})
	}
}

// TestScatterSorted checks scatterSorted against a plain gather of every
// column: strings of 0 to 20 bytes (the short ones move as 8-byte words),
// nulls, numbers and line numbers, for several orders.
func TestScatterSorted(t *testing.T) {
	kinds := []Kind{String, Float, Time, String}
	p := &tablePlan{kinds: kinds, present: []bool{true, true, true, true}}
	for _, n := range []int{0, 1, 2, 9, 300} {
		src := newBlock(len(kinds))
		for r := 0; r < n; r++ {
			s := strings.Repeat(string(rune('a'+r%26)), r%21)
			src.cols[0].dat = append(src.cols[0].dat, s...)
			src.cols[0].off = append(src.cols[0].off, uint32(len(src.cols[0].dat)))
			src.cols[0].null = append(src.cols[0].null, r%5 == 0)
			src.cols[1].f = append(src.cols[1].f, float64(r)/7)
			src.cols[1].null = append(src.cols[1].null, false)
			src.cols[2].i = append(src.cols[2].i, int64(r*r))
			src.cols[2].null = append(src.cols[2].null, r%3 == 0)
			src.cols[3].dat = append(src.cols[3].dat, strings.Repeat("z", r%3)...)
			src.cols[3].off = append(src.cols[3].off, uint32(len(src.cols[3].dat)))
			src.cols[3].null = append(src.cols[3].null, false)
			src.line = append(src.line, int64(r+2))
			src.n++
		}
		for _, order := range []string{"identity", "reversed", "strided"} {
			perm := make([]int32, n)
			for j := range perm {
				switch order {
				case "identity":
					perm[j] = int32(j)
				case "reversed":
					perm[j] = int32(n - 1 - j)
				default:
					perm[j] = int32((j*37 + 5) % n)
				}
			}
			if order == "strided" && n%37 == 0 {
				continue
			}
			got := newBlock(len(kinds))
			got.appendRows(src, 0, 0, kinds, p.present) // leave stale capacity aside
			scatterSorted(src, perm, p, got, nil)
			want := newBlock(len(kinds))
			for _, r := range perm {
				want.appendRow(src, int(r), kinds, p.present)
			}
			if got.n != want.n || !reflect.DeepEqual(got.line[:got.n], want.line) {
				t.Fatalf("n=%d %s: rows or lines differ", n, order)
			}
			for k := range kinds {
				g, w := &got.cols[k], &want.cols[k]
				for r := 0; r < n; r++ {
					if g.null[r] != w.null[r] {
						t.Fatalf("n=%d %s: column %d row %d null differs", n, order, k, r)
					}
					switch kinds[k] {
					case String:
						if !bytes.Equal(g.str(r), w.str(r)) {
							t.Fatalf("n=%d %s: column %d row %d: %q, want %q", n, order, k, r, g.str(r), w.str(r))
						}
					case Float:
						if g.f[r] != w.f[r] {
							t.Fatalf("n=%d %s: column %d row %d differs", n, order, k, r)
						}
					default:
						if g.i[r] != w.i[r] {
							t.Fatalf("n=%d %s: column %d row %d differs", n, order, k, r)
						}
					}
				}
				if kinds[k] == String && !bytes.Equal(g.dat, w.dat) {
					t.Fatalf("n=%d %s: column %d bytes differ", n, order, k)
				}
			}
		}
	}
}

// TestAppendShort: appendShort gives what append gives, for values of 0 to
// 12 bytes, with and without 8 bytes of capacity behind them, onto
// destinations with and without spare capacity.
func TestAppendShort(t *testing.T) {
	src := []byte("abcdefghijklmnopqrstuvwxyz0123456789")
	var got, want []byte
	for a := 0; a < len(src); a++ {
		for l := 0; l <= 12 && a+l <= len(src); l++ {
			for _, capped := range []bool{false, true} {
				v := src[a : a+l]
				if capped {
					v = src[a : a+l : a+l]
				}
				got = appendShort(got, v)
				want = append(want, v...)
				if !bytes.Equal(got, want) {
					t.Fatalf("value %q (capped %v): got %q, want %q", v, capped, got, want)
				}
			}
		}
		if a%7 == 0 {
			got, want = got[:0:0], want[:0] // no spare capacity
		}
	}
}
