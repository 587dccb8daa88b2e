package datasets

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// writeChunk is the number of rows per Arrow record (and Parquet row group)
// written to a shard file.
const writeChunk = 256 << 10

// loadShard appends a shard's spill files onto b.
func loadShard(files []string, p *tablePlan, b *block) error {
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return fmt.Errorf("spill file: %w", err)
		}
		br := bufio.NewReaderSize(fh, 1<<20)
		for {
			err := b.readFrom(br, p.kinds, p.present)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fh.Close()
				return fmt.Errorf("%s: %w", f, err)
			}
		}
		fh.Close()
	}
	return nil
}

// loadParquetShard appends the rows of a previous snapshot's shard file onto
// b (incremental extracts). Their source line is 0, so at equal times they
// sort before new rows, in file order.
func loadParquetShard(ctx context.Context, path string, p *tablePlan, b *block) error {
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		return fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	defer tbl.Release()
	n := int(tbl.NumRows())
	b.line = append(b.line, make([]int64, n)...)
	for k, c := range p.spec.Columns {
		if !p.present[k] {
			continue
		}
		idx := tbl.Schema().FieldIndices(c.Name)
		if len(idx) == 0 {
			return fmt.Errorf("previous snapshot %s: no column %s", path, c.Name)
		}
		d := &b.cols[k]
		for _, ch := range tbl.Column(idx[0]).Data().Chunks() {
			for i := 0; i < ch.Len(); i++ {
				null := ch.IsNull(i)
				d.null = append(d.null, null)
				switch a := ch.(type) {
				case *array.String:
					if !null {
						d.dat = append(d.dat, a.Value(i)...)
					}
					d.off = append(d.off, uint32(len(d.dat)))
				case *array.Float64:
					d.f = append(d.f, a.Value(i))
				case *array.Int64:
					d.i = append(d.i, a.Value(i))
				case *array.Timestamp:
					d.i = append(d.i, int64(a.Value(i)))
				case *array.Boolean:
					d.i = append(d.i, b2i(a.Value(i)))
				default:
					return fmt.Errorf("previous snapshot %s: column %s has type %s", path, c.Name, ch.DataType())
				}
			}
		}
	}
	b.n += n
	return nil
}

// sortShard returns row indexes ordered by (customer_id bytes, time, source
// line): a counting sort over ranked customer ids, then a time sort within
// each customer. starts[i] is where customer i's rows begin.
func sortShard(b *block, p *tablePlan) (perm []int32, starts []int32) {
	ids := &b.cols[p.custIdx]
	dense := make(map[string]int32, b.n/8+16)
	cust := make([]int32, b.n)
	var distinct []string
	for r := 0; r < b.n; r++ {
		s := bstr(ids.str(r))
		d, ok := dense[s]
		if !ok {
			d = int32(len(distinct))
			dense[s] = d
			distinct = append(distinct, s)
		}
		cust[r] = d
	}
	order := make([]int32, len(distinct))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		x, y := distinct[a], distinct[b]
		if x < y {
			return -1
		}
		if x > y {
			return 1
		}
		return 0
	})
	rank := make([]int32, len(distinct))
	for i, d := range order {
		rank[d] = int32(i)
	}
	starts = make([]int32, len(distinct)+1)
	for _, d := range cust {
		starts[rank[d]+1]++
	}
	for i := 1; i < len(starts); i++ {
		starts[i] += starts[i-1]
	}
	next := slices.Clone(starts[:len(distinct)])
	perm = make([]int32, b.n)
	for r, d := range cust {
		k := rank[d]
		perm[next[k]] = int32(r)
		next[k]++
	}
	var tm []int64
	if p.timeIdx >= 0 && p.present[p.timeIdx] {
		tc := &b.cols[p.timeIdx]
		tm = make([]int64, b.n)
		for r := range tm {
			if tc.null[r] {
				tm[r] = math.MinInt64
			} else {
				tm[r] = tc.i[r]
			}
		}
	}
	line := b.line
	for i := 0; i+1 < len(starts); i++ {
		seg := perm[starts[i]:starts[i+1]]
		if len(seg) < 2 {
			continue
		}
		cmp := func(a, b int32) int {
			if tm != nil && tm[a] != tm[b] {
				if tm[a] < tm[b] {
					return -1
				}
				return 1
			}
			if line[a] != line[b] {
				if line[a] < line[b] {
					return -1
				}
				return 1
			}
			return int(a - b)
		}
		if len(seg) <= 12 {
			for j := 1; j < len(seg); j++ {
				for k := j; k > 0 && cmp(seg[k-1], seg[k]) > 0; k-- {
					seg[k-1], seg[k] = seg[k], seg[k-1]
				}
			}
		} else {
			slices.SortFunc(seg, cmp)
		}
	}
	return perm, starts
}

