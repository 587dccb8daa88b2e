// Command snapcmp compares the data of two files or two snapshots (folders
// of Parquet files, matched by relative path): every column's Arrow type
// and values must be equal; encodings, compression and metadata may differ.
// Used to check that a new snapshot writer keeps what extract writes.
//
//	go run ./bench/cases/snapcmp OLD NEW
package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

func readTable(path string) (arrow.Table, error) {
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, err
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	return fr.ReadTable(context.Background())
}

func compare(a, b string) error {
	ta, err := readTable(a)
	if err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	defer ta.Release()
	tb, err := readTable(b)
	if err != nil {
		return fmt.Errorf("%s: %w", b, err)
	}
	defer tb.Release()
	if !ta.Schema().Equal(tb.Schema()) {
		return fmt.Errorf("schemas differ:\n%s\n%s", ta.Schema(), tb.Schema())
	}
	if ta.NumRows() != tb.NumRows() {
		return fmt.Errorf("rows differ: %d vs %d", ta.NumRows(), tb.NumRows())
	}
	for i := 0; i < int(ta.NumCols()); i++ {
		ca, cb := ta.Column(i).Data(), tb.Column(i).Data()
		if !array.ChunkedEqual(ca, cb) {
			return fmt.Errorf("column %s differs", ta.Schema().Field(i).Name)
		}
	}
	return nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: snapcmp OLD NEW (files or folders)")
		os.Exit(2)
	}
	a, b := os.Args[1], os.Args[2]
	st, err := os.Stat(a)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var pairs [][2]string
	if st.IsDir() {
		filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
				rel, _ := filepath.Rel(a, p)
				pairs = append(pairs, [2]string{p, filepath.Join(b, rel)})
			}
			return nil
		})
	} else {
		pairs = append(pairs, [2]string{a, b})
	}
	bad := 0
	for _, p := range pairs {
		if err := compare(p[0], p[1]); err != nil {
			fmt.Printf("DIFFER %s: %v\n", p[1], err)
			bad++
		}
	}
	fmt.Printf("%d files compared, %d differ\n", len(pairs), bad)
	if bad > 0 || len(pairs) == 0 {
		os.Exit(1)
	}
}
