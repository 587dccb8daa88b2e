package features

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Columns of one shard file, flattened into plain slices for the hot loops.
// Nulls: strings have a validity slice, codes are -1, floats NaN, times
// noTime (math.MaxInt64: "never", so a null end is never before a cutoff),
// bools -1.

const noTime = math.MaxInt64

// strCol is a plain string column: value i is data[offs[i]:offs[i+1]].
type strCol struct {
	offs []int32
	data []byte
}

func (c *strCol) bytes(i int) []byte { return c.data[c.offs[i]:c.offs[i+1]] }
func (c *strCol) str(i int) string   { return string(c.data[c.offs[i]:c.offs[i+1]]) }

// interner gives shard-local codes to the distinct values of a categorical
// column. Lookups happen once per dictionary entry, never per row (PLAIN
// pages, rare in snapshots, look up every value).
type interner struct {
	names []string
	index map[string]int32
}

func newInterner() *interner { return &interner{index: map[string]int32{}} }

func (in *interner) code(s string) int32 {
	if c, ok := in.index[s]; ok {
		return c
	}
	c := int32(len(in.names))
	in.names = append(in.names, s)
	in.index[s] = c
	return c
}

func (in *interner) codeBytes(b []byte) int32 {
	if c, ok := in.index[string(b)]; ok {
		return c
	}
	return in.code(string(b))
}

// shardReader reads selected columns of one Parquet shard file.
type shardReader struct {
	f       *os.File
	pf      *file.Reader
	path    string
	rows    int
	rgs     []int
	scratch pageScratch
	alloc   *recycler // gets scratch back on Close
}

// recycler is a memory.Allocator that keeps a few freed buffers for the
// next allocations: arrow-go's page readers get their decompression and
// page buffers from it and give them back on Close, so reading a shard's
// column chunks one after another reuses the same few buffers instead of
// allocating new ones per chunk. One goroutine at a time.
type recycler struct {
	mem  memory.GoAllocator
	free [][]byte
	// scratch is the page decoder's buffers (dictionaries, indices),
	// handed from one shardReader to the next.
	scratch pageScratch
}

const recyclerKeep = 8

func (a *recycler) Allocate(size int) []byte {
	best := -1
	for i, b := range a.free {
		if cap(b) >= size && (best < 0 || cap(b) < cap(a.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return a.mem.Allocate(size)
	}
	b := a.free[best][:size]
	a.free[best] = a.free[len(a.free)-1]
	a.free = a.free[:len(a.free)-1]
	clear(b)
	return b
}

func (a *recycler) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		old := len(b)
		b = b[:size]
		if size > old {
			clear(b[old:])
		}
		return b
	}
	nb := a.Allocate(size)
	copy(nb, b)
	a.Free(b)
	return nb
}

func (a *recycler) Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	if len(a.free) < recyclerKeep {
		a.free = append(a.free, b[:0])
		return
	}
	// keep the larger buffers
	small := 0
	for i, f := range a.free {
		if cap(f) < cap(a.free[small]) {
			small = i
		}
	}
	if cap(b) > cap(a.free[small]) {
		a.free[small] = b[:0]
	}
}

// openShard opens a shard file; alloc (nil for a new one) provides the
// page readers' buffers.
func openShard(path string, alloc *recycler) (*shardReader, error) {
	if alloc == nil {
		alloc = &recycler{}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	// Column chunks stream through a 256 KiB buffer (grown for a larger
	// page) instead of a fresh allocation of the whole chunk per column
	// and row group (less garbage, fewer first-touch page faults).
	props := parquet.NewReaderProperties(alloc)
	props.BufferedStreamEnabled = true
	props.BufferSize = 256 << 10
	pf, err := file.NewParquetReader(f, file.WithReadProps(props))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("features: reading %s: %w", path, err)
	}
	rgs := make([]int, pf.NumRowGroups())
	for i := range rgs {
		rgs[i] = i
	}
	return &shardReader{f: f, pf: pf, path: path, rows: int(pf.NumRows()), rgs: rgs, scratch: alloc.scratch, alloc: alloc}, nil
}

func (r *shardReader) Close() error {
	if r.alloc != nil {
		r.alloc.scratch = r.scratch
	}
	return r.pf.Close()
}

func (r *shardReader) has(name string) bool {
	return r.pf.MetaData().Schema.ColumnIndexByName(name) >= 0
}

// column reads one whole column as Arrow chunks (a string column as a
// dictionary). A missing column returns nil chunks (treated as all null).
// This is the fallback for encodings the page decoder does not handle.
func (r *shardReader) column(ctx context.Context, name string) (chunks []arrow.Array, release func(), err error) {
	i := r.pf.MetaData().Schema.ColumnIndexByName(name)
	if i < 0 {
		return nil, func() {}, nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("features: reading column %s of %s: %v", name, r.path, p)
		}
	}()
	props := pqarrow.ArrowReadProperties{BatchSize: 1 << 16}
	props.SetReadDict(i, true)
	fr, err := pqarrow.NewFileReader(r.pf, props, memory.NewGoAllocator())
	if err != nil {
		return nil, nil, fmt.Errorf("features: reading %s: %w", r.path, err)
	}
	tbl, err := fr.ReadRowGroups(ctx, []int{i}, r.rgs)
	if err != nil {
		return nil, nil, fmt.Errorf("features: reading column %s of %s: %w", name, r.path, err)
	}
	return tbl.Column(0).Data().Chunks(), tbl.Release, nil
}

