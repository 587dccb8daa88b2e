package datasets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// writeChunk is the number of rows per Arrow record (and Parquet row group)
// written to a shard file.
const writeChunk = 256 << 10

// radixKey is a row's customer id prefix (its first 8 bytes, big-endian,
// zero-padded) and the row.
type radixKey struct {
	pre uint64
	row int32
}

// sortRun returns b's row indexes ordered by (customer_id bytes, time,
// source line, row): an LSD radix sort on the ids' 8-byte prefixes (bytes
// that are the same in every row are skipped), then rows with equal
// prefixes (one customer's rows, or ids longer than 8 bytes that share
// them) are sorted by the full comparison. Rows already in that order (a
// sorted export) are detected on the way and returned as they are (sorted
// true, perm the identity). The slices live in sc, reused.
func sortRun(b *block, p *tablePlan, sc *runScratch) (perm []int32, sorted bool) {
	n := b.n
	ids := &b.cols[p.custIdx]
	var tc *colBuf
	if p.timeIdx >= 0 && p.present[p.timeIdx] {
		tc = &b.cols[p.timeIdx]
	}
	cmp := func(a, c int32) int {
		if x := bytes.Compare(ids.str(int(a)), ids.str(int(c))); x != 0 {
			return x
		}
		if tc != nil {
			ta, tb := int64(math.MinInt64), int64(math.MinInt64)
			if !tc.null[a] {
				ta = tc.i[a]
			}
			if !tc.null[c] {
				tb = tc.i[c]
			}
			if ta != tb {
				if ta < tb {
					return -1
				}
				return 1
			}
		}
		if la, lb := b.line[a], b.line[c]; la != lb {
			if la < lb {
				return -1
			}
			return 1
		}
		return int(a - c)
	}
	keys := resize(sc.keys, n)
	tmp := resize(sc.keys2, n)
	sc.keys, sc.keys2 = keys, tmp
	perm = resize(sc.perm, n)
	sc.perm = perm
	var cnt [8][256]int32
	s := uint32(0)
	sorted = true
	for r := 0; r < n; r++ {
		e := ids.off[r]
		pre := idPrefix(ids.dat[s:e])
		s = e
		keys[r] = radixKey{pre: pre, row: int32(r)}
		for d := 0; d < 8; d++ {
			cnt[d][byte(pre>>(8*d))]++
		}
		if sorted && r > 0 {
			// already in order (a sorted export)? then no sort is needed
			if q := keys[r-1].pre; pre < q || pre == q && cmp(int32(r-1), int32(r)) > 0 {
				sorted = false
			}
		}
	}
	if sorted {
		for r := range perm {
			perm[r] = int32(r)
		}
		return perm, true
	}
	for d := 0; d < 8 && n > 1; d++ {
		c := &cnt[d]
		shift := uint(8 * d)
		if c[byte(keys[0].pre>>shift)] == int32(n) {
			continue // the same byte in every row
		}
		sum := int32(0)
		for i, v := range c {
			c[i] = sum
			sum += v
		}
		for _, k := range keys {
			x := byte(k.pre >> shift)
			tmp[c[x]] = k
			c[x]++
		}
		keys, tmp = tmp, keys
	}
	for i, k := range keys {
		perm[i] = k.row
	}
	for i := 0; i < n; {
		j := i + 1
		for j < n && keys[j].pre == keys[i].pre {
			j++
		}
		if seg := perm[i:j]; len(seg) < 2 {
			// nothing to order
		} else if sameShortIDs(ids, seg) {
			// one customer's rows (an id of up to 8 bytes is its prefix)
			sc.tl = sortTimeLine(seg, tc, b.line, sc.tl)
		} else if len(seg) <= 12 {
			for x := 1; x < len(seg); x++ {
				for y := x; y > 0 && cmp(seg[y-1], seg[y]) > 0; y-- {
					seg[y-1], seg[y] = seg[y], seg[y-1]
				}
			}
		} else {
			slices.SortFunc(seg, cmp)
		}
		i = j
	}
	return perm, false
}

// sameShortIDs reports whether the rows' ids (with equal 8-byte prefixes)
// all have the same length of at most 8 bytes, so they are equal.
func sameShortIDs(ids *colBuf, rows []int32) bool {
	l := len(ids.str(int(rows[0])))
	if l > 8 {
		return false
	}
	for _, r := range rows[1:] {
		if len(ids.str(int(r))) != l {
			return false
		}
	}
	return true
}

// timeLine is a row's time (math.MinInt64 when null), source line and
// index.
type timeLine struct {
	t, line int64
	row     int32
}

