package datasets

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"unsafe"
)

// colBuf holds one canonical column of a block: Float in f; Int, Time and
// Bool (0/1) in i; String as end offsets into dat.
type colBuf struct {
	null []bool
	f    []float64
	i    []int64
	off  []uint32
	dat  []byte
}

func (c *colBuf) str(r int) []byte {
	s := uint32(0)
	if r > 0 {
		s = c.off[r-1]
	}
	return c.dat[s:c.off[r]]
}

// block is a set of canonical rows, column-major; cols follow the table's
// Specs order and absent columns stay empty.
type block struct {
	n    int
	line []int64
	cols []colBuf
}

func newBlock(ncols int) *block { return &block{cols: make([]colBuf, ncols)} }

// reserve sizes b for rows more rows (and dat[k] more string bytes), so
// loading a shard allocates once.
func (b *block) reserve(rows int, dat []int64, kinds []Kind, present []bool) {
	b.line = slices.Grow(b.line, rows)
	for k, ok := range present {
		if !ok {
			continue
		}
		c := &b.cols[k]
		c.null = slices.Grow(c.null, rows)
		switch kinds[k] {
		case Float:
			c.f = slices.Grow(c.f, rows)
		case String:
			c.off = slices.Grow(c.off, rows)
			if dat != nil {
				c.dat = slices.Grow(c.dat, int(dat[k]))
			}
		default:
			c.i = slices.Grow(c.i, rows)
		}
	}
}

func (b *block) reset() {
	b.n = 0
	b.line = b.line[:0]
	for k := range b.cols {
		c := &b.cols[k]
		c.null, c.f, c.i, c.off, c.dat = c.null[:0], c.f[:0], c.i[:0], c.off[:0], c.dat[:0]
	}
}

// appendRow copies row r of src (same layout) onto b.
func (b *block) appendRow(src *block, r int, kinds []Kind, present []bool) {
	b.line = append(b.line, src.line[r])
	for k, ok := range present {
		if !ok {
			continue
		}
		s, d := &src.cols[k], &b.cols[k]
		d.null = append(d.null, s.null[r])
		switch kinds[k] {
		case Float:
			d.f = append(d.f, s.f[r])
		case String:
			d.dat = append(d.dat, s.str(r)...)
			d.off = append(d.off, uint32(len(d.dat)))
		default:
			d.i = append(d.i, s.i[r])
		}
	}
	b.n++
}

func asBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(z)))
}

// writeTo encodes the block for a spill file: n, lines, then each present
// column's nulls and values in native (little-endian) layout.
func (b *block) writeTo(w *bufio.Writer, kinds []Kind, present []bool) error {
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(b.n))
	w.Write(hdr[:])
	w.Write(asBytes(b.line))
	for k, ok := range present {
		if !ok {
			continue
		}
		c := &b.cols[k]
		w.Write(asBytes(c.null))
		switch kinds[k] {
		case Float:
			w.Write(asBytes(c.f))
		case String:
			w.Write(asBytes(c.off))
			binary.LittleEndian.PutUint64(hdr[:], uint64(len(c.dat)))
			w.Write(hdr[:])
			w.Write(c.dat)
		default:
			w.Write(asBytes(c.i))
		}
	}
	return nil
}

func grow[T any](s []T, n int) ([]T, []T) {
	l := len(s)
	if cap(s) < l+n {
		ns := make([]T, l, max(2*cap(s), l+n))
		copy(ns, s)
		s = ns
	}
	s = s[:l+n]
	return s, s[l:]
}

// readFrom appends one encoded block from r onto b; io.EOF at a clean end.
func (b *block) readFrom(r *bufio.Reader, kinds []Kind, present []bool) error {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := int(binary.LittleEndian.Uint64(hdr[:]))
	full := func(p []byte) error {
		if _, err := io.ReadFull(r, p); err != nil {
			return fmt.Errorf("spill file truncated: %w", err)
		}
		return nil
	}
	var tail []int64
	b.line, tail = grow(b.line, n)
	if err := full(asBytes(tail)); err != nil {
		return err
	}
	for k, ok := range present {
		if !ok {
			continue
		}
		c := &b.cols[k]
		var nt []bool
		c.null, nt = grow(c.null, n)
		if err := full(asBytes(nt)); err != nil {
			return err
		}
		switch kinds[k] {
		case Float:
			var t []float64
			c.f, t = grow(c.f, n)
			if err := full(asBytes(t)); err != nil {
				return err
			}
		case String:
			var t []uint32
			base := uint32(len(c.dat))
			c.off, t = grow(c.off, n)
			if err := full(asBytes(t)); err != nil {
				return err
			}
			if base != 0 {
				for i := range t {
					t[i] += base
				}
			}
			if err := full(hdr[:]); err != nil {
				return err
			}
			var d []byte
			c.dat, d = grow(c.dat, int(binary.LittleEndian.Uint64(hdr[:])))
			if err := full(d); err != nil {
				return err
			}
		default:
			var t []int64
			c.i, t = grow(c.i, n)
			if err := full(asBytes(t)); err != nil {
				return err
			}
		}
	}
	b.n += n
	return nil
}

// bytes is the memory b's rows take (values, nulls, offsets, line numbers).
func (b *block) bytes() int64 {
	n := int64(len(b.line)) * 8
	for k := range b.cols {
		c := &b.cols[k]
		n += int64(len(c.null)) + 8*int64(len(c.f)+len(c.i)) + 4*int64(len(c.off)) + int64(len(c.dat))
	}
	return n
}

// capBytes is the memory b's buffers hold (their capacities).
func (b *block) capBytes() int64 {
	n := int64(cap(b.line)) * 8
	for k := range b.cols {
		c := &b.cols[k]
		n += int64(cap(c.null)) + 8*int64(cap(c.f)+cap(c.i)) + 4*int64(cap(c.off)) + int64(cap(c.dat))
	}
	return n
}
