package datasets

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated tables in docs/data.md")

var kindNames = map[Kind]string{String: "string", Float: "float64", Int: "int64", Bool: "bool", Time: "timestamp (µs, UTC)"}

// specsMarkdown renders Specs as the canonical-table reference of docs/data.md.
func specsMarkdown() string {
	var b strings.Builder
	for _, t := range Tables {
		s := Specs[t]
		fmt.Fprintf(&b, "### %s\n\n%s.", t, strings.ToUpper(s.Meaning[:1])+s.Meaning[1:])
		if s.TimeCol != "" {
			fmt.Fprintf(&b, " Rows are sorted by `customer_id`, then `%s`.", s.TimeCol)
		}
		b.WriteString("\n\n| column | type | required | meaning |\n|---|---|---|---|\n")
		for _, c := range s.Columns {
			req := ""
			if c.Required {
				req = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.Name, kindNames[c.Kind], req, c.Meaning)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestDocsMatchSpecs keeps docs/data.md's table reference in step with
// Specs (regenerate with go test ./datasets -run TestDocsMatchSpecs -update).
func TestDocsMatchSpecs(t *testing.T) {
	const path = "../docs/data.md"
	const begin, end = "<!-- tables:begin (generated from datasets.Specs) -->\n", "<!-- tables:end -->"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated-table markers", path)
	}
	want := s[:i+len(begin)] + specsMarkdown() + s[j:]
	if want == s {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with datasets.Specs: run go test ./datasets -run TestDocsMatchSpecs -update", path)
}
