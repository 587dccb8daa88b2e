package features

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// A page decoder for the encodings a snapshot uses: data pages v1 and v2,
// PLAIN and dictionary (RLE/bit-packed hybrid indices) values, RLE
// definition levels, flat columns. Values go straight from the decompressed
// page into our slices; dictionary pages are looked at once per row group
// (string categories are interned per dictionary entry, never per row).
// Anything else (delta or byte-stream-split encodings, nested columns)
// reports errEncoding and the caller reads the column through arrow-go's
// typed column readers instead.

var errEncoding = errors.New("encoding not handled by the page decoder")

// page is one decoded data page of a flat column.
type page struct {
	n      int     // rows (level entries) in the page
	valid  []uint8 // 1 = value present; nil when every row has a value
	nValid int     // rows with a value
	dict   bool    // values are dictionary indices (idx), else PLAIN bytes
	idx    []int32 // dictionary index per present value
	plain  []byte  // PLAIN values, one per present value
}

// pageScratch holds buffers reused across pages.
type pageScratch struct {
	levels []int32
	valid  []uint8
	idx    []int32
	nulls  []int32
	// dictionaries of fixed8 and idRunsPages
	dict     []uint64
	dictData []byte
	dictOffs []int32
}

// scanPages walks every page of column name over the shard's row groups:
// onDict gets each dictionary page's PLAIN data and entry count (a new
// dictionary replaces the previous one), onData each data page. A missing
// column returns (nil, nil) without calling anything.
func (r *shardReader) scanPages(name string, onDict func(data []byte, n int) error, onData func(p *page) error) (col *schema.Column, err error) {
	sc := r.pf.MetaData().Schema
	ci := sc.ColumnIndexByName(name)
	if ci < 0 {
		return nil, nil
	}
	col = sc.Column(ci)
	if col.MaxRepetitionLevel() != 0 {
		return col, errEncoding
	}
	maxDef := col.MaxDefinitionLevel()
	lvlWidth := bits.Len(uint(maxDef))
	sp := &r.scratch
	for _, rg := range r.rgs {
		pr, err := r.pf.RowGroup(rg).GetColumnPageReader(ci)
		if err != nil {
			return col, fmt.Errorf("features: reading column %s of %s: %w", name, r.path, err)
		}
		for pr.Next() {
			var p page
			var body []byte
			var enc parquet.Encoding
			switch pg := pr.Page().(type) {
			case *file.DictionaryPage:
				if e := parquet.Encoding(pg.Encoding()); e != parquet.Encodings.Plain && e != parquet.Encodings.PlainDict {
					return col, errEncoding
				}
				if err := onDict(pg.Data(), int(pg.NumValues())); err != nil {
					return col, err
				}
				continue
			case *file.DataPageV1:
				p.n = int(pg.NumValues())
				body = pg.Data()
				enc = parquet.Encoding(pg.Encoding())
				if maxDef > 0 {
					if pg.DefinitionLevelEncoding() != parquet.Encodings.RLE || len(body) < 4 {
						return col, errEncoding
					}
					ln := int(binary.LittleEndian.Uint32(body))
					if 4+ln > len(body) {
						return col, fmt.Errorf("features: column %s of %s: corrupt definition levels", name, r.path)
					}
					if err := p.levels(sp, body[4:4+ln], lvlWidth, maxDef); err != nil {
						return col, fmt.Errorf("features: column %s of %s: %w", name, r.path, err)
					}
					body = body[4+ln:]
				} else {
					p.nValid = p.n
				}
			case *file.DataPageV2:
				p.n = int(pg.NumValues())
				body = pg.Data()
				enc = parquet.Encoding(pg.Encoding())
				rl, dl := int(pg.RepetitionLevelByteLen()), int(pg.DefinitionLevelByteLen())
				if rl+dl > len(body) {
					return col, fmt.Errorf("features: column %s of %s: corrupt definition levels", name, r.path)
				}
				if maxDef > 0 {
					if err := p.levels(sp, body[rl:rl+dl], lvlWidth, maxDef); err != nil {
						return col, fmt.Errorf("features: column %s of %s: %w", name, r.path, err)
					}
				} else {
					p.nValid = p.n
				}
				body = body[rl+dl:]
			default:
				continue
			}
			switch enc {
			case parquet.Encodings.Plain:
				p.plain = body
			case parquet.Encodings.PlainDict, parquet.Encodings.RLEDict:
				if len(body) < 1 || body[0] > 32 {
					return col, fmt.Errorf("features: column %s of %s: corrupt dictionary indices", name, r.path)
				}
				p.dict = true
				sp.idx = grow(sp.idx, p.nValid)
				p.idx = sp.idx
				if err := rleDecode(body[1:], int(body[0]), p.idx); err != nil {
					return col, fmt.Errorf("features: column %s of %s: %w", name, r.path, err)
				}
			default:
				return col, errEncoding
			}
			if err := onData(&p); err != nil {
				return col, err
			}
		}
		err = pr.Err()
		pr.Close() // gives its buffers back to the reader's allocator
		if err != nil {
			return col, fmt.Errorf("features: reading column %s of %s: %w", name, r.path, err)
		}
	}
	return col, nil
}

