package reports

import (
	"fmt"
	"os"
	"strings"
)

// WriteIndex writes a small HTML page linking the reports of a run (each in
// the <kind>/ folder beside it), with their headline metrics.
func WriteIndex(path, title string, reps []*Report) error {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + esc(title) + "</title><style>" + css + "</style></head><body>\n")
	b.WriteString("<header><h1>" + esc(title) + "</h1><p>reports of this run</p></header><main>\n")
	for _, r := range reps {
		fmt.Fprintf(&b, `<section><h2><a href="%s/report.html">%s</a></h2><p>%s · <a href="%s/report.ipynb">notebook</a> · data in <code>%s/data/</code></p>`,
			r.Kind, esc(r.Title), esc(r.Subtitle), r.Kind, r.Kind)
		if len(r.Headline) > 0 {
			b.WriteString(`<div class="metrics">`)
			for _, m := range r.Headline {
				fmt.Fprintf(&b, `<div class="metric"><div class="v">%s</div><div class="l">%s</div></div>`, esc(m.Value), esc(m.Label))
			}
			b.WriteString("</div>")
		}
		b.WriteString("</section>\n")
	}
	b.WriteString("</main></body></html>\n")
	return atomicWrite(path, func(f *os.File) error { _, err := f.WriteString(b.String()); return err })
}
