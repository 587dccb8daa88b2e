package retain_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBenchModulesInStep: the side-by-side benchmarks under bench/ are
// separate modules that use this one through a replace directive, so a new
// requirement here can leave their go.mod behind ("updates to go.mod
// needed", and `make bench`/`make eval` fail). `go list -m -mod=readonly
// all` checks the module graph without downloading their code.
func TestBenchModulesInStep(t *testing.T) {
	mods, err := filepath.Glob("bench/*/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) == 0 {
		t.Fatal("no module under bench/")
	}
	for _, m := range mods {
		dir := filepath.Dir(m)
		cmd := exec.Command("go", "list", "-m", "-mod=readonly", "all")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: go list -m all: %v\n%s(run `go mod tidy` in %s)", dir, err, out, dir)
		}
	}
}