var errType = errors.New("unexpected column type")

// codes reads a string column as shard-local category codes (-1 = null or
// empty string).
func (r *shardReader) codes(ctx context.Context, name string, in *interner, dst []int32) ([]int32, error) {
	out := grow(dst, r.rows)
	n, err := r.codesPages(name, in, out)
	switch {
	case err == nil && n == 0 && r.pf.MetaData().Schema.ColumnIndexByName(name) < 0:
		for i := range out {
			out[i] = -1
		}
		return out, nil
	case err == nil:
		return out[:n], nil
	case errors.Is(err, errEncoding):
		*in = *newInterner() // codes of a half-read column are never used
		return r.codesSlow(ctx, name, in, dst)
	}
	return nil, err
}

func (r *shardReader) codesSlow(ctx context.Context, name string, in *interner, dst []int32) ([]int32, error) {
	chunks, rel, err := r.column(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rel()
	out := dst[:0]
	if cap(out) < r.rows {
		out = make([]int32, 0, r.rows)
	}
	if chunks == nil {
		out = out[:r.rows]
		for i := range out {
			out[i] = -1
		}
		return out, nil
	}
	for _, c := range chunks {
		switch a := c.(type) {
		case *array.Dictionary:
			dict, ok := a.Dictionary().(*array.String)
			if !ok {
				return nil, fmt.Errorf("features: %s column %s: %w %s, want utf8", r.path, name, errType, a.DataType())
			}
			remap := make([]int32, dict.Len())
			for j := range remap {
				if dict.IsNull(j) || dict.Value(j) == "" {
					remap[j] = -1
				} else {
					remap[j] = in.code(dict.Value(j))
				}
			}
			if a.NullN() > 0 {
				for j := 0; j < a.Len(); j++ {
					if a.IsNull(j) {
						out = append(out, -1)
					} else {
						out = append(out, remap[a.GetValueIndex(j)])
					}
				}
				continue
			}
			switch idx := a.Indices().(type) {
			case *array.Int32:
				for _, v := range idx.Int32Values() {
					out = append(out, remap[v])
				}
			case *array.Int8:
				for _, v := range idx.Int8Values() {
					out = append(out, remap[v])
				}
			case *array.Int16:
				for _, v := range idx.Int16Values() {
					out = append(out, remap[v])
				}
			default:
				for j := 0; j < a.Len(); j++ {
					out = append(out, remap[a.GetValueIndex(j)])
				}
			}

		case *array.String:
			for j := 0; j < a.Len(); j++ {
				if a.IsNull(j) || a.Value(j) == "" {
					out = append(out, -1)
				} else {
					out = append(out, in.code(a.Value(j)))
				}
			}
		default:
			return nil, fmt.Errorf("features: %s column %s: %w %s, want utf8", r.path, name, errType, c.DataType())
		}
	}
	return out, nil
}

// bools reads a bool column as int8: 1 true, 0 false, -1 null.
func (r *shardReader) bools(ctx context.Context, name string, dst []int8) ([]int8, error) {
	out := grow(dst, r.rows)
	pos := 0
	col, err := r.scanPages(name, func([]byte, int) error { return errEncoding }, func(p *page) error {
		if p.dict || len(p.plain)*8 < p.nValid || pos+p.n > len(out) {
			return errEncoding
		}
		seg := out[pos : pos+p.n]
		pos += p.n
		j := 0
		for i := range seg {
			if p.valid != nil && p.valid[i] == 0 {
				seg[i] = -1
				continue
			}
			seg[i] = int8(p.plain[j>>3] >> (j & 7) & 1)
			j++
		}
		return nil
	})
	switch {
	case err == nil && col == nil:
		for i := range out {
			out[i] = -1
		}
		return out, nil
	case err == nil && col.PhysicalType() == parquet.Types.Boolean:
		return out[:pos], nil
	case err == nil:
		return nil, fmt.Errorf("features: %s column %s: %w %s, want bool", r.path, name, errType, col.PhysicalType())
	case errors.Is(err, errEncoding):
		return r.boolsSlow(ctx, name, dst)
	}
	return nil, err
}

func (r *shardReader) boolsSlow(ctx context.Context, name string, dst []int8) ([]int8, error) {
	chunks, rel, err := r.column(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rel()
	out := dst[:0]
	if cap(out) < r.rows {
		out = make([]int8, 0, r.rows)
	}
	if chunks == nil {
		out = out[:r.rows]
		for i := range out {
			out[i] = -1
		}
		return out, nil
	}
	for _, c := range chunks {
		a, ok := c.(*array.Boolean)
		if !ok {
			return nil, fmt.Errorf("features: %s column %s: %w %s, want bool", r.path, name, errType, c.DataType())
		}
		for j := 0; j < a.Len(); j++ {
			switch {
			case a.IsNull(j):
				out = append(out, -1)
			case a.Value(j):
				out = append(out, 1)
			default:
				out = append(out, 0)
			}
		}
	}
	return out, nil
}
