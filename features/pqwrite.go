package features

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/retainlab/retain/datasets/pqenc"
)

// Our own Parquet writer for features files: flat columns, data pages v1
// with RLE definition levels, PLAIN values or a PLAIN dictionary page and
// RLE_DICTIONARY indices, Snappy (s2's fast Snappy-compatible mode) or no
// compression per column, no statistics. Column chunks of all row groups
// are encoded in parallel, each into its own buffer, and written in file
// order by the calling goroutine. It replaces arrow-go's buffered row-group
// writer, which hashed every value of a dictionary column through a
// generic table, compressed with Snappy's slower "better" mode, grew its
// page buffers by reallocation and wrote each row group serially.

// pqPageRows is the most rows per data page.
const pqPageRows = 1 << 16

// pqMaxDict is the most dictionary entries of a column chunk; a chunk with
// more distinct values is written PLAIN.
const pqMaxDict = 1 << 16

type pqKind int

const (
	pqIDs    pqKind = iota // customer_id: required utf8 (BYTE_ARRAY)
	pqCutoff               // cutoff: required timestamp[us, UTC] (INT64)
	pqFloat                // a feature or the label: optional DOUBLE
)

// pqColumn is one column of the file and how it is encoded.
type pqColumn struct {
	name   string
	kind   pqKind
	floats []float64 // pqFloat: NaN = null
	dict   bool      // try a dictionary
	snappy bool      // compress pages
}

// pqChunk is one encoded column chunk; offsets are relative to its start.
type pqChunk struct {
	buf     []byte
	md      format.ColumnMetaData
	dictOff int64 // -1 without a dictionary page
	dataOff int64
}

// pqEncoder holds one goroutine's scratch buffers.
type pqEncoder struct {
	proto    thrift.CompactProtocol
	chunk    []byte
	body     []byte
	comp     []byte
	vals     []uint64 // a chunk's non-null values (raw bits)
	idx      []int32  // their dictionary indices
	dictKeys []uint64 // dictionary entries, first-seen order
	table    []int32  // open addressing: 1 + index into dictKeys, 0 = empty
	small    []int32  // 1 + index into dictKeys of the integer k, 0 = none
}

// pqSmallInts bounds the integers of pqEncoder.small.
const pqSmallInts = 1 << 12

// encode writes rows [lo, hi) of column c as one column chunk into buf.
func (e *pqEncoder) encode(f *Frame, c *pqColumn, lo, hi int, buf []byte) (*pqChunk, error) {
	n := hi - lo
	// The chunk is built in e.chunk (reused) and copied into buf (a
	// recycled buffer, or one of the exact size) at the end.
	ch := &pqChunk{buf: e.chunk[:0], dictOff: -1}
	defer func() {
		e.chunk = ch.buf
		if cap(buf) < len(ch.buf) {
			buf = make([]byte, 0, len(ch.buf))
		}
		ch.buf = append(buf[:0], ch.buf...)
	}()
	md := &ch.md
	md.PathInSchema = []string{c.name}
	md.NumValues = int64(n)
	md.Codec = format.Uncompressed
	if c.snappy {
		md.Codec = format.Snappy
	}
	optional := c.kind == pqFloat
	// Values as raw 8-byte words (not for ids).
	vals := e.vals[:0]
	switch c.kind {
	case pqFloat:
		md.Type = format.Double
		// Every value is stored and the count advances past the present
		// ones only: no branch on nulls.
		vals = grow(vals, n)
		k := 0
		for _, v := range c.floats[lo:hi] {
			vals[k] = math.Float64bits(v)
			k += present(v)
		}
		vals = vals[:k]
	case pqCutoff:
		md.Type = format.Int64
		for _, t := range f.Cutoffs[lo:hi] {
			vals = append(vals, uint64(t.UnixMicro()))
		}
	case pqIDs:
		md.Type = format.ByteArray
	}
	e.vals = vals
	useDict := c.dict && c.kind != pqIDs && e.buildDict(vals)
	usize := int64(0)
	if useDict {
		ch.dictOff = int64(len(ch.buf))
		body := appendPlain64(e.body[:0], e.dictKeys)
		e.body = body
		h := format.PageHeader{Type: format.DictionaryPage}
		h.DictionaryPageHeader = thrift.New(format.DictionaryPageHeader{NumValues: int32(len(e.dictKeys)), Encoding: format.Plain})
		u, err := e.page(ch, &h, body, c.snappy)
		if err != nil {
			return nil, err
		}
		usize += u
		md.Encoding = []format.Encoding{format.Plain, format.RLE, format.RLEDictionary}
		md.EncodingStats = []format.PageEncodingStats{{PageType: format.DictionaryPage, Encoding: format.Plain, Count: 1}}
	} else {
		md.Encoding = []format.Encoding{format.Plain, format.RLE}
	}
	ch.dataOff = int64(len(ch.buf))
	width := 0
	if useDict {
		width = max(1, bits.Len(uint(len(e.dictKeys)-1)))
	}
	pages := int32(0)
	nv := 0 // non-null values before the page
	for plo := lo; plo < hi || (plo == lo && n == 0); plo += pqPageRows {
		phi := min(plo+pqPageRows, hi)
		body := e.body[:0]
		valid := phi - plo
		if optional {
			body, valid = appendDefLevels(body, c.floats[plo:phi])
		}
		enc := format.Plain
		switch {
		case valid == 0:
		case useDict:
			enc = format.RLEDictionary
			body = append(body, byte(width))
			body = pqenc.AppendHybrid(body, e.idx[nv:nv+valid], width)
		case c.kind == pqIDs:
			for _, id := range f.IDs[plo:phi] {
				body = binary.LittleEndian.AppendUint32(body, uint32(len(id)))
				body = append(body, id...)
			}
		default:
			body = appendPlain64(body, vals[nv:nv+valid])
		}
		nv += valid
		e.body = body
		h := format.PageHeader{Type: format.DataPage}
		h.DataPageHeader = thrift.New(format.DataPageHeader{NumValues: int32(phi - plo), Encoding: enc,
			DefinitionLevelEncoding: format.RLE, RepetitionLevelEncoding: format.RLE})
		u, err := e.page(ch, &h, body, c.snappy)
		if err != nil {
			return nil, err
		}
		usize += u
		pages++
		if phi >= hi {
			break
		}
	}
	denc := format.Plain
	if useDict {
		denc = format.RLEDictionary
	}
	md.EncodingStats = append(md.EncodingStats, format.PageEncodingStats{PageType: format.DataPage, Encoding: denc, Count: pages})
	md.TotalUncompressedSize = usize
	md.TotalCompressedSize = int64(len(ch.buf))
	return ch, nil
}

