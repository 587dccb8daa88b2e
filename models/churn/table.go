package churn

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// TableError is a problem with a plain table file; it is bad input (exit 2).
type TableError struct {
	File   string
	Row    int // 1-based line of the file, 0 when not about one row
	Column string
	Msg    string
}

func (e *TableError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Row > 0 {
		fmt.Fprintf(&b, ": row %d", e.Row)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	return b.String() + ": " + e.Msg
}

// BadInput marks the error as bad input.
func (e *TableError) BadInput() bool { return true }

// Table is a one-row-per-customer table read for training.
type Table struct {
	Dataset
	IDs []string
	// Categories lists, per categorical feature, the category names by code.
	Categories map[string][]string
	// Dropped names the columns left out and why.
	Dropped []string
}

// ReadTable reads a CSV table with a header: label names the 0/1 label
// column (1/0, yes/no, true/false, y/n, churned/…); id the customer id column
// (may be empty). Columns whose non-blank values all parse as numbers are
// numeric, others categorical; blanks are missing. Left out: categorical
// columns with more distinct values than max(50, rows/20) (names, free
// text), numeric columns equal to the row number, and constant columns.
func ReadTable(r io.Reader, file, label, id string) (*Table, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if err != nil {
		return nil, &TableError{File: file, Msg: fmt.Sprintf("reading the header: %v", err)}
	}
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	li, ii := slices.Index(header, label), -1
	if li < 0 {
		return nil, &TableError{File: file, Column: label, Msg: "no such column (the --label column)"}
	}
	if id != "" {
		if ii = slices.Index(header, id); ii < 0 {
			return nil, &TableError{File: file, Column: id, Msg: "no such column (the --id column)"}
		}
	}
	var rows [][]string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &TableError{File: file, Row: pe.Line, Msg: pe.Err.Error()}
			}
			return nil, &TableError{File: file, Msg: err.Error()}
		}
		rows = append(rows, rec)
	}
	n := len(rows)
	if n == 0 {
		return nil, &TableError{File: file, Msg: "no data rows"}
	}
	t := &Table{Categories: map[string][]string{}}
	t.Y = make([]float64, n)
	for i, rec := range rows {
		v, ok := parseLabel(rec[li])
		if !ok {
			return nil, &TableError{File: file, Row: i + 2, Column: label, Msg: fmt.Sprintf("label %q is not 0/1, yes/no or true/false", rec[li])}
		}
		t.Y[i] = v
	}
	if ii >= 0 {
		t.IDs = make([]string, n)
		for i, rec := range rows {
			t.IDs[i] = rec[ii]
		}
	}
	maxCats := max(50, n/20)
	for j, name := range header {
		if j == li || j == ii {
			continue
		}
		col := make([]float64, n)
		numeric := true
		for i, rec := range rows {
			s := strings.TrimSpace(rec[j])
			if s == "" || strings.EqualFold(s, "NA") || strings.EqualFold(s, "NaN") || strings.EqualFold(s, "null") {
				col[i] = math.NaN()
				continue
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsInf(v, 0) {
				numeric = false
				break
			}
			col[i] = v
		}
		if numeric {
			if isRowNumber(col) {
				t.Dropped = append(t.Dropped, name+" (row number)")
				continue
			}
			if constant(col) {
				t.Dropped = append(t.Dropped, name+" (constant)")
				continue
			}
			t.X = append(t.X, col)
			t.Names = append(t.Names, name)
			t.Categorical = append(t.Categorical, false)
			continue
		}
		codes := map[string]int{}
		var names []string
		for _, rec := range rows {
			s := strings.TrimSpace(rec[j])
			if s == "" {
				continue
			}
			if _, ok := codes[s]; !ok {
				codes[s] = 0
				names = append(names, s)
			}
		}
		if len(names) > maxCats {
			t.Dropped = append(t.Dropped, fmt.Sprintf("%s (%d distinct text values)", name, len(names)))
			continue
		}
		if len(names) < 2 {
			t.Dropped = append(t.Dropped, name+" (constant)")
			continue
		}
		slices.Sort(names)
		for k, s := range names {
			codes[s] = k
		}
		for i, rec := range rows {
			s := strings.TrimSpace(rec[j])
			if s == "" {
				col[i] = math.NaN()
			} else {
				col[i] = float64(codes[s])
			}
		}
		t.X = append(t.X, col)
		t.Names = append(t.Names, name)
		t.Categorical = append(t.Categorical, true)
		t.Categories[name] = names
	}
	if len(t.X) == 0 {
		return nil, &TableError{File: file, Msg: "no usable feature columns"}
	}
	return t, nil
}

func parseLabel(s string) (float64, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "1.0", "yes", "y", "true", "t", "churned", "churn", "exited", "left":
		return 1, true
	case "0", "0.0", "no", "n", "false", "f", "stayed", "retained", "active":
		return 0, true
	}
	return 0, false
}

func isRowNumber(col []float64) bool {
	if len(col) < 3 {
		return false
	}
	start := col[0]
	if start != 0 && start != 1 {
		return false
	}
	for i, v := range col {
		if v != start+float64(i) {
			return false
		}
	}
	return true
}

func constant(col []float64) bool {
	first := math.NaN()
	for _, v := range col {
		if math.IsNaN(v) {
			continue
		}
		if math.IsNaN(first) {
			first = v
		} else if v != first {
			return false
		}
	}
	return true
}
