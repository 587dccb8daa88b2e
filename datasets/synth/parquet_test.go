package synth

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// The Parquet files hold exactly the values of the CSV files (read back
// with pqarrow and printed the way the CSV writer prints them).
func TestParquetMatchesCSV(t *testing.T) {
	cfg := Config{Customers: 2500, Seed: 3}
	csvDir, _ := generate(t, cfg)
	cfg.Format = "parquet"
	pqDir, _ := generate(t, cfg)
	for _, name := range []string{"customers", "orders", "events", "subscriptions", "tickets", "surveys", "truth"} {
		want, err := os.ReadFile(filepath.Join(csvDir, name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		got := parquetAsCSV(t, filepath.Join(pqDir, name+".parquet"))
		if !bytes.Equal(got, want) {
			gl, wl := bytes.SplitN(got, []byte("\n"), 3), bytes.SplitN(want, []byte("\n"), 3)
			t.Errorf("%s: Parquet and CSV differ (%d vs %d bytes); first lines\n%s\n%s", name, len(got), len(want), bytes.Join(gl[:2], []byte("\n")), bytes.Join(wl[:2], []byte("\n")))
		}
	}
}

func parquetAsCSV(t *testing.T, path string) []byte {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 4096}, mem)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	var out []byte
	for i, f := range tbl.Schema().Fields() {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, f.Name...)
	}
	out = append(out, '\n')
	tr := array.NewTableReader(tbl, 1<<20)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			for c := 0; c < int(rec.NumCols()); c++ {
				if c > 0 {
					out = append(out, ',')
				}
				col := rec.Column(c)
				if col.IsNull(r) {
					continue
				}
				switch a := col.(type) {
				case *array.String:
					out = append(out, a.Value(r)...)
				case *array.Float64:
					out = strconv.AppendFloat(out, a.Value(r), 'f', -1, 64)
				case *array.Int64:
					out = strconv.AppendInt(out, a.Value(r), 10)
				case *array.Boolean:
					out = strconv.AppendBool(out, a.Value(r))
				case *array.Timestamp:
					if a.DataType().(*arrow.TimestampType).Unit != arrow.Microsecond {
						t.Fatalf("%s: timestamp unit %s", path, a.DataType())
					}
					out = appendTime(out, int64(a.Value(r))/1_000_000)
				default:
					t.Fatalf("%s: unexpected column type %s", path, col.DataType())
				}
			}
			out = append(out, '\n')
		}
	}
	return out
}