// page appends one page (header and body, compressed when asked) to the
// chunk and returns its uncompressed size, header included.
func (e *pqEncoder) page(ch *pqChunk, h *format.PageHeader, body []byte, snappy bool) (int64, error) {
	data := body
	if snappy {
		e.comp = s2.EncodeSnappy(e.comp[:cap(e.comp)], body)
		data = e.comp
	}
	h.UncompressedPageSize = int32(len(body))
	h.CompressedPageSize = int32(len(data))
	hb, err := thrift.Marshal(&e.proto, h)
	if err != nil {
		return 0, fmt.Errorf("page header: %w", err)
	}
	ch.buf = append(ch.buf, hb...)
	ch.buf = append(ch.buf, data...)
	return int64(len(hb) + len(body)), nil
}

// buildDict fills e.dictKeys (first-seen order) and e.idx (one per value)
// and reports whether the values fit a dictionary of at most pqMaxDict
// entries.
func (e *pqEncoder) buildDict(vals []uint64) bool {
	e.dictKeys = e.dictKeys[:0]
	if len(e.table) == 0 {
		e.table = make([]int32, 1<<10)
	} else {
		clear(e.table)
	}
	idx := grow(e.idx, len(vals))
	e.idx = idx
	// Small non-negative integers (counts, codes: most dictionary columns)
	// index a direct table; anything else goes through the hash table.
	if len(e.small) == 0 {
		e.small = make([]int32, pqSmallInts)
	} else {
		clear(e.small)
	}
	mask := uint64(len(e.table) - 1)
	for i, v := range vals {
		if k := int(math.Float64frombits(v)); uint(k) < pqSmallInts && math.Float64bits(float64(k)) == v {
			if x := e.small[k]; x != 0 {
				idx[i] = x - 1
				continue
			}
			if len(e.dictKeys) == pqMaxDict {
				return false
			}
			e.dictKeys = append(e.dictKeys, v)
			e.small[k] = int32(len(e.dictKeys))
			idx[i] = int32(len(e.dictKeys) - 1)
			continue
		}
		h := dictHash(v)
		for {
			slot := h & mask
			k := e.table[slot]
			if k == 0 {
				if len(e.dictKeys) == pqMaxDict {
					return false
				}
				e.dictKeys = append(e.dictKeys, v)
				e.table[slot] = int32(len(e.dictKeys))
				idx[i] = int32(len(e.dictKeys) - 1)
				if 2*len(e.dictKeys) > len(e.table) {
					e.rehash()
					mask = uint64(len(e.table) - 1)
				}
				break
			}
			if e.dictKeys[k-1] == v {
				idx[i] = k - 1
				break
			}
			h++
		}
	}
	return true
}

