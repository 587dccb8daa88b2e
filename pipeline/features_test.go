package pipeline

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retainlab/retain/features"
)

// TestBuildFeaturesStage runs extract then the features stage on a tiny CSV
// and checks the summary (the `retain features --json` object) and the file.
func TestBuildFeaturesStage(t *testing.T) {
	dir := t.TempDir()
	csv := "customer,at,value\n" +
		"a,2024-01-10 10:00:00,10\n" +
		"a,2024-03-01 10:00:00,20\n" +
		"a,2024-07-15 10:00:00,5\n" + // after the cutoff, inside the horizon: a stays
		"b,2024-02-01 10:00:00,30\n" + // b never comes back: churned
		"c,2024-08-01 10:00:00,7\n" + // only after the cutoff: not in the population
		"d,2024-12-31 10:00:00,1\n" // makes the horizon observable (d is not in the population either)
	if err := os.WriteFile(filepath.Join(dir, "orders.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := `data_dir: ./data
shards: 2
sources:
  orders:
    format: csv
    path: orders.csv
    columns: {customer_id: customer, ordered_at: at, amount: value}
churn:
  horizon: 90d
`
	cfg, err := Parse([]byte(yaml), filepath.Join(dir, "retain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := Extract(ctx, cfg, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	D := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	sum, err := BuildFeatures(ctx, cfg, FeaturesOptions{Cutoffs: []time.Time{D}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Customers != 2 || sum.Positives == nil || *sum.Positives != 1 {
		b, _ := json.Marshal(sum)
		t.Fatalf("summary %s: want 2 customers (a, b), 1 churned (b)", b)
	}
	if want := filepath.Join(cfg.DataDir, "features", "features-2024-07-01.parquet"); sum.Path != want {
		t.Errorf("path %s, want %s", sum.Path, want)
	}
	b, _ := json.Marshal(sum)
	for _, key := range []string{`"customers":2`, `"positives":1`, `"churn_rate":0.5`, `"features":`, `"path":`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON summary lacks %s: %s", key, b)
		}
	}
	f, err := features.ReadFile(sum.Path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows() != 2 || len(f.Names) != sum.Features {
		t.Errorf("file has %d rows × %d features, summary says %d × %d", f.Rows(), len(f.Names), sum.Customers, sum.Features)
	}
	// A cutoff whose horizon runs past the data has no labels.
	late, err := BuildFeatures(ctx, cfg, FeaturesOptions{Cutoffs: []time.Time{D.AddDate(0, 6, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	if late.Positives != nil || late.ChurnRate != nil {
		t.Errorf("labels at %s should be null: %+v", D.AddDate(0, 6, 0), late)
	}
}