// levels decodes the page's definition levels into p.valid (left nil when
// every row is present).
func (p *page) levels(sp *pageScratch, buf []byte, width int, maxDef int16) error {
	// The usual page: one RLE run of maxDef covering every row.
	if h, k := binary.Uvarint(buf); k > 0 && h&1 == 0 && int(h>>1) >= p.n && width <= 8 && k < len(buf) && int16(buf[k]) == maxDef {
		p.nValid = p.n
		return nil
	}
	sp.levels = grow(sp.levels, p.n)
	if err := rleDecode(buf, width, sp.levels); err != nil {
		return err
	}
	sp.valid = grow(sp.valid, p.n)
	nv := 0
	for i, l := range sp.levels {
		v := uint8(0)
		if l == int32(maxDef) {
			v = 1
		}
		sp.valid[i] = v
		nv += int(v)
	}
	p.nValid = nv
	if nv < p.n {
		p.valid = sp.valid
	}
	return nil
}

// rleDecode fills dst from the RLE/bit-packed hybrid encoding of width-bit
// values in buf.
func rleDecode(buf []byte, width int, dst []int32) error {
	byteW := (width + 7) / 8
	mask := uint64(1)<<width - 1
	pos, i := 0, 0
	for i < len(dst) {
		h, k := binary.Uvarint(buf[pos:])
		if k <= 0 {
			return errors.New("corrupt RLE/bit-packed run header")
		}
		pos += k
		if h&1 == 0 { // a run of one value
			cnt := int(h >> 1)
			if pos+byteW > len(buf) {
				return errors.New("corrupt RLE run")
			}
			var v uint64
			for b := 0; b < byteW; b++ {
				v |= uint64(buf[pos+b]) << (8 * b)
			}
			pos += byteW
			cnt = min(cnt, len(dst)-i)
			fill := dst[i : i+cnt]
			for j := range fill {
				fill[j] = int32(v)
			}
			i += cnt
			continue
		}
		groups := int(h >> 1)
		nb := groups * width
		if pos+nb > len(buf) {
			// a last group may be cut short by the page end
			nb = len(buf) - pos
		}
		src := buf[pos : pos+nb]
		take := min(groups*8, len(dst)-i)
		if take*width > nb*8 {
			return errors.New("corrupt bit-packed run")
		}
		out := dst[i : i+take]
		switch {
		case width == 0:
			for j := range out {
				out[j] = 0
			}
		case width <= 16 && take == groups*8:
			// whole groups of 8 values of 1-16 bits (width bytes): values
			// 0-3 from one 8-byte load, values 4-7 from a second load at
			// byte 4*width/8 (4*width bits and the shift fit in 64).
			h, sh := (4*width)>>3, uint((4*width)&7)
			w1, w2, w3 := uint(width), uint(2*width), uint(3*width)
			g := 0
			for ; g < groups && g*width+16 <= len(src); g++ {
				s := src[g*width : g*width+16]
				a := binary.LittleEndian.Uint64(s[:8])
				b := binary.LittleEndian.Uint64(s[h:h+8]) >> sh
				o8 := out[g*8 : g*8+8 : g*8+8]
				o8[0] = int32(a & mask)
				o8[1] = int32(a >> w1 & mask)
				o8[2] = int32(a >> w2 & mask)
				o8[3] = int32(a >> w3 & mask)
				o8[4] = int32(b & mask)
				o8[5] = int32(b >> w1 & mask)
				o8[6] = int32(b >> w2 & mask)
				o8[7] = int32(b >> w3 & mask)
			}
			unpackBits(src[g*width:], width, out[g*8:])
		default:
			unpackBits(src, width, out)
		}
		pos += nb
		i += take
	}
	return nil
}

