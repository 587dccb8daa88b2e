package datasets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/retainlab/retain/datasets/pqenc"
)

// pqWriter writes a snapshot shard file straight from blocks: flat columns,
// data pages v1 with RLE definition levels, PLAIN values, or a PLAIN
// dictionary page and RLE_DICTIONARY indices for repeating strings, zstd
// (fastest level). These are the encodings the feature engine's page decoder
// reads, and any Parquet reader does. It replaces pqarrow's FileWriter,
// which copied every value into Arrow arrays, hashed each string for its
// dictionary and built statistics nobody reads.
type pqWriter struct {
	w        *bufio.Writer
	off      int64
	spec     TableSpec
	optional []bool
	dictCol  []bool
	enc      *zstd.Encoder
	proto    thrift.CompactProtocol
	rgs      []format.RowGroup
	rows     int64
	kv       []format.KeyValue

	body, comp, hdr []byte
	dict            dictTable
	ndict           numDict
	idx             []int32 // dictionary index of each non-null row
}

// pqPageRows is the most rows per data page; PLAIN string pages also end
// after about pqPageBytes of values, and a string dictionary of more bytes
// is given up for PLAIN (as arrow-go does at 1 MiB).
const (
	pqPageRows  = 64 << 10
	pqPageBytes = 1 << 20
)

func newPQWriter(w *bufio.Writer, spec TableSpec, arrowSchema string) (*pqWriter, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true), zstd.WithAllLitEntropyCompression(true))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	pw := &pqWriter{w: w, spec: spec, enc: enc}
	for _, c := range spec.Columns {
		pw.optional = append(pw.optional, !c.Required)
		pw.dictCol = append(pw.dictCol, c.Kind == String && (c.Name == "customer_id" || !strings.HasSuffix(c.Name, "_id")))
	}
	if arrowSchema != "" {
		pw.kv = []format.KeyValue{{Key: "ARROW:schema", Value: arrowSchema}}
	}
	if _, err := w.WriteString("PAR1"); err != nil {
		return nil, err
	}
	pw.off = 4
	return pw, nil
}

// arrowSchemaMeta is the ARROW:schema metadata pqarrow stores for spec's
// schema (so Arrow readers get back exactly the snapshot's Arrow types):
// taken from an empty file written by pqarrow.
func arrowSchemaMeta(spec TableSpec) (string, error) {
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Uncompressed))
	fw, err := pqarrow.NewFileWriter(spec.ArrowSchema(), &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return "", err
	}
	if err := fw.Close(); err != nil {
		return "", err
	}
	rdr, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return "", err
	}
	defer rdr.Close()
	v := rdr.MetaData().KeyValueMetadata().FindValue("ARROW:schema")
	if v == nil {
		return "", nil
	}
	return *v, nil
}

func (pw *pqWriter) write(b []byte) error {
	n, err := pw.w.Write(b)
	pw.off += int64(n)
	return err
}

// writeRowGroup writes rows 0..n-1 of b as one row group; columns not
// present are all null.
func (pw *pqWriter) writeRowGroup(b *block, n int, present []bool) error {
	if n == 0 {
		return nil // an empty shard: a file with the schema and no row group
	}
	rg := format.RowGroup{NumRows: int64(n), FileOffset: pw.off}
	start := pw.off
	for k, c := range pw.spec.Columns {
		var src *colBuf
		if present[k] {
			src = &b.cols[k]
		}
		cc, usize, err := pw.writeColumn(k, c, src, n)
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		rg.Columns = append(rg.Columns, cc)
		rg.TotalByteSize += usize
	}
	rg.TotalCompressedSize = pw.off - start
	pw.rgs = append(pw.rgs, rg)
	pw.rows += int64(n)
	return nil
}

func (pw *pqWriter) physical(c Column) format.Type {
	switch c.Kind {
	case String:
		return format.ByteArray
	case Float:
		return format.Double
	case Bool:
		return format.Boolean
	}
	return format.Int64
}

