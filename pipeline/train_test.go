package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retainlab/retain/models/churn"
)

// writeOrders writes a small orders CSV: 600 customers ordering at their own
// rate, some of whom stop for good at a random time, so recency and
// frequency predict churn.
func writeOrders(t *testing.T, dir string) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(42, 7))
	var b strings.Builder
	b.WriteString("customer_id,order_id,ordered_at,amount\n")
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)
	n := 0
	for c := range 600 {
		gap := 10 + rng.Float64()*60 // mean days between orders
		stop := end.Add(time.Duration(rng.Float64()*900*24) * time.Hour)
		t0 := start.Add(time.Duration(rng.Float64()*200*24) * time.Hour)
		for d := t0; d.Before(end) && d.Before(stop); d = d.Add(time.Duration(rng.ExpFloat64()*gap*24) * time.Hour) {
			n++
			fmt.Fprintf(&b, "c%04d,o%d,%s,%.2f\n", c, n, d.Format("2006-01-02 15:04:05"), 5+rng.Float64()*50)
		}
	}
	p := filepath.Join(dir, "orders.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func trainConfig(t *testing.T, extra string) *Config {
	t.Helper()
	dir := t.TempDir()
	orders := writeOrders(t, dir)
	y := fmt.Sprintf(`data_dir: %s
shards: 2
sources:
  orders:
    format: csv
    path: %s
    time_format: "2006-01-02 15:04:05"
    columns:
      customer_id: customer_id
      order_id: order_id
      ordered_at: ordered_at
      amount: amount
churn:
  horizon: 90d
model:
  kind: logreg
%s`, filepath.Join(dir, "data"), orders, extra)
	path := filepath.Join(dir, "retain.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Extract(context.Background(), cfg, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTrainBacktestAndChampion(t *testing.T) {
	ctx := context.Background()
	cfg := trainConfig(t, "")
	D := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)

	cv, err := Train(ctx, cfg, TrainOptions{AsOf: D, CV: 3})
	if err != nil {
		t.Fatal(err)
	}
	if cv.Folds != 3 || cv.AUC < 0.6 || cv.N == 0 || cv.Artifact != "" {
		t.Errorf("CV summary %+v", cv)
	}
	bt, err := Backtest(ctx, cfg, BacktestOptions{AsOf: D})
	if err != nil {
		t.Fatal(err)
	}
	if bt.EvaluatedAt != "2024-09-01" || len(bt.TrainCutoffs) != 1 || bt.TrainCutoffs[0] != "2024-06-03" || bt.AUC < 0.6 {
		t.Errorf("backtest summary %+v", bt)
	}
	// Train for the end of the data: the first model becomes champion.
	end := time.Date(2024, 12, 29, 0, 0, 0, 0, time.UTC)
	s1, err := Train(ctx, cfg, TrainOptions{AsOf: end})
	if err != nil {
		t.Fatal(err)
	}
	if !s1.Champion || s1.Decision == nil || s1.Decision.Reason != "no champion yet" {
		t.Fatalf("first model: %+v", s1.Decision)
	}
	if _, err := json.Marshal(s1); err != nil {
		t.Fatalf("summary JSON: %v", err)
	}
	// A much worse recipe (heavily over-regularised) is not promoted.
	c2 := *cfg
	c2.Model.LogReg.C = 1e-6
	c2.Model.LogReg.Knots = -1
	s2, err := Train(ctx, &c2, TrainOptions{AsOf: end})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Decision.ChampionID != s1.ModelID || !(s2.Decision.ChampionAUC > 0) {
		t.Errorf("second model decision %+v", s2.Decision)
	}
	if s2.Decision.Promote != (float64(s2.AUC) >= s2.Decision.ChampionAUC-0.005) {
		t.Errorf("decision does not follow the margin rule: %+v", s2.Decision)
	}
	ch, err := ModelRegistry(cfg).Champion()
	if err != nil || ch == nil {
		t.Fatalf("champion %v %v", ch, err)
	}
	a, m, err := ModelRegistry(cfg).LoadChampion()
	if err != nil || a.Kind != "logreg" || len(m.Features()) == 0 || math.IsNaN(a.Metrics["backtest"].AUC) {
		t.Fatalf("champion artifact %+v, %v", a, err)
	}
	// A schema mismatch is refused with a bad-input error.
	err = a.CheckSchema(append([]churn.FeatureInfo{{Name: "new_feature", Kind: "numeric"}}, a.Schema...))
	var bi interface{ BadInput() bool }
	if !errors.As(err, &bi) || !bi.BadInput() {
		t.Errorf("schema mismatch: %v", err)
	}
}

func TestBacktestNeedsObservableLabels(t *testing.T) {
	cfg := trainConfig(t, "")
	_, err := Backtest(context.Background(), cfg, BacktestOptions{AsOf: time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)})
	var bi interface{ BadInput() bool }
	if err == nil || !errors.As(err, &bi) || !strings.Contains(err.Error(), "no customer at 2024-12-01 has a known label") {
		t.Fatalf("err = %v", err)
	}
}
