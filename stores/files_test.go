package stores

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// TestReadRiskListMatchesPrepare: publishing from scores.parquet (reasons
// kept as stored, not decoded) hashes the same as publishing the rows in
// memory, and the export writes the same reasons and hashes.
func TestReadRiskListMatchesPrepare(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rows := makeRisk(500, "run-f", "2026-11-01", 0)
	rows[3].Reasons = nil
	rows[4].Reasons = []Reason{{Feature: "a<b", Contribution: 1e-7, Text: "quote \" & unicode é"}}
	path := filepath.Join(dir, "scores.parquet")
	if err := WriteRiskParquet(ctx, path, rows, nil); err != nil {
		t.Fatal(err)
	}
	want, err := Prepare(rows)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadRiskList(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.m.hash != want.m.hash || len(got.Rows) != len(rows) {
		t.Fatalf("content hash %s from the file, %s from memory (%d rows)", got.m.hash, want.m.hash, len(got.Rows))
	}
	for i := range rows {
		if got.m.reasons[i] != want.m.reasons[i] || got.m.rowHash[i] != want.m.rowHash[i] {
			t.Fatalf("row %d: reasons %q hash %s, want %q %s", i, got.m.reasons[i], got.m.rowHash[i], want.m.reasons[i], want.m.rowHash[i])
		}
	}
	// the export from the prepared list equals the one from the rows
	res, err := StartFileExport(ctx, filepath.Join(dir, "a"), got).Finish(nil)
	if err != nil || res.RiskRows != len(rows) {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := ExportFiles(ctx, filepath.Join(dir, "b"), rows, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"risk-2026-11-01.csv", "risk_current.csv"} {
		a, _ := os.ReadFile(filepath.Join(dir, "a", f))
		b, _ := os.ReadFile(filepath.Join(dir, "b", f))
		if len(a) == 0 || string(a) != string(b) {
			t.Fatalf("%s differs (%d and %d bytes)", f, len(a), len(b))
		}
	}
	back, err := ReadRiskParquet(filepath.Join(dir, "a", "risk_current.parquet"))
	if err != nil || len(back) != len(rows) || back[4].Reasons[0] != rows[4].Reasons[0] || back[3].Reasons != nil {
		t.Fatalf("read back: %d rows %v", len(back), err)
	}
	// a reasons column that is not a JSON list is refused
	bad := append([]RiskRow(nil), rows[:2]...)
	if err := writeRiskParquet(ctx, path, bad, []string{"[]", `[{"feature":`}, []string{"x", "y"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRiskList(path); !IsBadInput(err) {
		t.Fatalf("broken reasons JSON: %v", err)
	}
}

// TestRiskFileRowGroupsAndInterning: a list longer than RiskRowGroupRows is
// written in several row groups (the writer never holds the whole list) and
// reads back whole; the low-cardinality columns read back share one string
// per value, the customer ids do not.
func TestRiskFileRowGroupsAndInterning(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scores.parquet")
	n := RiskRowGroupRows + 1000
	rows := makeRisk(n, "run-g", "2026-11-01", 0)
	if err := WriteRiskParquet(ctx, path, rows, map[string]string{"b": "2", "a": "1"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if g := len(pf.RowGroups()); g != 2 {
		t.Fatalf("%d row groups for %d rows, want 2", g, n)
	}
	list, err := ReadRiskList(path)
	if err != nil || len(list.Rows) != n {
		t.Fatalf("read %d rows, want %d: %v", len(list.Rows), n, err)
	}
	a, b := &list.Rows[0], &list.Rows[n-1]
	if a.RunID != "run-g" || unsafe.StringData(a.RunID) != unsafe.StringData(b.RunID) {
		t.Fatalf("run ids %q and %q are separate copies", a.RunID, b.RunID)
	}
	if a.ModelVersion == "" || unsafe.StringData(a.ModelVersion) != unsafe.StringData(b.ModelVersion) {
		t.Fatal("model versions are separate copies")
	}
	for i := range list.Rows {
		if list.Rows[i].CustomerID != rows[i].CustomerID || list.Rows[i].RiskTier != rows[i].RiskTier || list.Rows[i].Segment != rows[i].Segment {
			t.Fatalf("row %d read back as %+v, want %+v", i, list.Rows[i], rows[i])
		}
	}
}