// writeColumn writes one column chunk and returns its metadata and
// uncompressed size.
func (pw *pqWriter) writeColumn(k int, c Column, src *colBuf, n int) (format.ColumnChunk, int64, error) {
	opt := pw.optional[k]
	if !opt && src == nil {
		return format.ColumnChunk{}, 0, fmt.Errorf("required column has no values")
	}
	if !opt && src != nil {
		for _, null := range src.null[:n] {
			if null {
				return format.ColumnChunk{}, 0, fmt.Errorf("required column has a null")
			}
		}
	}
	chunkStart := pw.off
	md := format.ColumnMetaData{Type: pw.physical(c), PathInSchema: []string{c.Name}, Codec: format.Zstd, NumValues: int64(n)}
	var usize int64
	useDict := false
	var dictOff int64
	dictLen := 0
	switch {
	case src == nil:
	case pw.dictCol[k]:
		useDict = pw.buildDict(src, n)
		dictLen = len(pw.dict.off)
	case c.Kind == Float || c.Kind == Int:
		useDict = pw.buildNumDict(src, c.Kind, n)
		dictLen = len(pw.ndict.vals)
	}
	if useDict {
		dictOff = pw.off
		body := pw.body[:0]
		if c.Kind == String {
			d := &pw.dict
			s := uint32(0)
			for _, e := range d.off {
				body = binary.LittleEndian.AppendUint32(body, e-s)
				body = append(body, d.dat[s:e]...)
				s = e
			}
		} else {
			body = append(body, asBytes(pw.ndict.vals)...)
		}
		pw.body = body
		h := format.PageHeader{Type: format.DictionaryPage}
		h.DictionaryPageHeader = thrift.New(format.DictionaryPageHeader{NumValues: int32(dictLen), Encoding: format.Plain})
		u, err := pw.page(&h, body)
		if err != nil {
			return format.ColumnChunk{}, 0, err
		}
		usize += u
		md.DictionaryPageOffset = dictOff
		md.Encoding = []format.Encoding{format.Plain, format.RLE, format.RLEDictionary}
		md.EncodingStats = []format.PageEncodingStats{{PageType: format.DictionaryPage, Encoding: format.Plain, Count: 1}}
	} else {
		md.Encoding = []format.Encoding{format.Plain, format.RLE}
	}
	md.DataPageOffset = pw.off
	pages := int32(0)
	nv := 0 // non-null rows before lo (index into pw.idx)
	for lo := 0; ; {
		hi := min(lo+pqPageRows, n)
		if c.Kind == String && !useDict && src != nil && hi > lo+1 {
			// PLAIN strings: at most about pqPageBytes of them per page
			start := uint32(0)
			if lo > 0 {
				start = src.off[lo-1]
			}
			if src.off[hi-1]-start > pqPageBytes {
				hi = lo + 1 + sort.Search(hi-lo-1, func(j int) bool { return src.off[lo+1+j]-start > pqPageBytes })
			}
		}
		body := pw.body[:0]
		valid := hi - lo
		if opt {
			body, valid = appendDefLevels(body, src, lo, hi)
		}
		enc := format.Plain
		switch {
		case src == nil || valid == 0:
		case useDict:
			enc = format.RLEDictionary
			w := max(1, bits.Len(uint(dictLen-1)))
			body = append(body, byte(w))
			body = pqenc.AppendHybrid(body, pw.idx[nv:nv+valid], w)
		default:
			body = appendPlain(body, c.Kind, src, lo, hi, valid == hi-lo)
		}
		nv += valid
		pw.body = body
		h := format.PageHeader{Type: format.DataPage}
		h.DataPageHeader = thrift.New(format.DataPageHeader{NumValues: int32(hi - lo), Encoding: enc, DefinitionLevelEncoding: format.RLE, RepetitionLevelEncoding: format.RLE})
		u, err := pw.page(&h, body)
		if err != nil {
			return format.ColumnChunk{}, 0, err
		}
		usize += u
		pages++
		if hi >= n {
			break
		}
		lo = hi
	}
	denc := format.Plain
	if useDict {
		denc = format.RLEDictionary
	}
	md.EncodingStats = append(md.EncodingStats, format.PageEncodingStats{PageType: format.DataPage, Encoding: denc, Count: pages})
	md.TotalUncompressedSize = usize
	md.TotalCompressedSize = pw.off - chunkStart
	return format.ColumnChunk{FileOffset: chunkStart, MetaData: md}, usize, nil
}

// page compresses body and writes it with its header h; it returns the
// page's uncompressed size (header included).
func (pw *pqWriter) page(h *format.PageHeader, body []byte) (int64, error) {
	pw.comp = pw.enc.EncodeAll(body, pw.comp[:0])
	h.UncompressedPageSize = int32(len(body))
	h.CompressedPageSize = int32(len(pw.comp))
	hb, err := thrift.Marshal(&pw.proto, h)
	if err != nil {
		return 0, fmt.Errorf("page header: %w", err)
	}
	if err := pw.write(hb); err != nil {
		return 0, err
	}
	if err := pw.write(pw.comp); err != nil {
		return 0, err
	}
	return int64(len(hb) + len(body)), nil
}

