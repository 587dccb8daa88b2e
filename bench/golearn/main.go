// Command golearn-baseline fits golearn's classifiers (github.com/sjwhitworth/
// golearn, unmaintained since 2022, cgo for its liblinear logistic
// regression and KNN) on a one-row-per-customer churn table and reports
// ROC-AUC per fold next to retain's default model on the very same folds.
// It is a comparison baseline for `make eval` only: it lives in its own
// module so the retain binary never links golearn or needs cgo.
//
// The table is read with retain's churn.ReadTable and cross-validated with
// churn.CrossValidate (default config, as `retain train --table … --cv 5`);
// golearn's models are then fitted on CVResult.Fold, i.e. the same
// stratified seeded folds.
//
//	go run . -table Telco.csv -label Churn -id customerID [-json]
//go:debug randseednop=0

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/sjwhitworth/golearn/base"

	"github.com/retainlab/retain/models/churn"
	"github.com/retainlab/retain/models/eval"
)

// result is one model's figures over the folds.
type result struct {
	Model    string    `json:"model"`
	Score    string    `json:"score"` // what the AUC ranks by
	FoldAUCs []float64 `json:"fold_aucs"`
	AUC      float64   `json:"auc"` // mean over folds
	CPUSec   float64   `json:"cpu_seconds,omitempty"`
	Err      string    `json:"error,omitempty"`
}

func main() {
	table := flag.String("table", "", "one-row-per-customer CSV")
	label := flag.String("label", "", "label column")
	id := flag.String("id", "", "customer id column")
	k := flag.Int("cv", 5, "folds")
	trees := flag.Int("trees", 100, "golearn random forest: trees")
	rfFeatures := flag.Int("rf-features", 0, "golearn random forest: features per tree (0: round(sqrt(features)))")
	knnK := flag.Int("knn", 25, "golearn KNN: neighbours")
	models := flag.String("models", "rf,id3,logreg,knn", "golearn models to run")
	seed := flag.Int64("seed", 1, "seed for golearn's global math/rand (its bagging draws from goroutines, so runs still differ)")
	asJSON := flag.Bool("json", false, "print one JSON object per model on stdout")
	showRetain := flag.Bool("retain", true, "print retain's own figures (its cross-validation runs either way: it draws the folds)")
	flag.Parse()
	base.SetLoggerOut(io.Discard) // liblinear's iteration log would go to stdout
	if *table == "" || *label == "" {
		fmt.Fprintln(os.Stderr, "usage: golearn-baseline -table FILE.csv -label COL [-id COL] [-json]")
		os.Exit(2)
	}
	if err := run(context.Background(), *table, *label, *id, *k, *trees, *rfFeatures, *knnK, *models, *seed, *asJSON, *showRetain); err != nil {
		fmt.Fprintln(os.Stderr, "golearn-baseline:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, path, label, id string, k, trees, rfFeatures, knnK int, models string, seed int64, asJSON, showRetain bool) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening the table: %w", err)
	}
	defer fh.Close()
	t, err := churn.ReadTable(fh, path, label, id)
	if err != nil {
		return err
	}
	cfg := churn.Config{}.WithDefaults()
	c0 := cpuSeconds()
	res, err := churn.CrossValidate(ctx, &t.Dataset, cfg, churn.CVOptions{Folds: k})
	if err != nil {
		return fmt.Errorf("retain %s cross-validation: %w", cfg.Kind, err)
	}
	out := []result{{Model: "retain_" + cfg.Kind, Score: "calibrated probability", CPUSec: cpuSeconds() - c0}}
	for _, f := range res.Folds {
		out[0].FoldAUCs = append(out[0].FoldAUCs, f.AUC)
	}
	out[0].AUC = res.Mean.AUC
	if showRetain {
		emit(out[0], asJSON)
	}
	// golearn's liblinear bridge hands C memory holding Go pointers, which
	// the default cgo pointer check rejects; name runs that turned it off.
	lrName := "golearn_logreg_l2"
	if strings.Contains(os.Getenv("GODEBUG"), "cgocheck=0") {
		lrName += "_cgocheck0"
	}

	if rfFeatures <= 0 {
		rfFeatures = max(1, int(math.Round(math.Sqrt(float64(len(t.Names))))))
	}
	type fitter struct {
		name, score string
		fit         func(tr, te *fold) ([]float64, error)
	}
	all := map[string][]fitter{
		"rf": {
			{fmt.Sprintf("golearn_rf_%dx%d_votes", trees, rfFeatures), "share of tree votes for churn",
				func(tr, te *fold) ([]float64, error) { return forest(tr, te, t, trees, rfFeatures, true) }},
			{fmt.Sprintf("golearn_rf_%dx%d_label", trees, rfFeatures), "RandomForest.Predict majority label (0/1)",
				func(tr, te *fold) ([]float64, error) { return forest(tr, te, t, trees, rfFeatures, false) }},
		},
		"id3":    {{"golearn_id3", "ID3 tree label (0/1), prune 0.6 as in golearn's README", func(tr, te *fold) ([]float64, error) { return id3(tr, te, t) }}},
		"logreg": {{lrName, "liblinear label (0/1); features min-max scaled", func(tr, te *fold) ([]float64, error) { return logreg(tr, te, t) }}},
		"knn": {{fmt.Sprintf("golearn_knn_%d", knnK), "KNN majority label (0/1); features standardised",
			func(tr, te *fold) ([]float64, error) { return knnFit(tr, te, t, knnK) }}},
	}
	for _, m := range strings.Split(models, ",") {
		fs, ok := all[strings.TrimSpace(m)]
		if !ok {
			return fmt.Errorf("-models: unknown %q (rf, id3, logreg, knn)", m)
		}
		for _, f := range fs {
			r := result{Model: f.name, Score: f.score}
			c0 := cpuSeconds()
			for fi := 0; fi < k; fi++ {
				rand.Seed(seed + int64(fi)) //nolint:staticcheck // golearn draws from the global source
				tr, te := split(res.Fold, fi)
				p, err := f.fit(tr, te)
				if err != nil {
					r.Err = fmt.Sprintf("fold %d: %v", fi+1, err)
					break
				}
				r.FoldAUCs = append(r.FoldAUCs, eval.AUC(te.y(t), p))
			}
			r.CPUSec = cpuSeconds() - c0
			if r.Err == "" {
				r.AUC = mean(r.FoldAUCs)
			} else {
				r.AUC = math.NaN()
			}
			emit(r, asJSON)
		}
	}
	return nil
}

// fold is a set of row indices of the table.
type fold struct{ rows []int }

func (f *fold) y(t *churn.Table) []float64 {
	y := make([]float64, len(f.rows))
	for i, r := range f.rows {
		y[i] = t.Y[r]
	}
	return y
}

func split(folds []int, f int) (tr, te *fold) {
	tr, te = &fold{}, &fold{}
	for i, g := range folds {
		if g == f {
			te.rows = append(te.rows, i)
		} else {
			tr.rows = append(tr.rows, i)
		}
	}
	return tr, te
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func emit(r result, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
		return
	}
	var fs []string
	for _, a := range r.FoldAUCs {
		fs = append(fs, fmt.Sprintf("%.4f", a))
	}
	line := fmt.Sprintf("%-26s AUC %.4f  folds [%s]  %.1f CPU-s  (%s)", r.Model, r.AUC, strings.Join(fs, " "), r.CPUSec, r.Score)
	if r.Err != "" {
		line += "  FAILED: " + r.Err
	}
	fmt.Println(line)
}

// cpuSeconds is the user+system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
