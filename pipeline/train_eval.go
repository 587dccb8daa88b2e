package pipeline

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/retainlab/retain/models/churn"
	"github.com/retainlab/retain/models/eval"
)

// EvalData is what a model report needs from a training run: the held-out
// labels and probabilities (backtest or out-of-fold), the backtests over
// time, and a sample of per-customer contributions for importance and the
// SHAP summary. Train writes it beside the model artifact as
// <models>/<model id>.eval.json.
type EvalData struct {
	ModelID     string      `json:"model_id"`
	Model       string      `json:"model"`
	AsOf        string      `json:"as_of"`
	EvaluatedAt string      `json:"evaluated_at"`
	Y           []float64   `json:"y"`
	P           []float64   `json:"p"`
	Report      eval.Report `json:"report"`
	// Names, Contrib[j][i] and Value[j][i]: contributions to the log-odds of
	// a seeded sample of the evaluated customers.
	Names   []string    `json:"names"`
	Contrib [][]float64 `json:"contrib"`
	Value   [][]float64 `json:"value"`
	// Champion is the champion's backtest AUC this model was compared with
	// (NaN/absent when there was none).
	ChampionID  string   `json:"champion_id,omitempty"`
	ChampionAUC *float64 `json:"champion_auc,omitempty"`
}

// maxEvalRows caps the rows stored for the report's curves (a seeded sample
// beyond it); the headline metrics in Report are over every row.
const (
	maxEvalRows    = 50000
	maxExplainRows = 400
)

// newEvalData samples the evaluation rows and explains a few of them.
func newEvalData(m churn.Model, test *churn.Dataset, p []float64, names []string, seed uint64) *EvalData {
	n := len(p)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	idx := rng.Perm(n)
	keep := min(n, maxEvalRows)
	ed := &EvalData{Report: eval.Evaluate(test.Y, p), Names: names}
	for _, i := range idx[:keep] {
		ed.Y = append(ed.Y, test.Y[i])
		ed.P = append(ed.P, p[i])
	}
	ex := min(n, maxExplainRows)
	nf := len(test.X)
	ed.Contrib = make([][]float64, nf)
	ed.Value = make([][]float64, nf)
	buf := make([]float64, nf)
	for _, i := range idx[:ex] {
		m.Explain(test.X, i, buf)
		for j := 0; j < nf; j++ {
			ed.Contrib[j] = append(ed.Contrib[j], buf[j])
			ed.Value[j] = append(ed.Value[j], test.X[j][i])
		}
	}
	return ed
}

// EvalPath is where Train keeps a model's evaluation data.
func EvalPath(cfg *Config, modelID string) string {
	return filepath.Join(ModelsDir(cfg), modelID+".eval.json")
}

func writeEvalData(path string, ed *EvalData) error {
	// JSON has no NaN: missing feature values and undefined metrics are null.
	out := struct {
		*EvalData
		Contrib [][]*float64 `json:"contrib"`
		Value   [][]*float64 `json:"value"`
		Report  any          `json:"report"`
	}{EvalData: ed, Contrib: nullable(ed.Contrib), Value: nullable(ed.Value), Report: ed.Report}
	if math.IsNaN(ed.Report.AUC) || math.IsNaN(ed.Report.ECE) || math.IsNaN(ed.Report.LogLoss) {
		out.Report = eval.Report{N: ed.Report.N, Positives: ed.Report.Positives}
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("evaluation data: %w", err)
	}
	return WriteFileAtomic(path, raw)
}

func nullable(v [][]float64) [][]*float64 {
	out := make([][]*float64, len(v))
	for j := range v {
		out[j] = make([]*float64, len(v[j]))
		for i := range v[j] {
			if x := v[j][i]; !math.IsNaN(x) && !math.IsInf(x, 0) {
				out[j][i] = &v[j][i]
			}
		}
	}
	return out
}

// ReadEvalData reads a model's evaluation data (nulls back to NaN).
func ReadEvalData(path string) (*EvalData, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tmp struct {
		EvalData
		Contrib [][]*float64 `json:"contrib"`
		Value   [][]*float64 `json:"value"`
	}
	if err := json.Unmarshal(raw, &tmp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ed := tmp.EvalData
	ed.Contrib, ed.Value = denull(tmp.Contrib), denull(tmp.Value)
	return &ed, nil
}

func denull(v [][]*float64) [][]float64 {
	out := make([][]float64, len(v))
	for j := range v {
		out[j] = make([]float64, len(v[j]))
		for i, p := range v[j] {
			if p == nil {
				out[j][i] = math.NaN()
			} else {
				out[j][i] = *p
			}
		}
	}
	return out
}
