package reports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Export is one file exported for notebooks.
type Export struct {
	Name    string `json:"name"`    // features, scores, clv, …
	Parquet string `json:"parquet"` // path of the Parquet copy
	IPC     string `json:"ipc"`     // path of the Arrow IPC (Feather v2) copy
	Rows    int64  `json:"rows"`
	Columns int    `json:"columns"`
}

// ExportForNotebooks copies a Parquet file into dir as <name>.parquet and
// converts it to Arrow IPC (<name>.arrow), record batch by record batch so
// memory stays bounded by one batch. Key-value metadata (e.g. the feature
// registry) is kept in both.
func ExportForNotebooks(ctx context.Context, src, dir, name string) (Export, error) {
	ex := Export{Name: name, Parquet: filepath.Join(dir, name+".parquet"), IPC: filepath.Join(dir, name+".arrow")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ex, fmt.Errorf("export folder: %w", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return ex, fmt.Errorf("export %s: %w", name, err)
	}
	defer in.Close()
	if filepath.Clean(src) != filepath.Clean(ex.Parquet) {
		// Stream the copy; the Parquet reader below reads the source file itself.
		if err := atomicWrite(ex.Parquet, func(f *os.File) error { _, err := io.Copy(f, in); return err }); err != nil {
			return ex, err
		}
	}
	rdr, err := file.NewParquetReader(in)
	if err != nil {
		return ex, fmt.Errorf("export %s: read %s: %w", name, src, err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 64 * 1024}, memory.DefaultAllocator)
	if err != nil {
		return ex, fmt.Errorf("export %s: %w", name, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return ex, fmt.Errorf("export %s: %w", name, err)
	}
	defer rr.Release()
	schema := rr.Schema()
	ex.Columns = len(schema.Fields())
	err = atomicWrite(ex.IPC, func(f *os.File) error {
		w, err := ipc.NewFileWriter(noClose{f}, ipc.WithSchema(schema))
		if err != nil {
			return err
		}
		for rr.Next() {
			if err := ctx.Err(); err != nil {
				w.Close()
				return err
			}
			rec := rr.RecordBatch()
			ex.Rows += rec.NumRows()
			if err := w.Write(rec); err != nil {
				w.Close()
				return err
			}
		}
		if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			w.Close()
			return err
		}
		return w.Close()
	})
	return ex, err
}

// ReadIPCRows counts the rows of an Arrow IPC file (for checks and tests).
func ReadIPCRows(path string) (int64, *arrow.Schema, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	var n int64
	for i := 0; i < r.NumRecords(); i++ {
		rec, err := r.RecordBatch(i)
		if err != nil {
			return n, nil, fmt.Errorf("%s: record %d: %w", path, i, err)
		}
		n += rec.NumRows()
	}
	return n, r.Schema(), nil
}

// clvColumns are the CLV predictions among the risk-list columns.
var clvColumns = []string{"customer_id", "as_of", "p_alive", "expected_purchases", "predicted_clv", "historic_clv", "expected_next_order_date", "value_at_risk"}

// ExportCLV writes the CLV predictions of a scores file (customer_id,
// as_of, p_alive, expected_purchases, predicted_clv, historic_clv,
// expected_next_order_date, value_at_risk) as clv.parquet and clv.arrow.
func ExportCLV(ctx context.Context, scoresPath, dir string) (Export, error) {
	t, err := readColumns(ctx, scoresPath, clvColumns)
	if err != nil {
		return Export{Name: "clv"}, fmt.Errorf("export clv: %w", err)
	}
	defer t.Release()
	tmp := filepath.Join(dir, ".clv-src.parquet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Export{Name: "clv"}, err
	}
	err = atomicWrite(tmp, func(f *os.File) error {
		w, err := pqarrow.NewFileWriter(t.Schema(), noClose{f}, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd)), pqarrow.DefaultWriterProps())
		if err != nil {
			return err
		}
		if err := w.WriteTable(t, 1<<16); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	})
	if err != nil {
		return Export{Name: "clv"}, fmt.Errorf("export clv: %w", err)
	}
	defer os.Remove(tmp)
	return ExportForNotebooks(ctx, tmp, dir, "clv")
}