// unpackBits fills out with the width-bit values packed from the start of
// src (LSB first), one 8-byte load per value where src allows.
func unpackBits(src []byte, width int, out []int32) {
	mask := uint64(1)<<width - 1
	for j := range out {
		bit := j * width
		o := bit >> 3
		var w uint64
		if o+8 <= len(src) {
			w = binary.LittleEndian.Uint64(src[o:])
		} else {
			for b := 0; o+b < len(src); b++ {
				w |= uint64(src[o+b]) << (8 * b)
			}
		}
		out[j] = int32((w >> (bit & 7)) & mask)
	}
}

// fixed8 reads an INT64 or DOUBLE column's raw 8-byte values into out (one
// per row); null rows hold 0 and are listed in nulls. It reports errEncoding
// for encodings the page decoder does not handle.
func (r *shardReader) fixed8(name string, out []uint64, nulls []int32) (col *schema.Column, n int, _ []int32, err error) {
	nulls = nulls[:0]
	dict := r.scratch.dict[:0]
	defer func() { r.scratch.dict = dict }()
	pos := 0
	col, err = r.scanPages(name, func(data []byte, k int) error {
		if len(data) < 8*k {
			return fmt.Errorf("features: column %s of %s: short dictionary page", name, r.path)
		}
		dict = dict[:0]
		for i := 0; i < k; i++ {
			dict = append(dict, binary.LittleEndian.Uint64(data[8*i:]))
		}
		return nil
	}, func(p *page) error {
		if pos+p.n > len(out) {
			return fmt.Errorf("features: column %s of %s has more values than rows", name, r.path)
		}
		seg := out[pos : pos+p.n]
		pos += p.n
		if !p.dict && len(p.plain) < 8*p.nValid {
			return fmt.Errorf("features: column %s of %s: short data page", name, r.path)
		}
		if p.valid == nil {
			if p.dict {
				for i, x := range p.idx[:p.n] {
					if int(x) >= len(dict) {
						return fmt.Errorf("features: column %s of %s: dictionary index out of range", name, r.path)
					}
					seg[i] = dict[x]
				}
			} else {
				for i := range seg {
					seg[i] = binary.LittleEndian.Uint64(p.plain[8*i:])
				}
			}
			return nil
		}
		j := 0
		for i, v := range p.valid[:p.n] {
			if v == 0 {
				seg[i] = 0
				nulls = append(nulls, int32(pos-p.n+i))
				continue
			}
			if p.dict {
				x := p.idx[j]
				if int(x) >= len(dict) {
					return fmt.Errorf("features: column %s of %s: dictionary index out of range", name, r.path)
				}
				seg[i] = dict[x]
			} else {
				seg[i] = binary.LittleEndian.Uint64(p.plain[8*j:])
			}
			j++
		}
		return nil
	})
	return col, pos, nulls, err
}

// plainByteArrays calls fn with each PLAIN-encoded BYTE_ARRAY value of data
// (n values).
func plainByteArrays(data []byte, n int, fn func(v []byte)) error {
	pos := 0
	for k := 0; k < n; k++ {
		if pos+4 > len(data) {
			return errors.New("corrupt PLAIN byte array")
		}
		ln := int(binary.LittleEndian.Uint32(data[pos:]))
		pos += 4
		if ln < 0 || pos+ln > len(data) {
			return errors.New("corrupt PLAIN byte array")
		}
		fn(data[pos : pos+ln])
		pos += ln
	}
	return nil
}

