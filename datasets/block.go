package datasets

import (
	"bufio"
	"bytes"
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
			d.dat = appendShort(d.dat, s.str(r))
			d.off = append(d.off, uint32(len(d.dat)))
		default:
			d.i = append(d.i, s.i[r])
		}
	}
	b.n++
}

// appendShort appends v onto dst; a value of up to 8 bytes whose slice
// has 8 bytes of capacity moves as one 8-byte word into dst's spare
// capacity (the bytes past v's end land beyond dst's length, where the
// next append overwrites them).
func appendShort(dst, v []byte) []byte {
	if len(v) <= 8 && cap(v) >= 8 {
		n := len(dst)
		if cap(dst)-n < 8 {
			dst = slices.Grow(dst, 8)
		}
		binary.LittleEndian.PutUint64(dst[n:n+8], binary.LittleEndian.Uint64(v[:8]))
		return dst[:n+len(v)]
	}
	return append(dst, v...)
}

func asBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(z)))
}

// Spill encoding of a block (rows lo..hi-1 of a sorted block, written
// without copying them into a block of their own first): n, lines, then for
// each present column a null flag (0: no nulls, the null bytes are left out;
// 1: n null bytes follow) and its values in native (little-endian) layout.
// A string column writes its bytes' total length, a length flag (1: every
// value is shorter than 256 bytes and one byte per value holds its length;
// 4: uint32 end offsets, counted from the column's first byte) and then the
// lengths or offsets and the bytes.
const (
	spillNoNulls = 0
	spillNulls   = 1
	spillLen8    = 1
	spillOff32   = 4
)

// writeTo encodes the block for a spill file.
func (b *block) writeTo(w *bufio.Writer, kinds []Kind, present []bool, scratch *[]byte) {
	b.writeRange(w, 0, b.n, kinds, present, scratch)
}

// writeRange encodes rows lo..hi-1 of b as one block of a spill file.
// Write errors surface at the writer's Flush.
func (b *block) writeRange(w *bufio.Writer, lo, hi int, kinds []Kind, present []bool, scratch *[]byte) {
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(hi-lo))
	w.Write(hdr[:])
	w.Write(asBytes(b.line[lo:hi]))
	for k, ok := range present {
		if !ok {
			continue
		}
		c := &b.cols[k]
		nulls := asBytes(c.null[lo:hi])
		if bytes.IndexByte(nulls, 1) < 0 {
			w.WriteByte(spillNoNulls)
		} else {
			w.WriteByte(spillNulls)
			w.Write(nulls)
		}
		switch kinds[k] {
		case Float:
			w.Write(asBytes(c.f[lo:hi]))
		case String:
			start := uint32(0)
			if lo > 0 {
				start = c.off[lo-1]
			}
			offs := c.off[lo:hi]
			end := start
			if hi > lo {
				end = offs[len(offs)-1]
			}
			binary.LittleEndian.PutUint64(hdr[:], uint64(end-start))
			w.Write(hdr[:])
			sc := (*scratch)[:0]
			short := true
			prev := start
			for _, o := range offs {
				l := o - prev
				if l > 255 {
					short = false
					break
				}
				sc = append(sc, byte(l))
				prev = o
			}
			if short {
				w.WriteByte(spillLen8)
				w.Write(sc)
			} else {
				w.WriteByte(spillOff32)
				sc = sc[:0]
				for _, o := range offs {
					sc = binary.LittleEndian.AppendUint32(sc, o-start)
				}
				w.Write(sc)
			}
			*scratch = sc
			w.Write(c.dat[start:end])
		default:
			w.Write(asBytes(c.i[lo:hi]))
		}
	}
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
func (b *block) readFrom(r *bufio.Reader, kinds []Kind, present []bool, scratch *[]byte) error {
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
	flag := func() (byte, error) {
		f, err := r.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("spill file truncated: %w", io.ErrUnexpectedEOF)
		}
		return f, nil
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
		f, err := flag()
		if err != nil {
			return err
		}
		switch f {
		case spillNoNulls:
			clear(nt)
		case spillNulls:
			if err := full(asBytes(nt)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("spill file: bad null flag %d", f)
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
			if err := full(hdr[:]); err != nil {
				return err
			}
			size := int(binary.LittleEndian.Uint64(hdr[:]))
			f, err := flag()
			if err != nil {
				return err
			}
			switch f {
			case spillLen8:
				sc := resize(*scratch, n)
				*scratch = sc
				if err := full(sc); err != nil {
					return err
				}
				o := base
				for i, l := range sc {
					o += uint32(l)
					t[i] = o
				}
			case spillOff32:
				if err := full(asBytes(t)); err != nil {
					return err
				}
				if base != 0 {
					for i := range t {
						t[i] += base
					}
				}
			default:
				return fmt.Errorf("spill file: bad string flag %d", f)
			}
			if n > 0 && int(t[n-1]-base) != size {
				return fmt.Errorf("spill file: string lengths add up to %d bytes, want %d", t[n-1]-base, size)
			}
			var d []byte
			c.dat, d = grow(c.dat, size)
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
