package reports

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Record converts a table to an Arrow record (NaN floats become nulls).
func (t *Table) Record(mem memory.Allocator) (arrow.RecordBatch, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	fields := make([]arrow.Field, len(t.Columns))
	cols := make([]arrow.Array, len(t.Columns))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for j, c := range t.Columns {
		if c.Strings != nil {
			fields[j] = arrow.Field{Name: c.Name, Type: arrow.BinaryTypes.String}
			b := array.NewStringBuilder(mem)
			b.AppendValues(c.Strings, nil)
			cols[j] = b.NewArray()
			b.Release()
			continue
		}
		fields[j] = arrow.Field{Name: c.Name, Type: arrow.PrimitiveTypes.Float64, Nullable: true}
		b := array.NewFloat64Builder(mem)
		for _, v := range c.Floats {
			if v != v {
				b.AppendNull()
			} else {
				b.Append(v)
			}
		}
		cols[j] = b.NewArray()
		b.Release()
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(t.Len())), nil
}

// WriteData writes every figure's and table's data as Parquet (zstd) under
// dir/data/<name>.parquet, and returns the paths written.
func (r *Report) WriteData(ctx context.Context, dir string) ([]string, error) {
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("report data folder: %w", err)
	}
	var paths []string
	for _, t := range r.dataTables() {
		if err := ctx.Err(); err != nil {
			return paths, err
		}
		p := filepath.Join(dataDir, t.Name+".parquet")
		if err := WriteParquet(p, t); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// WriteParquet writes one table to a Parquet file atomically.
func WriteParquet(path string, t *Table) error {
	rec, err := t.Record(memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer rec.Release()
	return atomicWrite(path, func(f *os.File) error {
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd))
		w, err := pqarrow.NewFileWriter(rec.Schema(), noClose{f}, props, pqarrow.DefaultWriterProps())
		if err != nil {
			return err
		}
		if err := w.Write(rec); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	})
}

// WriteArrowIPC writes one table as an Arrow IPC file (Feather v2) atomically.
func WriteArrowIPC(path string, t *Table) error {
	rec, err := t.Record(memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer rec.Release()
	return atomicWrite(path, func(f *os.File) error {
		w, err := ipc.NewFileWriter(noClose{f}, ipc.WithSchema(rec.Schema()))
		if err != nil {
			return err
		}
		if err := w.Write(rec); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	})
}

// atomicWrite writes through a temporary file in the same folder, fsyncs and
// renames it into place.
func atomicWrite(path string, write func(*os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return nil
}

// Write renders the report into dir: report.html, report.ipynb and data/.
// It returns the HTML path.
func (r *Report) Write(ctx context.Context, dir string) (string, error) {
	if _, err := r.WriteData(ctx, dir); err != nil {
		return "", err
	}
	html := filepath.Join(dir, "report.html")
	if err := atomicWrite(html, func(f *os.File) error { return r.WriteHTML(f) }); err != nil {
		return "", err
	}
	if err := atomicWrite(filepath.Join(dir, "report.ipynb"), func(f *os.File) error { return r.WriteNotebook(f) }); err != nil {
		return "", err
	}
	return html, nil
}

// noClose hides the file's Close from writers that close their sink, so the
// file can still be synced before the rename.
type noClose struct{ w io.Writer }

func (n noClose) Write(p []byte) (int, error) { return n.w.Write(p) }

// readParquetShape returns the row and column counts of a Parquet file.
func readParquetShape(path string) (rows, cols int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return 0, 0, err
	}
	defer tbl.Release()
	return int(tbl.NumRows()), int(tbl.NumCols()), nil
}
