package reports

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// Report is one document: a title, headline metrics and sections of figures
// and tables. The same Report renders to HTML (WriteHTML), to a Jupyter
// notebook (WriteNotebook) and to the Parquet files behind every figure and
// table (WriteData).
type Report struct {
	Kind      string // model, retention or campaign
	Title     string
	Subtitle  string
	Generated time.Time
	Headline  []Metric
	Sections  []Section
}

// Metric is a headline number with its label.
type Metric struct {
	Label string
	Value string
	Note  string
}

// Section groups text, figures and tables under one heading.
type Section struct {
	Title   string
	Text    string
	Figures []Figure
	Tables  []*Table
}

// Chart is anything that renders itself as SVG.
type Chart interface{ SVG() string }

// Figure is one plot with the data behind it.
type Figure struct {
	Name    string // file-safe name: the Parquet file is data/<Name>.parquet
	Caption string
	Chart   Chart
	Data    *Table
}

// Table is a small column-oriented table: every column has the same length.
type Table struct {
	Name    string // file-safe name for its Parquet export
	Title   string
	Columns []Column
}

// Column is a named column of floats or strings (exactly one is set).
type Column struct {
	Name    string
	Floats  []float64
	Strings []string
	// Format is a fmt verb for floats in HTML/notebook tables (default %.4g).
	Format string
}

// Len is the number of rows.
func (t *Table) Len() int {
	if t == nil || len(t.Columns) == 0 {
		return 0
	}
	c := t.Columns[0]
	if c.Strings != nil {
		return len(c.Strings)
	}
	return len(c.Floats)
}

// Validate checks that every column has one kind and the same length.
func (t *Table) Validate() error {
	n := t.Len()
	for _, c := range t.Columns {
		l := len(c.Floats)
		if c.Strings != nil {
			if c.Floats != nil {
				return fmt.Errorf("table %s: column %s has both floats and strings", t.Name, c.Name)
			}
			l = len(c.Strings)
		}
		if l != n {
			return fmt.Errorf("table %s: column %s has %d rows, want %d", t.Name, c.Name, l, n)
		}
	}
	return nil
}

// Cell formats row i of column j for display.
func (t *Table) Cell(i, j int) string {
	c := t.Columns[j]
	if c.Strings != nil {
		return c.Strings[i]
	}
	v := c.Floats[i]
	if math.IsNaN(v) {
		return ""
	}
	f := c.Format
	if f == "" {
		f = "%.4g"
	}
	return fmt.Sprintf(f, v)
}

// F returns a float column.
func F(name string, v []float64) Column { return Column{Name: name, Floats: v} }

// S returns a string column.
func S(name string, v []string) Column { return Column{Name: name, Strings: v} }

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// FileName turns a title into a file-safe name.
func FileName(s string) string {
	s = strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(s), "_"), "_")
	if s == "" {
		s = "data"
	}
	return s
}

// dataTables lists every table that WriteData exports, in document order,
// with unique names.
func (r *Report) dataTables() []*Table {
	var out []*Table
	seen := map[string]int{}
	add := func(t *Table) {
		if t == nil {
			return
		}
		if t.Name == "" {
			t.Name = FileName(t.Title)
		}
		if n := seen[t.Name]; n > 0 {
			t.Name = fmt.Sprintf("%s_%d", t.Name, n+1)
		}
		seen[t.Name]++
		out = append(out, t)
	}
	for si := range r.Sections {
		s := &r.Sections[si]
		for fi := range s.Figures {
			f := &s.Figures[fi]
			if f.Data != nil && f.Data.Name == "" {
				f.Data.Name = f.Name
			}
			add(f.Data)
		}
		for _, t := range s.Tables {
			add(t)
		}
	}
	return out
}
