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
// column. Lookups happen once per dictionary entry, never per row.
type interner struct {
	names []string
	index map[string]int32
	count []int64 // rows per code
}

func newInterner() *interner { return &interner{index: map[string]int32{}} }

func (in *interner) code(s string) int32 {
	if c, ok := in.index[s]; ok {
		return c
	}
	c := int32(len(in.names))
	in.names = append(in.names, s)
	in.count = append(in.count, 0)
	in.index[s] = c
	return c
}

// shardReader reads selected columns of one Parquet shard file.
type shardReader struct {
	f    *os.File
	pf   *file.Reader
	fr   *pqarrow.FileReader
	path string
	rows int
	rgs  []int
	mem  memory.Allocator
}

func openShard(path string, dictCols []string) (*shardReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	pf, err := file.NewParquetReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("features: reading %s: %w", path, err)
	}
	props := pqarrow.ArrowReadProperties{BatchSize: 1 << 16}
	sc := pf.MetaData().Schema
	for _, name := range dictCols {
		if i := sc.ColumnIndexByName(name); i >= 0 {
			props.SetReadDict(i, true)
		}
	}
	mem := memory.NewGoAllocator()
	fr, err := pqarrow.NewFileReader(pf, props, mem)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("features: reading %s: %w", path, err)
	}
	rgs := make([]int, pf.NumRowGroups())
	for i := range rgs {
		rgs[i] = i
	}
	return &shardReader{f: f, pf: pf, fr: fr, path: path, rows: int(pf.NumRows()), rgs: rgs, mem: mem}, nil
}

func (r *shardReader) Close() error { return r.pf.Close() }

func (r *shardReader) has(name string) bool {
	return r.pf.MetaData().Schema.ColumnIndexByName(name) >= 0
}

// column reads one whole column as Arrow chunks. A missing column returns
// nil chunks (treated as all null).
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
	tbl, err := r.fr.ReadRowGroups(ctx, []int{i}, r.rgs)
	if err != nil {
		return nil, nil, fmt.Errorf("features: reading column %s of %s: %w", name, r.path, err)
	}
	return tbl.Column(0).Data().Chunks(), tbl.Release, nil
}

var errType = errors.New("unexpected column type")

// codes reads a string column as shard-local category codes (-1 = null or
// empty string).
func (r *shardReader) codes(ctx context.Context, name string, in *interner, dst []int32) ([]int32, error) {
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
	for _, c := range out {
		if c >= 0 {
			in.count[c]++
		}
	}
	return out, nil
}

// bools reads a bool column as int8: 1 true, 0 false, -1 null.
func (r *shardReader) bools(ctx context.Context, name string, dst []int8) ([]int8, error) {
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