// dictHash takes the top bits of a multiplicative hash: float64 counts and
// codes differ only in their high bits, so the low bits of the product are
// all zero.
func dictHash(v uint64) uint64 {
	return (v * 0x9E3779B97F4A7C15) >> 40
}

// rehash doubles the table.
func (e *pqEncoder) rehash() {
	e.table = make([]int32, 2*len(e.table))
	mask := uint64(len(e.table) - 1)
	for i, v := range e.dictKeys {
		h := dictHash(v)
		for e.table[h&mask] != 0 {
			h++
		}
		e.table[h&mask] = int32(i + 1)
	}
}

// appendDefLevels appends the definition levels of vals (1 = value, 0 =
// null: NaN) in the RLE/bit-packed hybrid with a 4-byte length, and returns
// the count of values. The bit-packed run is written and counted in one
// pass without a branch per value; a page whose values are all present
// (or all null) is then rewritten as one RLE run.
func appendDefLevels(body []byte, vals []float64) ([]byte, int) {
	n := len(vals)
	lenAt := len(body)
	body = append(body, 0, 0, 0, 0)
	groups := (n + 7) / 8
	body = binary.AppendUvarint(body, uint64(groups)<<1|1)
	at := len(body)
	body = slices.Grow(body, groups)[:at+groups]
	bs := body[at:]
	valid := 0
	full := n &^ 7
	for j := 0; j < full; j += 8 {
		g := vals[j : j+8 : j+8]
		b := byte(present(g[0])) | byte(present(g[1]))<<1 | byte(present(g[2]))<<2 | byte(present(g[3]))<<3 |
			byte(present(g[4]))<<4 | byte(present(g[5]))<<5 | byte(present(g[6]))<<6 | byte(present(g[7]))<<7
		bs[j>>3] = b
		valid += bits.OnesCount8(b)
	}
	if full < n {
		b := byte(0)
		for j, v := range vals[full:] {
			b |= byte(present(v)) << j
		}
		bs[full>>3] = b
		valid += bits.OnesCount8(b)
	}
	if valid == 0 || valid == n {
		body = binary.AppendUvarint(body[:lenAt+4], uint64(n)<<1)
		v := byte(0)
		if valid == n {
			v = 1
		}
		body = append(body, v)
	}
	binary.LittleEndian.PutUint32(body[lenAt:], uint32(len(body)-lenAt-4))
	return body, valid
}

// present is 1 for a value and 0 for a null (NaN), without a branch.
func present(v float64) int {
	// NaN is the only value whose magnitude bits exceed the infinity's.
	return int(((math.Float64bits(v) &^ (1 << 63)) - 0x7FF0000000000001) >> 63)
}

// appendPlain64 appends vals as PLAIN 8-byte little-endian values.
func appendPlain64(body []byte, vals []uint64) []byte {
	at := len(body)
	body = slices.Grow(body, 8*len(vals))[:at+8*len(vals)]
	out := body[at:]
	for i, v := range vals {
		binary.LittleEndian.PutUint64(out[8*i:], v)
	}
	return body
}

