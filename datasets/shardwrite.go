package datasets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// writeChunk is the number of rows per Arrow record (and Parquet row group)
// written to a shard file.
const writeChunk = 256 << 10

// loadShard reads a shard's spill files into one block.
func loadShard(files []string, p *tablePlan) (*block, error) {
	b := newBlock(len(p.cols))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("spill file: %w", err)
		}
		br := bufio.NewReaderSize(fh, 1<<20)
		for {
			err := b.readFrom(br, p.kinds, p.present)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fh.Close()
				return nil, fmt.Errorf("%s: %w", f, err)
			}
		}
		fh.Close()
	}
	return b, nil
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

// rollup folds order lines with the same (customer, order_id) into one
// order: the earliest line leads; amount, quantity and discount are summed,
// returned is true if any line was, lines and distinct_products are counted.
// It returns the lead rows and the overridden columns in output order.
func rollup(b *block, p *tablePlan, perm, starts []int32) ([]int32, map[int]*colBuf) {
	idx := map[string]int{}
	for i, c := range p.spec.Columns {
		idx[c.Name] = i
	}
	oid := &b.cols[idx["order_id"]]
	sum := []int{}
	for _, n := range []string{"amount", "quantity", "discount"} {
		if p.present[idx[n]] {
			sum = append(sum, idx[n])
		}
	}
	ret, prod := idx["returned"], idx["product"]
	hasRet, hasProd := p.present[ret], p.present[prod]
	over := map[int]*colBuf{}
	for _, k := range sum {
		over[k] = &colBuf{}
	}
	if hasRet {
		over[ret] = &colBuf{}
	}
	linesC := &colBuf{}
	distC := &colBuf{}
	over[idx["lines"]] = linesC
	over[idx["distinct_products"]] = distC
	var lead []int32
	type outOrder struct {
		id    []byte
		out   int
		prods [][]byte
	}
	var cur []outOrder
	var big map[string]int
	for c := 0; c+1 < len(starts); c++ {
		cur = cur[:0]
		big = nil
		for _, r := range perm[starts[c]:starts[c+1]] {
			found := -1
			if !oid.null[r] {
				id := oid.str(int(r))
				if big != nil {
					if j, ok := big[bstr(id)]; ok {
						found = j
					}
				} else {
					for j := len(cur) - 1; j >= 0; j-- {
						if cur[j].id != nil && bytes.Equal(cur[j].id, id) {
							found = j
							break
						}
					}
				}
			}
			if found < 0 {
				o := outOrder{out: len(lead)}
				if !oid.null[r] {
					o.id = oid.str(int(r))
				}
				lead = append(lead, r)
				for _, k := range sum {
					over[k].f = append(over[k].f, b.cols[k].f[r])
					over[k].null = append(over[k].null, b.cols[k].null[r])
				}
				if hasRet {
					over[ret].i = append(over[ret].i, b.cols[ret].i[r])
					over[ret].null = append(over[ret].null, b.cols[ret].null[r])
				}
				linesC.i = append(linesC.i, 1)
				linesC.null = append(linesC.null, false)
				np := int64(0)
				if hasProd && !b.cols[prod].null[r] {
					o.prods = append(o.prods, b.cols[prod].str(int(r)))
					np = 1
				}
				distC.i = append(distC.i, np)
				distC.null = append(distC.null, !hasProd)
				cur = append(cur, o)
				if len(cur) == 64 {
					big = map[string]int{}
					for j, o := range cur {
						if o.id != nil {
							if _, ok := big[bstr(o.id)]; !ok {
								big[bstr(o.id)] = j
							}
						}
					}
				} else if big != nil && o.id != nil {
					if _, ok := big[bstr(o.id)]; !ok {
						big[bstr(o.id)] = len(cur) - 1
					}
				}
				continue
			}
			o := &cur[found]
			for _, k := range sum {
				ob := over[k]
				if !b.cols[k].null[r] {
					if ob.null[o.out] {
						ob.null[o.out] = false
						ob.f[o.out] = 0
					}
					ob.f[o.out] += b.cols[k].f[r]
				}
			}
			if hasRet && !b.cols[ret].null[r] {
				over[ret].null[o.out] = false
				over[ret].i[o.out] |= b.cols[ret].i[r]
			}
			linesC.i[o.out]++
			if hasProd && !b.cols[prod].null[r] {
				pv := b.cols[prod].str(int(r))
				dup := false
				for _, q := range o.prods {
					if bytes.Equal(q, pv) {
						dup = true
						break
					}
				}
				if !dup {
					o.prods = append(o.prods, pv)
					distC.i[o.out]++
				}
			}
		}
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
	var over map[int]*colBuf
	if rollUp {
		perm, over = rollup(b, p, perm, starts)
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
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(1),
		parquet.WithMaxRowGroupLength(writeChunk),
		parquet.WithCreatedBy("retain extract"),
	)
	fw, err := pqarrow.NewFileWriter(schema, bw, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return res, fmt.Errorf("shard file %s: %w", path, err)
	}
	mem := memory.DefaultAllocator
	arrs := make([]arrow.Array, len(p.cols))
	for lo := 0; lo < len(perm) || lo == 0; lo += writeChunk {
		hi := min(lo+writeChunk, len(perm))
		rows := perm[lo:hi]
		for k, c := range p.spec.Columns {
			var src *colBuf
			pos := false // index src by output position instead of row
			if ob, ok := over[k]; ok {
				src, pos = ob, true
			} else if p.present[k] {
				src = &b.cols[k]
			}
			at := func(j int) int {
				if pos {
					return lo + j
				}
				return int(rows[j])
			}
			switch c.Kind {
			case String:
				bld := array.NewStringBuilder(mem)
				bld.Reserve(len(rows))
				if src == nil {
					bld.AppendNulls(len(rows))
				} else {
					for j := range rows {
						r := at(j)
						if src.null[r] {
							bld.AppendNull()
						} else {
							bld.BinaryBuilder.Append(src.str(r))
						}
					}
				}
				arrs[k] = bld.NewArray()
				bld.Release()
			case Float:
				bld := array.NewFloat64Builder(mem)
				bld.Reserve(len(rows))
				if src == nil {
					bld.AppendNulls(len(rows))
				} else {
					for j := range rows {
						r := at(j)
						if src.null[r] {
							bld.AppendNull()
						} else {
							bld.UnsafeAppend(src.f[r])
						}
					}
				}
				arrs[k] = bld.NewArray()
				bld.Release()
			case Int:
				bld := array.NewInt64Builder(mem)
				bld.Reserve(len(rows))
				if src == nil {
					bld.AppendNulls(len(rows))
				} else {
					for j := range rows {
						r := at(j)
						if src.null[r] {
							bld.AppendNull()
						} else {
							bld.UnsafeAppend(src.i[r])
						}
					}
				}
				arrs[k] = bld.NewArray()
				bld.Release()
			case Bool:
				bld := array.NewBooleanBuilder(mem)
				bld.Reserve(len(rows))
				if src == nil {
					bld.AppendNulls(len(rows))
				} else {
					for j := range rows {
						r := at(j)
						if src.null[r] {
							bld.AppendNull()
						} else {
							bld.UnsafeAppend(src.i[r] != 0)
						}
					}
				}
				arrs[k] = bld.NewArray()
				bld.Release()
			case Time:
				bld := array.NewTimestampBuilder(mem, c.Kind.ArrowType().(*arrow.TimestampType))
				bld.Reserve(len(rows))
				if src == nil {
					bld.AppendNulls(len(rows))
				} else {
					for j := range rows {
						r := at(j)
						if src.null[r] {
							bld.AppendNull()
						} else {
							v := src.i[r]
							if k == p.timeIdx {
								res.minT = min(res.minT, v)
								res.maxT = max(res.maxT, v)
							}
							bld.UnsafeAppend(arrow.Timestamp(v))
						}
					}
				}
				arrs[k] = bld.NewArray()
				bld.Release()
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

var _ = sort.Strings
