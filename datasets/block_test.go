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