// writeParquet writes the Parquet file of f with columns cols to w from
// offset 0: magic, row groups of writeRowGroup rows, footer with kv. With
// dw set, the bytes go through it (in file order, aligned blocks) instead
// of one WriteAt per chunk on w.
func writeParquet(ctx context.Context, w io.WriterAt, dw *directWriter, f *Frame, cols []pqColumn, kv [][2]string, workers int) (err error) {
	n := len(f.IDs)
	ncol := len(cols)
	nrg := max(1, (n+writeRowGroup-1)/writeRowGroup)
	ntask := nrg * ncol
	if dw != nil {
		closed := false
		defer func() {
			if !closed {
				dw.abort()
			}
		}()
		dw.add([]byte("PAR1"))
		// the footer's add and the close below
		defer func() {
			if err == nil {
				closed = true
				err = dw.close()
			}
		}()
	} else if _, err := w.WriteAt([]byte("PAR1"), 0); err != nil {
		return err
	}
	off := int64(4)

	type slot struct {
		done chan struct{}
		ch   *pqChunk
		err  error
	}
	slots := make([]slot, ntask)
	for i := range slots {
		slots[i].done = make(chan struct{})
	}
	ctx, cancel := context.WithCancel(ctx)
	// window bounds the encoded chunks held in memory: about one row group
	// besides the ones being written.
	window := make(chan struct{}, ncol+2*workers)
	free := make(chan []byte, ncol+2*workers)
	tasks := make(chan int)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(tasks)
		for i := 0; i < ntask; i++ {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case tasks <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := &pqEncoder{}
			for i := range tasks {
				rg, c := i/ncol, i%ncol
				lo := rg * writeRowGroup
				hi := min(lo+writeRowGroup, n)
				var buf []byte
				select {
				case buf = <-free:
				default:
				}
				s := &slots[i]
				s.ch, s.err = e.encode(f, &cols[c], lo, hi, buf)
				if s.err != nil {
					s.err = fmt.Errorf("column %s: %w", cols[c].name, s.err)
				}
				close(s.done)
			}
		}()
	}
	// Chunks are written at their offsets (known once the chunks before
	// them are encoded) by their own goroutines, so copying them into the
	// file overlaps the encoding instead of running on this one.
	type job struct {
		buf []byte
		off int64
	}
	jobs := make(chan job, ncol+2*workers)
	var wwg sync.WaitGroup
	var werrMu sync.Mutex
	var werr error
	for range workers {
		if dw != nil {
			break
		}
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for j := range jobs {
				if _, err := w.WriteAt(j.buf, j.off); err != nil {
					werrMu.Lock()
					if werr == nil {
						werr = err
					}
					werrMu.Unlock()
				} else {
					startWriteback(w, j.off, int64(len(j.buf)))
				}
				select {
				case free <- j.buf:
				default:
				}
				<-window
			}
		}()
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		wg.Wait()
		close(jobs)
		wwg.Wait()
	}
	var rgs []format.RowGroup
	for rg := 0; rg < nrg; rg++ {
		lo := rg * writeRowGroup
		hi := min(lo+writeRowGroup, n)
		g := format.RowGroup{NumRows: int64(hi - lo), FileOffset: off, Ordinal: int16(rg)}
		for c := 0; c < ncol; c++ {
			s := &slots[rg*ncol+c]
			select {
			case <-s.done:
			case <-ctx.Done():
				stop()
				return ctx.Err()
			}
			if s.err != nil {
				stop()
				return s.err
			}
			ch := s.ch
			md := ch.md
			md.DataPageOffset = off + ch.dataOff
			if ch.dictOff >= 0 {
				md.DictionaryPageOffset = off + ch.dictOff
			}
			if dw != nil {
				// copied into the file's blocks: the buffer is free again
				dw.add(ch.buf)
				select {
				case free <- ch.buf:
				default:
				}
				<-window
			} else {
				jobs <- job{ch.buf, off}
			}
			g.Columns = append(g.Columns, format.ColumnChunk{FileOffset: off, MetaData: md})
			g.TotalByteSize += md.TotalUncompressedSize
			g.TotalCompressedSize += md.TotalCompressedSize
			off += int64(len(ch.buf))
			s.ch = nil
		}
		rgs = append(rgs, g)
	}
	stop()
	if werr != nil {
		return werr
	}

	md := format.FileMetaData{Version: 1, NumRows: int64(n), RowGroups: rgs, CreatedBy: "retain features"}
	for _, p := range kv {
		md.KeyValueMetadata = append(md.KeyValueMetadata, format.KeyValue{Key: p[0], Value: p[1]})
	}
	md.Schema = append(md.Schema, format.SchemaElement{Name: "schema", NumChildren: thrift.New(int32(ncol))})
	for _, c := range cols {
		el := format.SchemaElement{Name: c.name}
		switch c.kind {
		case pqIDs:
			el.Type = thrift.New(format.ByteArray)
			el.RepetitionType = thrift.New(format.Required)
			pqenc.AsString(&el)
		case pqCutoff:
			el.Type = thrift.New(format.Int64)
			el.RepetitionType = thrift.New(format.Required)
			pqenc.AsTimestampMicros(&el)
		case pqFloat:
			el.Type = thrift.New(format.Double)
			el.RepetitionType = thrift.New(format.Optional)
		}
		md.Schema = append(md.Schema, el)
	}
	b, err := pqenc.Footer(&md)
	if err != nil {
		return err
	}
	if dw != nil {
		dw.add(b)
		return nil
	}
	_, err = w.WriteAt(b, off)
	return err
}