// buildDict fills pw.dict and pw.idx with the column's distinct values (in
// first-seen order) and each non-null row's index; it reports whether a
// dictionary pays (at most one distinct value per two rows).
func (pw *pqWriter) buildDict(src *colBuf, n int) bool {
	d := &pw.dict
	d.reset()
	idx := pw.idx[:0]
	last := int32(-1)
	var lastV []byte
	s := uint32(0)
	for r := 0; r < n; r++ {
		e := src.off[r]
		if src.null[r] {
			s = e
			continue
		}
		v := src.dat[s:e]
		s = e
		if last >= 0 && bytes.Equal(v, lastV) {
			idx = append(idx, last)
			continue
		}
		last = d.index(v)
		lastV = v
		idx = append(idx, last)
		if len(d.off) > n/2+1 || len(d.dat) > pqPageBytes {
			pw.idx = idx
			return false
		}
	}
	pw.idx = idx
	return len(idx) > 0 && len(d.off) <= max(len(idx)/2, 1) && len(d.dat) <= pqPageBytes
}

// maxNumDict is the most distinct values of a number column's dictionary
// (quantities, counts, flags); columns with more are written PLAIN.
const maxNumDict = 256

// buildNumDict is buildDict for Float and Int columns: values compared by
// their bits; it gives up (false) at more than maxNumDict distinct values.
func (pw *pqWriter) buildNumDict(src *colBuf, kind Kind, n int) bool {
	d := &pw.ndict
	d.reset()
	idx := pw.idx[:0]
	last, lastI := uint64(0), int32(-1)
	for r := 0; r < n; r++ {
		if src.null[r] {
			continue
		}
		var v uint64
		if kind == Float {
			v = math.Float64bits(src.f[r])
		} else {
			v = uint64(src.i[r])
		}
		if lastI >= 0 && v == last {
			idx = append(idx, lastI)
			continue
		}
		i := d.index(v)
		if i < 0 {
			pw.idx = idx
			return false
		}
		last, lastI = v, i
		idx = append(idx, i)
	}
	pw.idx = idx
	return len(idx) > 0
}

// numDict maps up to maxNumDict 8-byte values to dictionary indexes
// (first-seen order).
type numDict struct {
	slots [4 * maxNumDict]int32 // index+1; 0 = empty
	vals  []uint64
}

func (d *numDict) reset() {
	clear(d.slots[:])
	d.vals = d.vals[:0]
}

// index returns v's index, adding it; -1 when the dictionary is full.
func (d *numDict) index(v uint64) int32 {
	const mask = 4*maxNumDict - 1
	for j := (v * 0x9E3779B97F4A7C15) >> 54; ; j = (j + 1) & mask {
		e := d.slots[j]
		if e == 0 {
			if len(d.vals) == maxNumDict {
				return -1
			}
			d.vals = append(d.vals, v)
			d.slots[j] = int32(len(d.vals))
			return int32(len(d.vals) - 1)
		}
		if d.vals[e-1] == v {
			return e - 1
		}
	}
}

// appendDefLevels appends rows lo..hi-1's definition levels (1 = value,
// 0 = null), RLE/bit-packed hybrid with a 4-byte length, and returns the
// count of non-null rows.
func appendDefLevels(body []byte, src *colBuf, lo, hi int) ([]byte, int) {
	n := hi - lo
	lenAt := len(body)
	body = append(body, 0, 0, 0, 0)
	valid := 0
	if src != nil {
		for _, null := range src.null[lo:hi] {
			if !null {
				valid++
			}
		}
	}
	switch valid {
	case 0, n:
		body = binary.AppendUvarint(body, uint64(n)<<1)
		v := byte(0)
		if valid == n {
			v = 1
		}
		body = append(body, v)
	default:
		groups := (n + 7) / 8
		body = binary.AppendUvarint(body, uint64(groups)<<1|1)
		at := len(body)
		for range groups {
			body = append(body, 0)
		}
		bs := body[at:]
		for j, null := range src.null[lo:hi] {
			if !null {
				bs[j>>3] |= 1 << (j & 7)
			}
		}
	}
	binary.LittleEndian.PutUint32(body[lenAt:], uint32(len(body)-lenAt-4))
	return body, valid
}