// permuteCols returns a block holding b's columns k with want[k] (the
// others empty) in perm order, so roll-up reads them sequentially. Columns
// not wanted are read straight from b through perm when written.
func permuteCols(b *block, perm []int32, p *tablePlan, want []bool) *block {
	out := newBlock(len(p.cols))
	out.n = len(perm)
	for k, ok := range p.present {
		if !ok || !want[k] {
			continue
		}
		s, d := &b.cols[k], &out.cols[k]
		d.null = make([]bool, len(perm))
		for j, r := range perm {
			d.null[j] = s.null[r]
		}
		switch p.kinds[k] {
		case Float:
			d.f = make([]float64, len(perm))
			for j, r := range perm {
				d.f[j] = s.f[r]
			}
		case String:
			d.off = make([]uint32, len(perm))
			d.dat = make([]byte, 0, len(s.dat))
			for j, r := range perm {
				d.dat = append(d.dat, s.str(int(r))...)
				d.off[j] = uint32(len(d.dat))
			}
		default:
			d.i = make([]int64, len(perm))
			for j, r := range perm {
				d.i[j] = s.i[r]
			}
		}
	}
	return out
}

// rollup folds order lines with the same (customer, order_id) into one
// order: the earliest line leads; amount, quantity and discount are summed,
// returned is true if any line was, lines and distinct_products are counted.
// Sorted position i is row perm[i] of b (rows of customer c are at
// positions starts[c]..starts[c+1]); sb holds order_id and product in sorted
// order. It returns the lead rows (sorted positions) and the overridden
// columns (indexed like b.cols, nil when not overridden) in output order.
//
// The first pass only groups lines (the output order of each row) and
// counts lines and distinct products; the summed columns are built in a
// second pass, and only when some order has more than one line: when every
// line is its own order the source columns are written as they are.
func rollup(b, sb *block, perm []int32, p *tablePlan, starts []int32) ([]int32, []*colBuf) {
	oidx := indexOf(p.spec, "order_id")
	oid := &sb.cols[oidx]
	ret, prod := indexOf(p.spec, "returned"), indexOf(p.spec, "product")
	hasRet, hasProd := p.present[ret], p.present[prod]
	lines := make([]int64, 0, b.n)
	dist := make([]int64, 0, b.n)
	lead := make([]int32, 0, b.n)
	outOf := make([]int32, b.n) // output order of each row's order
	type outOrder struct {
		id    []byte
		out   int
		prods [][]byte
	}
	var cur []outOrder
	var big map[string]int
	var prodC *colBuf
	if hasProd {
		prodC = &sb.cols[prod]
	}
	for c := 0; c+1 < len(starts); c++ {
		cur = cur[:0]
		big = nil
		for r := int(starts[c]); r < int(starts[c+1]); r++ {
			found := -1
			var id []byte
			if !oid.null[r] {
				id = oid.str(r)
				if big != nil {
					if j, ok := big[bstr(id)]; ok {
						found = j
					}
				} else {
					for j := len(cur) - 1; j >= 0; j-- {
						q := cur[j].id
						if len(q) == len(id) && q[len(q)-1] == id[len(id)-1] && bytes.Equal(q, id) {
							found = j
							break
						}
					}
				}
			}
			if found < 0 {
				o := outOrder{out: len(lead), id: id}
				outOf[r] = int32(len(lead))
				lead = append(lead, int32(r))
				lines = append(lines, 1)
				np := int64(0)
				if hasProd && !prodC.null[r] {
					o.prods = append(o.prods, prodC.str(r))
					np = 1
				}
				dist = append(dist, np)
				if len(id) == 0 {
					continue // a line without an order id is its own order
				}
				cur = append(cur, o)
				if len(cur) == 64 {
					big = make(map[string]int, 128)
					for j, o := range cur {
						big[bstr(o.id)] = j
					}
				} else if big != nil {
					big[bstr(id)] = len(cur) - 1
				}
				continue
			}
			o := &cur[found]
			outOf[r] = int32(o.out)
			lines[o.out]++
			if hasProd && !prodC.null[r] {
				pv := prodC.str(r)
				dup := false
				for _, q := range o.prods {
					if bytes.Equal(q, pv) {
						dup = true
						break
					}
				}
				if !dup {
					o.prods = append(o.prods, pv)
					dist[o.out]++
				}
			}
		}
	}
	over := make([]*colBuf, len(p.cols))
	over[indexOf(p.spec, "lines")] = &colBuf{i: lines, null: make([]bool, len(lines))}
	distNull := make([]bool, len(dist))
	if !hasProd {
		for i := range distNull {
			distNull[i] = true
		}
	}
	over[indexOf(p.spec, "distinct_products")] = &colBuf{i: dist, null: distNull}
	if len(lead) == b.n {
		return lead, over // no order has two lines: nothing to sum
	}
	for _, n := range []string{"amount", "quantity", "discount"} {
		k := indexOf(p.spec, n)
		if !p.present[k] {
			continue
		}
		src := &b.cols[k]
		ob := &colBuf{f: make([]float64, len(lead)), null: make([]bool, len(lead))}
		for o, r := range lead {
			ob.f[o], ob.null[o] = src.f[perm[r]], src.null[perm[r]]
		}
		for r, o := range outOf {
			if lead[o] == int32(r) || src.null[perm[r]] {
				continue
			}
			if ob.null[o] {
				ob.null[o] = false
				ob.f[o] = 0
			}
			ob.f[o] += src.f[perm[r]]
		}
		over[k] = ob
	}
	if hasRet {
		src := &b.cols[ret]
		ob := &colBuf{i: make([]int64, len(lead)), null: make([]bool, len(lead))}
		for o, r := range lead {
			ob.i[o], ob.null[o] = src.i[perm[r]], src.null[perm[r]]
		}
		for r, o := range outOf {
			if lead[o] == int32(r) || src.null[perm[r]] {
				continue
			}
			ob.null[o] = false
			ob.i[o] |= src.i[perm[r]]
		}
		over[ret] = ob
	}
	return lead, over
}

