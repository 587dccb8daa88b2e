package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// train --table --seed: another seed gives other folds (so another CV
// figure), the same seed the same one; --seed is refused with --config.
func TestTrainTableSeed(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	b.WriteString("id,tenure,plan,churned\n")
	for i := range 600 {
		tenure := rng.Float64() * 60
		plan := []string{"basic", "plus", "pro"}[rng.IntN(3)]
		churn := "No"
		if rng.Float64() < 0.6-tenure/100 {
			churn = "Yes"
		}
		fmt.Fprintf(&b, "c%d,%.2f,%s,%s\n", i, tenure, plan, churn)
	}
	path := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	auc := func(args ...string) []float64 {
		t.Helper()
		out, code := runRetain(t, append([]string{"train", "--table", path, "--label", "churned", "--id", "id", "--cv", "3", "--model", "gbdt", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		var s struct {
			FoldAUCs []float64 `json:"fold_aucs"`
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil || len(s.FoldAUCs) != 3 {
			t.Fatalf("%v: %s", err, out)
		}
		return s.FoldAUCs
	}
	def, one, two := auc(), auc("--seed", "1"), auc("--seed", "2")
	if fmt.Sprint(def) != fmt.Sprint(one) {
		t.Errorf("default %v, --seed 1 %v: want the same", def, one)
	}
	if fmt.Sprint(one) == fmt.Sprint(two) {
		t.Errorf("--seed 1 and 2 both give %v", one)
	}
	if _, code := runRetain(t, "train", "--config", path, "--as-of", "2024-01-01", "--seed", "2"); code != 2 {
		t.Errorf("--seed with --config: exit %d, want 2", code)
	}
}
