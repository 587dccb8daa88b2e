package features

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// The typed column-chunk readers of arrow-go: the fallback of the page
// decoder (decode.go) for encodings it does not handle.

func (r *shardReader) chunkReaders(name string) ([]file.ColumnChunkReader, *schema.Column, error) {
	sc := r.pf.MetaData().Schema
	i := sc.ColumnIndexByName(name)
	if i < 0 {
		return nil, nil, nil
	}
	out := make([]file.ColumnChunkReader, 0, len(r.rgs))
	for _, rg := range r.rgs {
		cr, err := r.pf.RowGroup(rg).Column(i)
		if err != nil {
			return nil, nil, fmt.Errorf("features: reading column %s of %s: %w", name, r.path, err)
		}
		out = append(out, cr)
	}
	return out, sc.Column(i), nil
}

const pageBatch = 4096

// idRuns reads the customer_id column and returns the id of each run of
// equal ids and the run starts (plus the row count at the end). Only one id
// per run is copied.
func (r *shardReader) idRuns(name string, ids strCol, runs []int32) (strCol, []int32, error) {
	ids, runs, err := r.idRunsPages(name, ids, runs)
	if errors.Is(err, errEncoding) {
		ids.data, ids.offs, runs = ids.data[:0], ids.offs[:0], runs[:0]
		return r.idRunsInto(name, ids, runs)
	}
	return ids, runs, err
}

// times reads a timestamp column as microseconds, noTime for null.
func (r *shardReader) times(name string, dst []int64) ([]int64, error) {
	out, err := r.timesFast(name, dst)
	if errors.Is(err, errEncoding) {
		return r.timesPages(name, dst)
	}
	return out, err
}

// floats reads a double or int64 column as float64, NaN for null.
func (r *shardReader) floats(name string, dst []float64) ([]float64, error) {
	out, err := r.floatsFast(name, dst)
	if errors.Is(err, errEncoding) {
		return r.floatsPages(name, dst)
	}
	return out, err
}

func (r *shardReader) idRunsInto(name string, ids strCol, runs []int32) (_ strCol, _ []int32, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("features: reading column %s of %s: %v", name, r.path, p)
		}
	}()
	crs, col, err := r.chunkReaders(name)
	if err != nil {
		return ids, nil, err
	}
	ids.offs = append(ids.offs, 0)
	if crs == nil {
		return ids, nil, fmt.Errorf("features: %s has no %s column", r.path, name)
	}
	vals := make([]parquet.ByteArray, pageBatch)
	var defs []int16
	if col.MaxDefinitionLevel() > 0 {
		defs = make([]int16, pageBatch)
	}
	row := int32(0)
	var last []byte
	have := false
	for _, cr := range crs {
		br, ok := cr.(*file.ByteArrayColumnChunkReader)
		if !ok {
			return ids, nil, fmt.Errorf("features: %s column %s: %w %s, want utf8", r.path, name, errType, col.PhysicalType())
		}
		for br.HasNext() {
			total, n, err := br.ReadBatchInPage(pageBatch, vals, defs, nil)
			if err != nil {
				return ids, nil, fmt.Errorf("features: reading column %s of %s: %w", name, r.path, err)
			}
			if total == 0 {
				break
			}
			if int64(n) != total { // nulls: spread, a null id reads as ""
				v := n - 1
				for i := int(total) - 1; i >= 0; i-- {
					if defs[i] == col.MaxDefinitionLevel() {
						vals[i] = vals[v]
						v--
					} else {
						vals[i] = nil
					}
				}
			}
			for _, v := range vals[:total] {
				if !have || !bytes.Equal(v, last) {
					if have && bytes.Compare(last, v) > 0 {
						return ids, nil, badConfigf("features: %s is not sorted by customer_id at row %d (%q after %q): re-run retain extract", r.path, row, v, last)
					}
					runs = append(runs, row)
					ids.data = append(ids.data, v...)
					ids.offs = append(ids.offs, int32(len(ids.data)))
					last = ids.data[ids.offs[len(ids.offs)-2]:]
					have = true
				}
				row++
			}
		}
	}
	runs = append(runs, row)
	return ids, runs, nil
}

