package reports

import (
	"fmt"
	"io"
	"strings"
)

// maxHTMLRows caps the rows of a table shown in HTML and notebooks; the full
// table is always in its Parquet file.
const maxHTMLRows = 50

const css = `body{font-family:Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#222}
header{background:#0b3d5c;color:#fff;padding:20px 32px}header h1{margin:0;font-size:24px}header p{margin:4px 0 0;opacity:.85}
main{max-width:1280px;margin:0 auto;padding:16px 32px}
.metrics{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.metric{background:#fff;border-radius:6px;padding:10px 14px;min-width:120px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.metric .v{font-size:22px;font-weight:bold}.metric .l{font-size:12px;color:#555}.metric .n{font-size:11px;color:#888}
section{background:#fff;border-radius:6px;padding:12px 20px;margin:16px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.figs{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;flex:1 1 460px;max-width:560px}figure svg{width:100%;height:auto}figcaption{font-size:12px;color:#555;max-width:560px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}th,td{border-bottom:1px solid #e5e5e5;padding:3px 8px;text-align:right}
th{background:#f0f2f5}td:first-child,th:first-child{text-align:left}.more{font-size:11px;color:#888}`

// WriteHTML renders the report as one self-contained HTML page: inline CSS and
// SVG, no scripts, nothing fetched from the network.
func (r *Report) WriteHTML(w io.Writer) error {
	r.dataTables()
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
	b.WriteString(esc(r.Title))
	b.WriteString("</title><style>" + css + "</style></head><body>\n<header><h1>")
	b.WriteString(esc(r.Title) + "</h1><p>" + esc(r.Subtitle))
	if !r.Generated.IsZero() {
		b.WriteString(" · generated " + r.Generated.UTC().Format("2006-01-02 15:04 UTC"))
	}
	b.WriteString("</p></header>\n<main>\n")
	if len(r.Headline) > 0 {
		b.WriteString(`<div class="metrics">`)
		for _, m := range r.Headline {
			fmt.Fprintf(&b, `<div class="metric"><div class="v">%s</div><div class="l">%s</div>`, esc(m.Value), esc(m.Label))
			if m.Note != "" {
				fmt.Fprintf(&b, `<div class="n">%s</div>`, esc(m.Note))
			}
			b.WriteString("</div>")
		}
		b.WriteString("</div>\n")
	}
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "<section><h2>%s</h2>\n", esc(s.Title))
		if s.Text != "" {
			for _, p := range strings.Split(s.Text, "\n\n") {
				fmt.Fprintf(&b, "<p>%s</p>\n", esc(p))
			}
		}
		if len(s.Figures) > 0 {
			b.WriteString(`<div class="figs">`)
			for _, f := range s.Figures {
				b.WriteString("<figure>")
				if f.Chart != nil {
					b.WriteString(f.Chart.SVG())
				}
				if f.Caption != "" || f.Data != nil {
					b.WriteString("<figcaption>" + esc(f.Caption))
					if f.Data != nil {
						fmt.Fprintf(&b, " Data: <code>data/%s.parquet</code>", esc(f.Data.Name))
					}
					b.WriteString("</figcaption>")
				}
				b.WriteString("</figure>\n")
			}
			b.WriteString("</div>\n")
		}
		for _, t := range s.Tables {
			writeHTMLTable(&b, t)
		}
		b.WriteString("</section>\n")
	}
	b.WriteString("</main></body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeHTMLTable(b *strings.Builder, t *Table) {
	if t.Title != "" {
		fmt.Fprintf(b, "<h3>%s</h3>\n", esc(t.Title))
	}
	b.WriteString(`<div style="overflow-x:auto"><table><thead><tr>`)
	for _, c := range t.Columns {
		fmt.Fprintf(b, "<th>%s</th>", esc(c.Name))
	}
	b.WriteString("</tr></thead><tbody>\n")
	n := t.Len()
	for i := 0; i < n && i < maxHTMLRows; i++ {
		b.WriteString("<tr>")
		for j := range t.Columns {
			fmt.Fprintf(b, "<td>%s</td>", esc(t.Cell(i, j)))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody></table></div>\n")
	if n > maxHTMLRows {
		fmt.Fprintf(b, `<p class="more">%d of %d rows shown; all rows in <code>data/%s.parquet</code>.</p>`+"\n", maxHTMLRows, n, esc(t.Name))
	}
}