// shardResult is what writing one shard file produced.
type shardResult struct {
	rows       int64
	minT, maxT int64
}

// writeShard sorts, rolls up and writes one shard's rows to path atomically.
func writeShard(path string, b *block, p *tablePlan, rollUp bool) (shardResult, error) {
	res := shardResult{minT: math.MaxInt64, maxT: math.MinInt64}
	perm, starts := sortShard(b, p)
	over := make([]*colBuf, len(p.cols))
	if rollUp {
		want := make([]bool, len(p.cols))
		want[indexOf(p.spec, "order_id")] = true
		want[indexOf(p.spec, "product")] = true
		lead, ov := rollup(b, permuteCols(b, perm, p, want), perm, p, starts)
		for j, l := range lead {
			lead[j] = perm[l] // the lead line's row in b
		}
		perm, over = lead, ov
	}
	res.rows = int64(len(perm))
	schema := p.spec.ArrowSchema()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return res, fmt.Errorf("snapshot folder: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return res, fmt.Errorf("shard file: %w", err)
	}
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	props := parquet.NewWriterProperties(append(dictionaryProps(p.spec),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(1),
		parquet.WithMaxRowGroupLength(writeChunk),
		parquet.WithCreatedBy("retain extract"),
	)...)
	fw, err := pqarrow.NewFileWriter(schema, bw, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return res, fmt.Errorf("shard file %s: %w", path, err)
	}
	arrs := make([]arrow.Array, len(p.cols))
	var g gatherBufs
	posIdx := make([]int32, 0, writeChunk)
	for lo := 0; lo < len(perm) || lo == 0; lo += writeChunk {
		hi := min(lo+writeChunk, len(perm))
		rows := perm[lo:hi]
		posIdx = posIdx[:0]
		for j := lo; j < hi; j++ {
			posIdx = append(posIdx, int32(j))
		}
		for k, c := range p.spec.Columns {
			var src *colBuf
			idx := rows
			if ob := over[k]; ob != nil {
				src, idx = ob, posIdx
			} else if p.present[k] {
				src = &b.cols[k]
			}
			arrs[k] = g.gather(k, c, src, idx)
			if k == p.timeIdx && src != nil {
				for _, r := range idx {
					if !src.null[r] {
						v := src.i[r]
						res.minT = min(res.minT, v)
						res.maxT = max(res.maxT, v)
					}
				}
			}
		}
		rec := array.NewRecordBatch(schema, arrs, int64(len(rows)))
		err := fw.Write(rec)
		rec.Release()
		for _, a := range arrs {
			a.Release()
		}
		if err != nil {
			return res, fmt.Errorf("shard file %s: %w", path, err)
		}
		if len(perm) == 0 {
			break
		}
	}
	if err := fw.Close(); err != nil {
		return res, fmt.Errorf("shard file %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return res, fmt.Errorf("shard file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return res, fmt.Errorf("shard file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		f = nil
		return res, fmt.Errorf("shard file %s: %w", path, err)
	}
	f = nil
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("shard file %s: %w", path, err)
	}
	return res, nil
}

// gatherBufs builds Arrow arrays over reusable Go slices (no builders): the
// arrays alias the buffers, so they are valid until the next gather of the
// same column.
type gatherBufs struct {
	f    map[int][]float64
	i    map[int][]int64
	off  map[int][]int32
	dat  map[int][]byte
	bits map[int][]byte
}

func (g *gatherBufs) gather(k int, c Column, src *colBuf, idx []int32) arrow.Array {
	if g.f == nil {
		g.f, g.i, g.off, g.dat, g.bits = map[int][]float64{}, map[int][]int64{}, map[int][]int32{}, map[int][]byte{}, map[int][]byte{}
	}
	n := len(idx)
	typ := c.Kind.ArrowType()
	if c.Kind == Bool {
		typ = arrow.FixedWidthTypes.Boolean
	}
	// validity bitmap
	nbytes := (n + 7) / 8
	bits := g.bits[k]
	if cap(bits) < nbytes {
		bits = make([]byte, nbytes)
	}
	bits = bits[:nbytes]
	clear(bits)
	nulls := 0
	if src == nil {
		nulls = n
	} else {
		for j, r := range idx {
			if src.null[r] {
				nulls++
			} else {
				bits[j>>3] |= 1 << (j & 7)
			}
		}
	}
	g.bits[k] = bits
	var validity *memory.Buffer
	if nulls > 0 {
		validity = memory.NewBufferBytes(bits)
	}
	var data *array.Data
	switch c.Kind {
	case Float:
		v := resize(g.f[k], n)
		if src != nil {
			for j, r := range idx {
				v[j] = src.f[r]
			}
		} else {
			clear(v)
		}
		g.f[k] = v
		data = array.NewData(typ, n, []*memory.Buffer{validity, memory.NewBufferBytes(asBytes(v))}, nil, nulls, 0)
	case Int, Time:
		v := resize(g.i[k], n)
		if src != nil {
			for j, r := range idx {
				v[j] = src.i[r]
			}
		} else {
			clear(v)
		}
		g.i[k] = v
		data = array.NewData(typ, n, []*memory.Buffer{validity, memory.NewBufferBytes(asBytes(v))}, nil, nulls, 0)
	case Bool:
		vb := resize(g.dat[k], nbytes)
		clear(vb)
		if src != nil {
			for j, r := range idx {
				if src.i[r] != 0 {
					vb[j>>3] |= 1 << (j & 7)
				}
			}
		}
		g.dat[k] = vb
		data = array.NewData(typ, n, []*memory.Buffer{validity, memory.NewBufferBytes(vb)}, nil, nulls, 0)
	case String:
		off := resize(g.off[k], n+1)
		d := g.dat[k][:0]
		off[0] = 0
		for j, r := range idx {
			if src != nil {
				d = append(d, src.str(int(r))...)
			}
			off[j+1] = int32(len(d))
		}
		g.off[k], g.dat[k] = off, d
		data = array.NewData(typ, n, []*memory.Buffer{validity, memory.NewBufferBytes(asBytes(off)), memory.NewBufferBytes(d)}, nil, nulls, 0)
	}
	defer data.Release()
	return array.MakeFromData(data)
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// dictionaryProps turns Parquet dictionary encoding on only for string
// columns that repeat (customer ids, products, categories …), not for
// numbers, times or per-row ids, where it costs time and saves nothing.
func dictionaryProps(spec TableSpec) []parquet.WriterProperty {
	props := []parquet.WriterProperty{parquet.WithDictionaryDefault(false)}
	for _, c := range spec.Columns {
		if c.Kind == String && (c.Name == "customer_id" || !strings.HasSuffix(c.Name, "_id")) {
			props = append(props, parquet.WithDictionaryFor(c.Name, true))
		}
	}
	return props
}