// timesPages reads a timestamp column as microseconds, noTime for null.
func (r *shardReader) timesPages(name string, dst []int64) (out []int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("features: reading column %s of %s: %v", name, r.path, p)
		}
	}()
	out = grow(dst, r.rows)
	crs, col, err := r.chunkReaders(name)
	if err != nil {
		return nil, err
	}
	if crs == nil {
		for i := range out {
			out[i] = noTime
		}
		return out, nil
	}
	mul, div, err := r.timeScale(name, col)
	if err != nil {
		return nil, err
	}
	maxDef := col.MaxDefinitionLevel()
	var defs []int16
	if maxDef > 0 {
		defs = make([]int16, r.rows)
	}
	pos := 0
	for _, cr := range crs {
		ir := cr.(*file.Int64ColumnChunkReader)
		for ir.HasNext() && pos < len(out) {
			var d []int16
			if defs != nil {
				d = defs[pos:]
			}
			total, n, err := ir.ReadBatch(int64(len(out)-pos), out[pos:], d, nil)
			if err != nil {
				return nil, fmt.Errorf("features: reading column %s of %s: %w", name, r.path, err)
			}
			if total == 0 {
				break
			}
			seg := out[pos : pos+int(total)]
			if n != int(total) {
				v := n - 1
				for i := int(total) - 1; i >= 0; i-- {
					if d[i] == maxDef {
						seg[i] = seg[v]
						v--
					} else {
						seg[i] = noTime
					}
				}
			}
			if mul != 1 || div != 1 {
				for i, x := range seg {
					if x != noTime {
						seg[i] = x * mul / div
					}
				}
			}
			pos += int(total)
		}
	}
	return out[:pos], nil
}

// floatsPages reads a double or int64 column as float64, NaN for null.
func (r *shardReader) floatsPages(name string, dst []float64) (out []float64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("features: reading column %s of %s: %v", name, r.path, p)
		}
	}()
	out = grow(dst, r.rows)
	crs, col, err := r.chunkReaders(name)
	if err != nil {
		return nil, err
	}
	if crs == nil {
		for i := range out {
			out[i] = math.NaN()
		}
		return out, nil
	}
	maxDef := col.MaxDefinitionLevel()
	var defs []int16
	if maxDef > 0 {
		defs = make([]int16, r.rows)
	}
	var ints []int64
	pos := 0
	for _, cr := range crs {
		for cr.HasNext() && pos < len(out) {
			var d []int16
			if defs != nil {
				d = defs[pos:]
			}
			var total int64
			var n int
			switch c := cr.(type) {
			case *file.Float64ColumnChunkReader:
				total, n, err = c.ReadBatch(int64(len(out)-pos), out[pos:], d, nil)
			case *file.Int64ColumnChunkReader:
				if ints == nil {
					ints = make([]int64, len(out))
				}
				total, n, err = c.ReadBatch(int64(len(out)-pos), ints[pos:], d, nil)
				for i := 0; i < n; i++ {
					out[pos+i] = float64(ints[pos+i])
				}
			default:
				return nil, fmt.Errorf("features: %s column %s: %w %s, want double or int64", r.path, name, errType, col.PhysicalType())
			}
			if err != nil {
				return nil, fmt.Errorf("features: reading column %s of %s: %w", name, r.path, err)
			}
			if total == 0 {
				break
			}
			seg := out[pos : pos+int(total)]
			if n != int(total) {
				v := n - 1
				for i := int(total) - 1; i >= 0; i-- {
					if d[i] == maxDef {
						seg[i] = seg[v]
						v--
					} else {
						seg[i] = math.NaN()
					}
				}
			}
			pos += int(total)
		}
	}
	return out[:pos], nil
}

// grow returns b resized to n, reallocated only when too small.
func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		// 1/8 headroom: the next shard's column is usually a little
		// longer or shorter, and should fit
		return make([]T, n, n+n/8)
	}
	return b[:n]
}
