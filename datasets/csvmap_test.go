package datasets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// readAllCSV runs r over all its columns and returns "line:field|field…"
// per record, in line order.
func readAllCSV(t *testing.T, r *csvReader) ([]string, error) {
	t.Helper()
	cols := make([]int, len(r.columns()))
	for i := range cols {
		cols[i] = i
	}
	var mu sync.Mutex
	var out []string
	err := r.run(context.Background(), cols, func(_ int, b *rawBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < b.n; i++ {
			f := make([]string, len(b.cols))
			for k := range b.cols {
				f[k] = string(b.cols[k].text(i))
			}
			out = append(out, fmt.Sprintf("%09d:%s", b.line[i], strings.Join(f, "|")))
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// TestMappedCSVSameRecords: a plain CSV is read through a memory mapping;
// its records (fields and line numbers) are those of the buffered reader,
// with a BOM, CRLF, blank lines, quoted newlines, records longer than a
// chunk and a last record without a newline.
func TestMappedCSVSameRecords(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("\xef\xbb\xbfid,note,n\r\n")
	long := strings.Repeat("x", csvChunk+csvChunk/3) // longer than a chunk
	for i := 0; i < 60_000; i++ {
		switch {
		case i%20_000 == 7:
			fmt.Fprintf(&sb, "%d,%s,%d\n", i, long, i)
		case i%1000 == 3:
			fmt.Fprintf(&sb, "%d,\"two\nlines, quoted\",%d\r\n", i, i)
		case i%777 == 0:
			sb.WriteString("\n")
		default:
			fmt.Fprintf(&sb, "%d,note %d,%d\n", i, i%13, i*7)
		}
	}
	sb.WriteString("last,no newline,1")
	path := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	open := func(mapped bool) []string {
		r, err := openCSV(path, "in.csv", &Source{Format: "csv"}, &quarantine{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.close()
		if (r.mapped != nil) != mapped {
			if mapped {
				t.Skip("files cannot be mapped here")
			}
			unmapFile(r.mapped)
			r.mapped = nil
		}
		got, err := readAllCSV(t, r)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want, got := open(false), open(true)
	if len(want) < 59_000 {
		t.Fatalf("buffered reader read %d records", len(want))
	}
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("record %d: mapped %.80q, buffered %.80q (of %d / %d)", i, got[i], want[i], len(got), len(want))
			}
		}
		t.Fatalf("mapped %d records, buffered %d", len(got), len(want))
	}
}

// TestMappedCSVCutShort: a file cut short while it is read through the
// mapping is bad input naming the file, not a crash.
func TestMappedCSVCutShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.csv")
	var sb strings.Builder
	sb.WriteString("id,amount\n")
	for i := 0; sb.Len() < 3*csvChunk; i++ {
		fmt.Fprintf(&sb, "c%d,%d.50\n", i, i%100)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := openCSV(path, "in.csv", &Source{Format: "csv"}, &quarantine{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if r.mapped == nil {
		t.Skip("files cannot be mapped here")
	}
	if err := os.Truncate(path, 64<<10); err != nil {
		t.Fatal(err)
	}
	_, err = readAllCSV(t, r)
	var ie *InputError
	if !errors.As(err, &ie) || ie.File != "in.csv" || !strings.Contains(ie.Msg, "changed") {
		t.Fatalf("err = %v, want bad input: in.csv changed while read", err)
	}
}
