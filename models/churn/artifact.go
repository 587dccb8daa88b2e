package churn

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/retainlab/retain/models/clv"
	"github.com/retainlab/retain/models/eval"
)

// FormatVersion is the version of the model file format written by Save;
// Load refuses other versions.
const FormatVersion = 1

// Artifact is a saved model: a versioned JSON file holding the fitted model,
// its calibration, the feature schema it expects (and its hash), a
// fingerprint of the training data, the parameters and the metrics.
type Artifact struct {
	FormatVersion int    `json:"format_version"`
	ID            string `json:"id"` // <kind>-<as-of>-<12 hex of the content>
	Kind          string `json:"kind"`
	CreatedAt     string `json:"created_at"`
	// AsOf is the date the model is trained for; TrainCutoffs the cutoffs
	// whose labelled rows it was fitted on.
	AsOf         string   `json:"as_of,omitempty"`
	TrainCutoffs []string `json:"train_cutoffs,omitempty"`
	// Schema lists the expected features in order; SchemaHash hashes their
	// names, kinds and categories.
	Schema     []FeatureInfo `json:"schema"`
	SchemaHash string        `json:"schema_hash"`
	// DataFingerprint hashes the training matrix and labels.
	DataFingerprint string `json:"data_fingerprint"`
	Rows            int    `json:"rows"`
	Positives       int    `json:"positives"`
	Params          Config `json:"params"`
	// Metrics by name: "backtest" (evaluated at AsOf), "cv", "train".
	Metrics map[string]eval.Report `json:"metrics,omitempty"`
	// Model is the fitted model (see encodeModel for its shape).
	Model json.RawMessage `json:"model"`
	// CLVFeatures is the BG/NBD model behind the clv_p_alive and
	// clv_expected_purchases features, fitted on the training rows: scoring
	// derives those features with these parameters, so every customer (and
	// every shard) is scored against the same population fit. Nil when the
	// schema has no such features.
	CLVFeatures *clv.BGNBD `json:"clv_features,omitempty"`
}

// modelJSON is the serialised form of a Model: its kind and body, with the
// calibration and blend parts nested.
type modelJSON struct {
	Kind        string          `json:"kind"`
	Calibration *Calibration    `json:"calibration,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"` // logreg / gbdt
	Parts       []modelJSON     `json:"parts,omitempty"`
	Weights     []float64       `json:"weights,omitempty"` // blend
	Bias        float64         `json:"bias,omitempty"`    // blend
}

func encodeModel(m Model) (modelJSON, error) {
	switch t := m.(type) {
	case *Calibrated:
		inner, err := encodeModel(t.Base)
		if err != nil {
			return inner, err
		}
		if inner.Calibration != nil {
			return inner, errors.New("model: calibration nested twice")
		}
		inner.Calibration = t.Cal
		return inner, nil
	case *Blend:
		out := modelJSON{Kind: "blend", Weights: t.Weights, Bias: t.Bias}
		for _, p := range t.Parts {
			pj, err := encodeModel(p)
			if err != nil {
				return out, err
			}
			out.Parts = append(out.Parts, pj)
		}
		return out, nil
	}
	body, err := json.Marshal(m)
	if err != nil {
		return modelJSON{}, fmt.Errorf("model: encoding %s: %w", m.Kind(), err)
	}
	return modelJSON{Kind: m.Kind(), Body: body}, nil
}

func decodeModel(j modelJSON) (Model, error) {
	var m Model
	switch j.Kind {
	case "logreg":
		lr := &LogReg{}
		if err := json.Unmarshal(j.Body, lr); err != nil {
			return nil, fmt.Errorf("decoding logreg: %w", err)
		}
		m = lr
	case "blend":
		b := &Blend{Weights: j.Weights, Bias: j.Bias}
		for _, pj := range j.Parts {
			p, err := decodeModel(pj)
			if err != nil {
				return nil, err
			}
			b.Parts = append(b.Parts, p)
		}
		if len(b.Parts) == 0 || len(b.Parts) != len(b.Weights) {
			return nil, errors.New("decoding blend: parts and weights differ")
		}
		m = b
	default:
		var err error
		if m, err = decodeKind(j.Kind, j.Body); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", j.Kind, err)
		}
	}
	if j.Calibration != nil {
		m = &Calibrated{Base: m, Cal: j.Calibration}
	}
	return m, nil
}

// NewArtifact describes fitted model m trained on ds (whose features are
// described by schema, in ds order).
func NewArtifact(m Model, ds *Dataset, schema []FeatureInfo, cfg Config, asOf string, now time.Time) (*Artifact, error) {
	if len(schema) != len(m.Features()) {
		return nil, fmt.Errorf("artifact: schema has %d features, model %d", len(schema), len(m.Features()))
	}
	for j, n := range m.Features() {
		if schema[j].Name != n {
			return nil, fmt.Errorf("artifact: schema feature %d is %q, model's %q", j, schema[j].Name, n)
		}
	}
	mj, err := encodeModel(m)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(mj)
	if err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	a := &Artifact{
		FormatVersion: FormatVersion, Kind: mj.Kind, CreatedAt: now.UTC().Format(time.RFC3339),
		AsOf: asOf, Schema: schema, SchemaHash: SchemaHash(schema),
		DataFingerprint: Fingerprint(ds), Rows: ds.Rows(), Params: cfg, Model: body,
		Metrics: map[string]eval.Report{},
	}
	for _, y := range ds.Y {
		if y > 0.5 {
			a.Positives++
		}
	}
	if m.Kind() != mj.Kind {
		a.Kind = m.Kind()
	}
	sum := sha256.Sum256(append([]byte(a.SchemaHash+a.DataFingerprint), body...))
	day := strings.ReplaceAll(asOf, "-", "")
	if day == "" {
		day = now.UTC().Format("20060102")
	}
	a.ID = fmt.Sprintf("%s-%s-%s", a.Kind, day, hex.EncodeToString(sum[:6]))
	return a, nil
}