// appendPlain appends the PLAIN encoding of rows lo..hi-1's non-null values.
func appendPlain(body []byte, kind Kind, src *colBuf, lo, hi int, dense bool) []byte {
	switch kind {
	case Float:
		if dense {
			return append(body, asBytes(src.f[lo:hi])...)
		}
		for r := lo; r < hi; r++ {
			if !src.null[r] {
				body = binary.LittleEndian.AppendUint64(body, math.Float64bits(src.f[r]))
			}
		}
	case Int, Time:
		if dense {
			return append(body, asBytes(src.i[lo:hi])...)
		}
		for r := lo; r < hi; r++ {
			if !src.null[r] {
				body = binary.LittleEndian.AppendUint64(body, uint64(src.i[r]))
			}
		}
	case Bool:
		var acc byte
		j := 0
		for r := lo; r < hi; r++ {
			if src.null[r] {
				continue
			}
			if src.i[r] != 0 {
				acc |= 1 << (j & 7)
			}
			j++
			if j&7 == 0 {
				body = append(body, acc)
				acc = 0
			}
		}
		if j&7 != 0 {
			body = append(body, acc)
		}
	case String:
		s := uint32(0)
		if lo > 0 {
			s = src.off[lo-1]
		}
		for r := lo; r < hi; r++ {
			e := src.off[r]
			if !src.null[r] {
				body = binary.LittleEndian.AppendUint32(body, e-s)
				body = append(body, src.dat[s:e]...)
			}
			s = e
		}
	}
	return body
}

// close writes the footer.
func (pw *pqWriter) close() error {
	md := format.FileMetaData{Version: 1, NumRows: pw.rows, RowGroups: pw.rgs, KeyValueMetadata: pw.kv, CreatedBy: "retain extract"}
	md.Schema = append(md.Schema, format.SchemaElement{Name: "schema", NumChildren: thrift.New(int32(len(pw.spec.Columns)))})
	for k, c := range pw.spec.Columns {
		el := format.SchemaElement{Name: c.Name, Type: thrift.New(pw.physical(c))}
		rep := format.Required
		if pw.optional[k] {
			rep = format.Optional
		}
		el.RepetitionType = thrift.New(rep)
		switch c.Kind {
		case String:
			pqenc.AsString(&el)
		case Int:
			el.ConvertedType = thrift.New(deprecated.Int64)
			el.LogicalType = format.LogicalType{Value: &format.IntType{BitWidth: 64, IsSigned: true}}
		case Time:
			pqenc.AsTimestampMicros(&el)
		}
		md.Schema = append(md.Schema, el)
	}
	b, err := pqenc.Footer(&md)
	if err != nil {
		return err
	}
	if err := pw.write(b); err != nil {
		return err
	}
	pw.enc.Close()
	return nil
}

// dictTable maps string values to dictionary indexes (first-seen order):
// open addressing over the values' hashes.
type dictTable struct {
	seed  maphash.Seed
	slots []int32 // index+1; 0 = empty
	dat   []byte
	off   []uint32 // end offsets of the values in dat
}

func (d *dictTable) reset() {
	if d.slots == nil {
		d.seed = maphash.MakeSeed()
		d.slots = make([]int32, 1<<10)
	}
	clear(d.slots)
	d.dat, d.off = d.dat[:0], d.off[:0]
}

func (d *dictTable) value(i int32) []byte {
	s := uint32(0)
	if i > 0 {
		s = d.off[i-1]
	}
	return d.dat[s:d.off[i]]
}

func (d *dictTable) index(v []byte) int32 {
	if 2*(len(d.off)+1) > len(d.slots) {
		d.grow()
	}
	mask := uint64(len(d.slots) - 1)
	h := maphash.Bytes(d.seed, v)
	for j := h & mask; ; j = (j + 1) & mask {
		e := d.slots[j]
		if e == 0 {
			d.dat = append(d.dat, v...)
			d.off = append(d.off, uint32(len(d.dat)))
			d.slots[j] = int32(len(d.off))
			return int32(len(d.off) - 1)
		}
		if bytes.Equal(d.value(e-1), v) {
			return e - 1
		}
	}
}

func (d *dictTable) grow() {
	d.slots = make([]int32, 2*len(d.slots))
	mask := uint64(len(d.slots) - 1)
	for i := range d.off {
		h := maphash.Bytes(d.seed, d.value(int32(i)))
		j := h & mask
		for d.slots[j] != 0 {
			j = (j + 1) & mask
		}
		d.slots[j] = int32(i + 1)
	}
}
