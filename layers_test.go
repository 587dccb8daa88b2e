// Package retain_test checks the dependency direction of DESIGN.md's layout
// table: a package may import only the retain packages its folder is allowed
// to, so numeric code never depends on jobs, stores or the CLI.
package retain_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/retainlab/retain"

// allowed maps a top-level folder to the top-level folders it may import
// (its own folder is always allowed).
var allowed = map[string][]string{
	"datasets":          {},
	"features":          {"datasets"},
	"models":            {},
	"stores":            {"datasets"},
	"pipeline":          {"datasets", "features", "models", "stores"},
	"jobs":              {"pipeline", "datasets", "features", "models", "stores"},
	"api":               {"stores", "pipeline", "datasets"},
	"notebooks-exports": {"models", "features", "datasets"},
	"cmd":               {"datasets", "features", "models", "stores", "pipeline", "jobs", "api", "notebooks-exports"},
	"bench":             {"datasets", "features", "models", "stores", "pipeline", "jobs", "api", "notebooks-exports"},
}

func TestImportDirection(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "retain-demo") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || !strings.Contains(path, string(os.PathSeparator)) {
			return nil
		}
		top := strings.SplitN(filepath.ToSlash(path), "/", 2)[0]
		ok, known := allowed[top]
		if !known {
			t.Errorf("%s: folder %q is not in DESIGN.md's layout table (add it to allowed)", path, top)
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module+"/") {
				if top == "models" && strings.Contains(p, "golearn") && !strings.HasSuffix(path, "_test.go") && !strings.Contains(path, "baseline") {
					t.Errorf("%s imports golearn outside a baseline package or test", path)
				}
				continue
			}
			target := strings.SplitN(strings.TrimPrefix(p, module+"/"), "/", 2)[0]
			if target == top {
				continue
			}
			if !contains(ok, target) {
				t.Errorf("%s (folder %s) imports %s: DESIGN.md places %s above %s", path, top, p, target, top)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no Go files checked")
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
