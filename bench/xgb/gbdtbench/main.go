// Command gbdtbench is the Go side of the GBDT side-by-side benchmark
// (bench/cases/gbdt.sh): it writes a seeded synthetic churn-like data set as
// raw little-endian float64 files that bench/xgb/gbdt_compare.py reads with
// numpy, then fits retain's GBDT on it with the same settings the Python
// script gives XGBoost, and prints training time, test AUC, scoring and
// TreeSHAP throughput as one JSON line.
package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/retainlab/retain/models/churn"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "training rows (the test set has rows/4)")
	features := flag.Int("features", 50, "features")
	seed := flag.Uint64("seed", 1, "data seed")
	out := flag.String("out", "bench/out", "folder for the data files")
	trees := flag.Int("trees", 300, "trees")
	depth := flag.Int("depth", 6, "max depth")
	lr := flag.Float64("lr", 0.1, "learning rate")
	threads := flag.Int("threads", 2, "threads")
	shapRows := flag.Int("shap-rows", 20000, "rows explained for the SHAP throughput")
	genOnly := flag.Bool("gen-only", false, "only write the data files")
	exact := flag.Bool("exact", false, "exact gradients (no 8-bit quantisation)")
	flag.Parse()
	runtime.GOMAXPROCS(*threads)
	if err := run(*rows, *features, *seed, *out, *trees, *depth, *lr, *threads, *shapRows, *genOnly, *exact); err != nil {
		fmt.Fprintln(os.Stderr, "gbdtbench:", err)
		os.Exit(1)
	}
}

func run(rows, features int, seed uint64, out string, trees, depth int, lr float64, threads, shapRows int, genOnly, exact bool) error {
	ntest := rows / 4
	all := churn.SyntheticChurn(rows+ntest, features, seed)
	train, test := split(all, rows)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	meta := map[string]any{"rows": rows, "test_rows": ntest, "features": features, "seed": seed}
	var cats []int
	for j, c := range all.Categorical {
		if c {
			cats = append(cats, j)
		}
	}
	meta["categorical"] = cats
	for name, ds := range map[string]*churn.Dataset{"train": train, "test": test} {
		if err := writeRowMajor(filepath.Join(out, "gbdt_"+name+"_X.f64"), ds.X); err != nil {
			return err
		}
		if err := writeFloats(filepath.Join(out, "gbdt_"+name+"_y.f64"), ds.Y); err != nil {
			return err
		}
	}
	mb, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(out, "gbdt_meta.json"), mb, 0o644); err != nil {
		return err
	}
	if genOnly {
		return nil
	}
	cfg := churn.GBDTConfig{
		Trees: trees, MaxDepth: depth, LearningRate: lr, MaxBins: 255,
		Subsample: 1, ColSample: 1, Lambda: 1, MinChildWeight: 1,
		EarlyStoppingRounds: -1, Threads: threads, ExactGradients: exact,
	}
	t0, c0 := time.Now(), cpuSeconds()
	m, err := churn.FitGBDT(context.Background(), train, cfg)
	if err != nil {
		return err
	}
	fit, fitCPU := time.Since(t0).Seconds(), cpuSeconds()-c0
	p := make([]float64, ntest)
	t0 = time.Now()
	reps := 0
	for time.Since(t0) < 2*time.Second || reps < 1 {
		m.PredictProba(test.X, p)
		reps++
	}
	scoreRate := float64(reps*ntest) / time.Since(t0).Seconds()
	auc := auc(test.Y, p)
	shapRows = min(shapRows, ntest)
	idx := make([]int, shapRows)
	for i := range idx {
		idx[i] = i
	}
	phi := make([]float64, shapRows*features)
	t0 = time.Now()
	m.Explain(test.X, 0, phi[:features]) // builds the model's TreeSHAP tables once
	shapBuild := time.Since(t0).Seconds()
	t0 = time.Now()
	m.ExplainRows(test.X, idx, phi)
	shapSec := time.Since(t0).Seconds()
	res := map[string]any{
		"tool": "retain-go", "exact_gradients": exact, "threads": threads, "rows": rows, "features": features, "trees": len(m.Trees),
		"fit_seconds": round(fit, 2), "fit_cpu_seconds": round(fitCPU, 2), "test_auc": round(auc, 4), "predict_rows_per_s": math.Round(scoreRate),
		"shap_rows": shapRows, "shap_seconds": round(shapSec, 2), "shap_tables_seconds": round(shapBuild, 2), "shap_seconds_per_100k": round(shapSec*100000/float64(shapRows), 1),
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}

// cpuSeconds is the process's user+system CPU time so far (all threads).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func round(x float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(x*p) / p
}

func split(ds *churn.Dataset, n int) (*churn.Dataset, *churn.Dataset) {
	a := &churn.Dataset{Names: ds.Names, Categorical: ds.Categorical, Y: ds.Y[:n]}
	b := &churn.Dataset{Names: ds.Names, Categorical: ds.Categorical, Y: ds.Y[n:]}
	for _, col := range ds.X {
		a.X = append(a.X, col[:n])
		b.X = append(b.X, col[n:])
	}
	return a, b
}

func writeRowMajor(path string, X [][]float64) error {
	n := len(X[0])
	F := len(X)
	buf := make([]byte, 0, n*F*8)
	for i := range n {
		for j := range F {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(X[j][i]))
		}
	}
	return os.WriteFile(path, buf, 0o644)
}

func writeFloats(path string, v []float64) error {
	buf := make([]byte, 0, len(v)*8)
	for _, x := range v {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
	}
	return os.WriteFile(path, buf, 0o644)
}

func auc(y, p []float64) float64 {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(p[a], p[b]) })
	var rankSum, npos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			j++
		}
		r := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if y[idx[k]] == 1 {
				rankSum += r
				npos++
			}
		}
		i = j
	}
	nneg := float64(len(y)) - npos
	return (rankSum - npos*(npos+1)/2) / (npos * nneg)
}