// sortTimeLine orders one customer's rows by (time, line, row); tl is
// scratch space, returned for reuse.
func sortTimeLine(rows []int32, tc *colBuf, line []int64, tl []timeLine) []timeLine {
	tl = tl[:0]
	for _, r := range rows {
		t := int64(math.MinInt64)
		if tc != nil && !tc.null[r] {
			t = tc.i[r]
		}
		tl = append(tl, timeLine{t: t, line: line[r], row: r})
	}
	less := func(a, b *timeLine) bool {
		if a.t != b.t {
			return a.t < b.t
		}
		if a.line != b.line {
			return a.line < b.line
		}
		return a.row < b.row
	}
	if len(tl) <= 32 {
		for x := 1; x < len(tl); x++ {
			for y := x; y > 0 && less(&tl[y], &tl[y-1]); y-- {
				tl[y-1], tl[y] = tl[y], tl[y-1]
			}
		}
	} else {
		slices.SortFunc(tl, func(a, b timeLine) int {
			if less(&a, &b) {
				return -1
			}
			if less(&b, &a) {
				return 1
			}
			return 0
		})
	}
	for k := range rows {
		rows[k] = tl[k].row
	}
	return tl
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
		first []byte   // the first line's product (nil when null)
		prods [][]byte // further distinct products (allocated only for them)
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
		// one bit per order id of this customer seen so far (a 64-bit
		// Bloom filter over the ids' last bytes): most new orders are
		// told apart without searching the customer's earlier orders
		seen := uint64(0)
		for r := int(starts[c]); r < int(starts[c+1]); r++ {
			found := -1
			var id []byte
			if !oid.null[r] {
				id = oid.str(r)
				bit := idBit(id)
				if seen&bit == 0 {
					seen |= bit
				} else if big != nil {
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
					o.first = prodC.str(r)
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
				if o.first == nil {
					o.first = pv
					dist[o.out]++
					continue
				}
				if bytes.Equal(o.first, pv) {
					dup = true
				}
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

// idBit maps an id to one of 64 bits by a hash of its last (up to 8)
// bytes.
func idBit(id []byte) uint64 {
	var v uint64
	if len(id) >= 8 {
		v = binary.LittleEndian.Uint64(id[len(id)-8:])
	} else {
		for _, c := range id {
			v = v<<8 | uint64(c)
		}
	}
	v ^= uint64(len(id))
	return 1 << ((v * 0x9E3779B97F4A7C15) >> 58)
}

// segRows is the number of merged rows rolled up (or deduplicated) at a
// time; a segment is extended to the end of its last customer.
const segRows = 32 << 10

// shardResult is what writing one shard file produced.
type shardResult struct {
	rows       int64
	dups       int64 // customers rows folded into a later row of the same customer
	minT, maxT int64
}

// customerStarts returns where each customer's rows begin in b (sorted),
// plus b.n at the end.
func customerStarts(b *block, p *tablePlan, starts []int32) []int32 {
	ids := &b.cols[p.custIdx]
	starts = append(starts[:0], 0)
	for r := 1; r < b.n; r++ {
		if !bytes.Equal(ids.str(r), ids.str(r-1)) {
			starts = append(starts, int32(r))
		}
	}
	if b.n > 0 {
		starts = append(starts, int32(b.n))
	}
	return starts
}

// appendOutput appends rows lead of seg onto out, taking columns with an
// override from over (in output order) instead.
func appendOutput(out, seg *block, lead []int32, over []*colBuf, kinds []Kind, present []bool) {
	for _, r := range lead {
		out.line = append(out.line, seg.line[r])
	}
	for k, ok := range present {
		if !ok {
			continue
		}
		d := &out.cols[k]
		if over != nil && over[k] != nil {
			o := over[k]
			d.null = append(d.null, o.null...)
			if kinds[k] == Float {
				d.f = append(d.f, o.f...)
			} else {
				d.i = append(d.i, o.i...)
			}
			continue
		}
		s := &seg.cols[k]
		if len(lead) == seg.n {
			// every row leads (lead is increasing): copy the column whole
			d.null = append(d.null, s.null[:seg.n]...)
			switch kinds[k] {
			case Float:
				d.f = append(d.f, s.f[:seg.n]...)
			case String:
				base := uint32(len(d.dat))
				d.dat = append(d.dat, s.dat...)
				for _, o := range s.off[:seg.n] {
					d.off = append(d.off, o+base)
				}
			default:
				d.i = append(d.i, s.i[:seg.n]...)
			}
			continue
		}
		for _, r := range lead {
			d.null = append(d.null, s.null[r])
		}
		switch kinds[k] {
		case Float:
			for _, r := range lead {
				d.f = append(d.f, s.f[r])
			}
		case String:
			for _, r := range lead {
				d.dat = appendShort(d.dat, s.str(int(r)))
				d.off = append(d.off, uint32(len(d.dat)))
			}
		default:
			for _, r := range lead {
				d.i = append(d.i, s.i[r])
			}
		}
	}
	out.n += len(lead)
}

// writeShard merges a shard's sorted runs, rolls up order lines (rollUp) or
// keeps the latest row of each customer (customers), and writes the shard
// file to path atomically. It closes the runs.
func writeShard(path string, runs []runSource, p *tablePlan, rollUp bool) (shardResult, error) {
	res := shardResult{minT: math.MaxInt64, maxT: math.MinInt64}
	// a shard whose rows are all bucketed is one sorted run, read bucket by
	// bucket without a merger (each bucket holds whole customers)
	var direct *bucketRun
	var m *merger
	if len(runs) == 1 {
		direct, _ = runs[0].(*bucketRun)
	}
	if direct != nil {
		defer direct.close()
	} else {
		var err error
		if m, err = newMerger(runs, p); err != nil {
			for _, r := range runs {
				r.close()
			}
			return res, err
		}
		defer m.close()
	}
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
	meta, err := arrowSchemaMeta(p.spec)
	if err != nil {
		return res, fmt.Errorf("shard file %s: %w", path, err)
	}
	fw, err := newPQWriter(bw, p.spec, meta)
	if err != nil {
		return res, fmt.Errorf("shard file %s: %w", path, err)
	}
	// the output rows: the mapped columns, and lines/distinct_products when
	// rolling up
	outPresent := slices.Clone(p.present)
	if rollUp {
		outPresent[indexOf(p.spec, "lines")] = true
		outPresent[indexOf(p.spec, "distinct_products")] = true
	}
	dedup := p.table == Customers
	seg, out := newBlock(len(p.cols)), newBlock(len(p.cols))
	var ident, lead, starts []int32
	wrote := false
	// writeOut writes out's first n rows as one row group
	writeOut := func(n int) error {
		if k := p.timeIdx; k >= 0 && outPresent[k] {
			src := &out.cols[k]
			for r := 0; r < n; r++ {
				if !src.null[r] {
					v := src.i[r]
					res.minT = min(res.minT, v)
					res.maxT = max(res.maxT, v)
				}
			}
		}
		if err := fw.writeRowGroup(out, n, outPresent); err != nil {
			return fmt.Errorf("shard file %s: %w", path, err)
		}
		wrote = true
		res.rows += int64(n)
		out.dropFront(n, p.kinds, outPresent)
		return nil
	}
	// nextSeg returns the next rows in order, whole customers
	nextSeg := func() (*block, bool, error) {
		if direct != nil {
			b, lo, hi, err := direct.next()
			if errors.Is(err, io.EOF) {
				return nil, false, nil
			}
			if err == nil && (lo != 0 || hi != b.n) {
				err = fmt.Errorf("bucket rows %d..%d of %d", lo, hi, b.n)
			}
			return b, err == nil, err
		}
		seg.reset()
		more, err := m.segment(seg, segRows)
		return seg, more, err
	}
	for {
		if !rollUp && !dedup && direct == nil {
			// rows go out as they are: merge straight into out
			more, err := m.segment(out, out.n+segRows)
			if err != nil {
				return res, err
			}
			if !more || out.n == 0 {
				break
			}
			for out.n >= writeChunk {
				if err := writeOut(writeChunk); err != nil {
					return res, err
				}
			}
			if len(m.heap) == 0 {
				break
			}
			continue
		}
		rows, more, err := nextSeg()
		if err != nil {
			return res, err
		}
		if !more {
			break
		}
		switch {
		case !rollUp && !dedup:
			out.appendRows(rows, 0, rows.n, p.kinds, outPresent)
		case rollUp:
			starts = customerStarts(rows, p, starts)
			for len(ident) < rows.n {
				ident = append(ident, int32(len(ident)))
			}
			l, over := rollup(rows, rows, ident[:rows.n], p, starts)
			appendOutput(out, rows, l, over, p.kinds, outPresent)
		case dedup:
			// latest wins: the last row of each customer in (customer,
			// signed_up_at, source line) order
			starts = customerStarts(rows, p, starts)
			lead = lead[:0]
			for _, e := range starts[1:] {
				lead = append(lead, e-1)
			}
			res.dups += int64(rows.n - len(lead))
			appendOutput(out, rows, lead, nil, p.kinds, outPresent)
		}
		for out.n >= writeChunk {
			if err := writeOut(writeChunk); err != nil {
				return res, err
			}
		}
	}
	if out.n > 0 || !wrote {
		if err := writeOut(out.n); err != nil {
			return res, err
		}
	}
	if err := fw.close(); err != nil {
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

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