// codesPages reads a BYTE_ARRAY column as interned codes (-1 for null or
// empty), one per row.
func (r *shardReader) codesPages(name string, in *interner, out []int32) (n int, err error) {
	var remap []int32
	pos := 0
	code := func(v []byte) int32 {
		if len(v) == 0 {
			return -1
		}
		return in.codeBytes(v)
	}
	col, err := r.scanPages(name, func(data []byte, k int) error {
		remap = remap[:0]
		if err := plainByteArrays(data, k, func(v []byte) { remap = append(remap, code(v)) }); err != nil {
			return fmt.Errorf("features: column %s of %s: %w", name, r.path, err)
		}
		return nil
	}, func(p *page) error {
		if pos+p.n > len(out) {
			return fmt.Errorf("features: column %s of %s has more values than rows", name, r.path)
		}
		seg := out[pos : pos+p.n]
		pos += p.n
		if !p.dict {
			i := 0
			err := plainByteArrays(p.plain, p.nValid, func(v []byte) {
				for p.valid != nil && p.valid[i] == 0 {
					seg[i] = -1
					i++
				}
				seg[i] = code(v)
				i++
			})
			for ; i < len(seg); i++ {
				seg[i] = -1
			}
			if err != nil {
				return fmt.Errorf("features: column %s of %s: %w", name, r.path, err)
			}
			return nil
		}
		for _, x := range p.idx[:p.nValid] {
			if int(x) >= len(remap) {
				return fmt.Errorf("features: column %s of %s: dictionary index out of range", name, r.path)
			}
		}
		if p.valid == nil {
			for i, x := range p.idx[:p.n] {
				seg[i] = remap[x]
			}
			return nil
		}
		j := 0
		for i, v := range p.valid[:p.n] {
			if v == 0 {
				seg[i] = -1
				continue
			}
			seg[i] = remap[p.idx[j]]
			j++
		}
		return nil
	})
	if err == nil && col != nil && col.PhysicalType() != parquet.Types.ByteArray {
		return 0, fmt.Errorf("features: %s column %s: %w %s, want utf8", r.path, name, errType, col.PhysicalType())
	}
	return pos, err
}

// idRunsPages is idRuns over the page decoder.
func (r *shardReader) idRunsPages(name string, ids strCol, runs []int32) (_ strCol, _ []int32, err error) {
	ids.data, ids.offs, runs = ids.data[:0], append(ids.offs[:0], 0), runs[:0]
	dictData, dictOffs := r.scratch.dictData[:0], r.scratch.dictOffs[:0]
	defer func() { r.scratch.dictData, r.scratch.dictOffs = dictData, dictOffs }()
	row := int32(0)
	var last []byte
	have := false
	visit := func(v []byte) error {
		if have && bytes.Equal(v, last) {
			row++
			return nil
		}
		if have && bytes.Compare(last, v) > 0 {
			return badConfigf("features: %s is not sorted by customer_id at row %d (%q after %q): re-run retain extract", r.path, row, v, last)
		}
		runs = append(runs, row)
		ids.data = append(ids.data, v...)
		ids.offs = append(ids.offs, int32(len(ids.data)))
		last = ids.data[ids.offs[len(ids.offs)-2]:]
		have = true
		row++
		return nil
	}
	col, err := r.scanPages(name, func(data []byte, k int) error {
		dictData, dictOffs = dictData[:0], append(dictOffs[:0], 0)
		err := plainByteArrays(data, k, func(v []byte) {
			dictData = append(dictData, v...)
			dictOffs = append(dictOffs, int32(len(dictData)))
		})
		if err != nil {
			return fmt.Errorf("features: column %s of %s: %w", name, r.path, err)
		}
		return nil
	}, func(p *page) error {
		if p.dict {
			prev := int32(-1)
			j := 0
			for i := 0; i < p.n; i++ {
				if p.valid != nil && p.valid[i] == 0 {
					prev = -1
					if err := visit(nil); err != nil {
						return err
					}
					continue
				}
				x := p.idx[j]
				j++
				if x == prev && have {
					row++
					continue
				}
				if int(x)+1 >= len(dictOffs) || x < 0 {
					return fmt.Errorf("features: column %s of %s: dictionary index out of range", name, r.path)
				}
				prev = x
				if err := visit(dictData[dictOffs[x]:dictOffs[x+1]]); err != nil {
					return err
				}
			}
			return nil
		}
		i := 0
		var verr error
		err := plainByteArrays(p.plain, p.nValid, func(v []byte) {
			for verr == nil && p.valid != nil && p.valid[i] == 0 {
				verr = visit(nil)
				i++
			}
			if verr == nil {
				verr = visit(v)
			}
			i++
		})
		for ; verr == nil && i < p.n; i++ {
			verr = visit(nil)
		}
		if err != nil {
			return fmt.Errorf("features: column %s of %s: %w", name, r.path, err)
		}
		return verr
	})
	if err != nil {
		return ids, nil, err
	}
	if col == nil {
		return ids, nil, fmt.Errorf("features: %s has no %s column", r.path, name)
	}
	if col.PhysicalType() != parquet.Types.ByteArray {
		return ids, nil, fmt.Errorf("features: %s column %s: %w %s, want utf8", r.path, name, errType, col.PhysicalType())
	}
	runs = append(runs, row)
	return ids, runs, nil
}

