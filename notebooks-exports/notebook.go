package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// notebook is the nbformat 4.5 document structure.
type notebook struct {
	Cells         []cell         `json:"cells"`
	Metadata      map[string]any `json:"metadata"`
	NBFormat      int            `json:"nbformat"`
	NBFormatMinor int            `json:"nbformat_minor"`
}

type cell struct {
	ID             string         `json:"id"`
	CellType       string         `json:"cell_type"`
	Metadata       map[string]any `json:"metadata"`
	Source         []string       `json:"source"`
	ExecutionCount *int           `json:"execution_count,omitempty"`
	Outputs        *[]output      `json:"outputs,omitempty"` // code cells only (required there)
}

type output struct {
	OutputType     string         `json:"output_type"`
	Data           map[string]any `json:"data,omitempty"`
	Metadata       map[string]any `json:"metadata"`
	ExecutionCount *int           `json:"execution_count,omitempty"`
}

// WriteNotebook renders the report as a Jupyter notebook (nbformat 4.5) whose
// outputs are already filled in (figures as embedded SVG, tables as HTML), so it
// renders without being rerun; each code cell loads the Parquet file behind
// its figure with pandas, relative to the notebook's folder.
func (r *Report) WriteNotebook(w io.Writer) error {
	r.dataTables()
	nb := notebook{
		Metadata: map[string]any{
			"kernelspec":    map[string]any{"name": "python3", "display_name": "Python 3", "language": "python"},
			"language_info": map[string]any{"name": "python"},
			"retain":        map[string]any{"report": r.Kind},
		},
		NBFormat: 4, NBFormatMinor: 5,
	}
	n := 0
	exec := 0
	md := func(text string) {
		n++
		nb.Cells = append(nb.Cells, cell{ID: fmt.Sprintf("cell-%03d", n), CellType: "markdown", Metadata: map[string]any{}, Source: lines(text)})
	}
	code := func(src string, outs ...output) {
		n++
		exec++
		e := exec
		for i := range outs {
			if outs[i].OutputType == "execute_result" {
				outs[i].ExecutionCount = &e
			}
		}
		if outs == nil {
			outs = []output{}
		}
		nb.Cells = append(nb.Cells, cell{ID: fmt.Sprintf("cell-%03d", n), CellType: "code", Metadata: map[string]any{}, Source: lines(src), ExecutionCount: &e, Outputs: &outs})
	}
	head := "# " + r.Title + "\n"
	if r.Subtitle != "" {
		head += "\n" + r.Subtitle + "\n"
	}
	if !r.Generated.IsZero() {
		head += "\nGenerated " + r.Generated.UTC().Format("2006-01-02 15:04 UTC") + ".\n"
	}
	if len(r.Headline) > 0 {
		head += "\n| metric | value | note |\n|---|---|---|\n"
		for _, m := range r.Headline {
			head += "| " + mdEsc(m.Label) + " | " + mdEsc(m.Value) + " | " + mdEsc(m.Note) + " |\n"
		}
	}
	md(head)
	code("import pandas as pd\nfrom pathlib import Path\nDATA = Path('data')  # the Parquet files behind every figure and table")
	for _, s := range r.Sections {
		text := "## " + s.Title + "\n"
		if s.Text != "" {
			text += "\n" + s.Text + "\n"
		}
		md(text)
		for _, f := range s.Figures {
			if f.Caption != "" {
				md(f.Caption)
			}
			src := "# " + f.Name
			if f.Data != nil {
				src = fmt.Sprintf("%s = pd.read_parquet(DATA / '%s.parquet')\n%s.head()", varName(f.Data.Name), f.Data.Name, varName(f.Data.Name))
			}
			var outs []output
			if f.Chart != nil {
				outs = append(outs, output{OutputType: "display_data", Metadata: map[string]any{},
					Data: map[string]any{"image/svg+xml": lines(f.Chart.SVG()), "text/plain": []string{"<" + f.Name + " figure>"}}})
			}
			code(src, outs...)
		}
		for _, t := range s.Tables {
			var hb strings.Builder
			writeHTMLTable(&hb, t)
			code(fmt.Sprintf("%s = pd.read_parquet(DATA / '%s.parquet')\n%s", varName(t.Name), t.Name, varName(t.Name)),
				output{OutputType: "execute_result", Metadata: map[string]any{},
					Data: map[string]any{"text/html": lines(hb.String()), "text/plain": lines(plainTable(t))}})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	enc.SetEscapeHTML(false)
	return enc.Encode(nb)
}

// lines splits text into notebook source lines, each keeping its newline.
func lines(s string) []string {
	if s == "" {
		return []string{}
	}
	parts := strings.SplitAfter(s, "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

func mdEsc(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func varName(s string) string {
	v := FileName(s)
	if v[0] >= '0' && v[0] <= '9' {
		v = "t_" + v
	}
	return v
}

func plainTable(t *Table) string {
	var b strings.Builder
	for j, c := range t.Columns {
		if j > 0 {
			b.WriteString("\t")
		}
		b.WriteString(c.Name)
	}
	b.WriteString("\n")
	for i := 0; i < t.Len() && i < maxHTMLRows; i++ {
		for j := range t.Columns {
			if j > 0 {
				b.WriteString("\t")
			}
			b.WriteString(t.Cell(i, j))
		}
		b.WriteString("\n")
	}
	return b.String()
}