// SchemaHash hashes the ordered feature names, kinds and categories.
func SchemaHash(schema []FeatureInfo) string {
	h := sha256.New()
	for _, f := range schema {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x01", f.Name, f.Kind, strings.Join(f.Categories, "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Fingerprint hashes a dataset's values and labels (bit patterns, row
// order included), so two trainings on the same data share it.
func Fingerprint(ds *Dataset) string {
	h := sha256.New()
	var b [8]byte
	put := func(v float64) {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		h.Write(b[:])
	}
	for j, col := range ds.X {
		if j < len(ds.Names) {
			h.Write([]byte(ds.Names[j]))
		}
		for _, v := range col {
			put(v)
		}
	}
	for _, v := range ds.Y {
		put(v)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// DecodeModel decodes the artifact's fitted model.
func (a *Artifact) DecodeModel() (Model, error) {
	var mj modelJSON
	if err := json.Unmarshal(a.Model, &mj); err != nil {
		return nil, fmt.Errorf("model %s: %w", a.ID, err)
	}
	m, err := decodeModel(mj)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", a.ID, err)
	}
	return m, nil
}

// SchemaError reports that a model's expected features differ from the
// features at hand; it is bad input (exit status 2).
type SchemaError struct {
	Model            string
	Missing, Changed []string
	Want, Got        string // schema hashes
}

func (e *SchemaError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, "missing features: "+strings.Join(e.Missing, ", "))
	}
	if len(e.Changed) > 0 {
		parts = append(parts, "features whose kind or categories changed: "+strings.Join(e.Changed, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "feature order differs")
	}
	return fmt.Sprintf("model %s expects feature schema %s but the features have schema %s (%s); retrain with `retain train`",
		e.Model, e.Want, e.Got, strings.Join(parts, "; "))
}

// BadInput marks the error as bad input.
func (e *SchemaError) BadInput() bool { return true }

// CheckSchema verifies that have (the features at hand) matches the
// artifact's schema exactly.
func (a *Artifact) CheckSchema(have []FeatureInfo) error {
	got := SchemaHash(have)
	if got == a.SchemaHash {
		return nil
	}
	byName := map[string]FeatureInfo{}
	for _, f := range have {
		byName[f.Name] = f
	}
	e := &SchemaError{Model: a.ID, Want: a.SchemaHash, Got: got}
	for _, f := range a.Schema {
		h, ok := byName[f.Name]
		switch {
		case !ok:
			e.Missing = append(e.Missing, f.Name)
		case h.Kind != f.Kind || strings.Join(h.Categories, "\x00") != strings.Join(f.Categories, "\x00"):
			e.Changed = append(e.Changed, f.Name)
		}
	}
	return e
}

// ArtifactError is a problem reading a model file: bad input (exit 2).
type ArtifactError struct {
	Path string
	Err  error
}

func (e *ArtifactError) Error() string  { return fmt.Sprintf("model file %s: %v", e.Path, e.Err) }
func (e *ArtifactError) Unwrap() error  { return e.Err }
func (e *ArtifactError) BadInput() bool { return true }

// Save writes the artifact as indented JSON to path atomically (temporary
// name, fsync, rename).
func (a *Artifact) Save(path string) error {
	b, err := json.MarshalIndent(a, "", " ")
	if err != nil {
		return fmt.Errorf("encoding model %s: %w", a.ID, err)
	}
	return writeAtomic(path, append(b, '\n'))
}

// LoadArtifact reads and checks a model file.
func LoadArtifact(path string) (*Artifact, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &ArtifactError{Path: path, Err: err}
	}
	var a Artifact
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, &ArtifactError{Path: path, Err: err}
	}
	if a.FormatVersion != FormatVersion {
		return nil, &ArtifactError{Path: path, Err: fmt.Errorf("format version %d, this build reads %d", a.FormatVersion, FormatVersion)}
	}
	if SchemaHash(a.Schema) != a.SchemaHash {
		return nil, &ArtifactError{Path: path, Err: errors.New("schema hash does not match the listed schema (file edited or damaged)")}
	}
	// Saved parameters are the recipe after defaults, so they always say
	// whether the trees are oblivious; a file without the key predates the
	// option, when the trees were greedy. Refitting its recipe (the
	// champion's side of champion/challenger) must not pick up today's
	// default instead.
	if a.Params.GBDT.Oblivious == nil {
		a.Params.GBDT.Oblivious = ptr(false)
	}
	return &a, nil
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