// timeScale checks that col holds timestamps and returns what turns its
// values into microseconds: v * mul / div.
func (r *shardReader) timeScale(name string, col *schema.Column) (mul, div int64, err error) {
	if col.PhysicalType() != parquet.Types.Int64 {
		return 0, 0, fmt.Errorf("features: %s column %s: %w %s, want timestamp (int64)", r.path, name, errType, col.PhysicalType())
	}
	mul, div = 1, 1
	if ts, ok := col.LogicalType().(*schema.TimestampLogicalType); ok {
		switch ts.TimeUnit() {
		case schema.TimeUnitMillis:
			mul = 1000
		case schema.TimeUnitNanos:
			div = 1000
		}
	}
	return mul, div, nil
}

// timesFast reads a timestamp column as microseconds (noTime for null).
func (r *shardReader) timesFast(name string, dst []int64) ([]int64, error) {
	out := grow(dst, r.rows)
	col, n, nulls, err := r.fixed8(name, int64SliceAsUint64(out), r.scratch.nulls)
	r.scratch.nulls = nulls
	if err != nil {
		return nil, err
	}
	if col == nil {
		for i := range out {
			out[i] = noTime
		}
		return out, nil
	}
	mul, div, err := r.timeScale(name, col)
	if err != nil {
		return nil, err
	}
	out = out[:n]
	if mul != 1 || div != 1 {
		for i, x := range out {
			out[i] = x * mul / div
		}
	}
	for _, i := range nulls {
		out[i] = noTime
	}
	return out, nil
}

// floatsFast reads a DOUBLE or INT64 column as float64 (NaN for null).
func (r *shardReader) floatsFast(name string, dst []float64) ([]float64, error) {
	out := grow(dst, r.rows)
	u := float64SliceAsUint64(out)
	col, n, nulls, err := r.fixed8(name, u, r.scratch.nulls)
	r.scratch.nulls = nulls
	if err != nil {
		return nil, err
	}
	if col == nil {
		for i := range out {
			out[i] = math.NaN()
		}
		return out, nil
	}
	out = out[:n]
	switch col.PhysicalType() {
	case parquet.Types.Double:
	case parquet.Types.Int64:
		for i, x := range u[:n] {
			out[i] = float64(int64(x))
		}
	default:
		return nil, fmt.Errorf("features: %s column %s: %w %s, want double or int64", r.path, name, errType, col.PhysicalType())
	}
	for _, i := range nulls {
		out[i] = math.NaN()
	}
	return out, nil
}

func int64SliceAsUint64(s []int64) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func float64SliceAsUint64(s []float64) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
