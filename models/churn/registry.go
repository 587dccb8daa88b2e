package churn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Registry is the folder of model artifacts, <data_dir>/models/: one
// <id>.json per trained model and champion.json pointing at the model that
// scoring uses.
type Registry struct{ Dir string }

// Champion is the content of champion.json.
type Champion struct {
	ID         string  `json:"id"`
	File       string  `json:"file"` // relative to the registry folder
	PromotedAt string  `json:"promoted_at"`
	AsOf       string  `json:"as_of,omitempty"`
	AUC        float64 `json:"backtest_auc"`
	Reason     string  `json:"reason"`
}

// Path is the file of artifact id.
func (r Registry) Path(id string) string { return filepath.Join(r.Dir, id+".json") }

// Save writes the artifact into the registry (it does not promote it).
func (r Registry) Save(a *Artifact) (string, error) {
	p := r.Path(a.ID)
	return p, a.Save(p)
}

// Champion returns the current champion pointer, or nil when there is none.
func (r Registry) Champion() (*Champion, error) {
	b, err := os.ReadFile(filepath.Join(r.Dir, "champion.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the champion pointer: %w", err)
	}
	var c Champion
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, &ArtifactError{Path: filepath.Join(r.Dir, "champion.json"), Err: err}
	}
	return &c, nil
}

// LoadChampion loads the champion's artifact and model.
func (r Registry) LoadChampion() (*Artifact, Model, error) {
	c, err := r.Champion()
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, &ArtifactError{Path: filepath.Join(r.Dir, "champion.json"), Err: errors.New("no champion model yet: run `retain train` first")}
	}
	a, err := LoadArtifact(filepath.Join(r.Dir, c.File))
	if err != nil {
		return nil, nil, err
	}
	m, err := a.DecodeModel()
	if err != nil {
		return nil, nil, err
	}
	return a, m, nil
}

// Decision is the outcome of a champion/challenger comparison.
type Decision struct {
	Promote      bool    `json:"promote"`
	Reason       string  `json:"reason"`
	Challenger   float64 `json:"challenger_auc"` // 0 when undefined
	ChampionAUC  float64 `json:"champion_auc,omitempty"`
	ChampionID   string  `json:"champion_id,omitempty"`
	Margin       float64 `json:"margin"`
	HadChampion  bool    `json:"had_champion"`
	SameBacktest bool    `json:"same_backtest"`
}

// Decide applies the rule: the challenger replaces the champion unless its
// AUC on the same backtest is lower than the champion's by more than
// margin. championAUC is NaN when the champion could not be evaluated on
// that backtest (none yet, or its feature schema no longer matches), in
// which case the challenger wins.
func Decide(challengerAUC, championAUC, margin float64, championID string) Decision {
	d := Decision{Challenger: challengerAUC, ChampionAUC: championAUC, ChampionID: championID, Margin: margin, HadChampion: championID != ""}
	if championAUC != championAUC {
		d.ChampionAUC = 0 // JSON has no NaN; omitted
	}
	if challengerAUC != challengerAUC {
		d.Challenger = 0
	}
	switch {
	case challengerAUC != challengerAUC:
		d.Promote, d.Reason = championID == "", "the challenger's backtest AUC is undefined (one class in the backtest)"
	case championID == "":
		d.Promote, d.Reason = true, "no champion yet"
	case championAUC != championAUC: // NaN
		d.Promote, d.Reason = true, fmt.Sprintf("champion %s cannot be evaluated on these features (schema changed)", championID)
	case challengerAUC >= championAUC-margin:
		d.Promote, d.SameBacktest = true, true
		d.Reason = fmt.Sprintf("backtest AUC %.4f vs champion %.4f: within the margin %.4f", challengerAUC, championAUC, margin)
	default:
		d.SameBacktest = true
		d.Reason = fmt.Sprintf("backtest AUC %.4f is worse than champion %s's %.4f by more than the margin %.4f; champion kept", challengerAUC, championID, championAUC, margin)
	}
	return d
}

// Promote points champion.json at artifact a (atomically).
func (r Registry) Promote(a *Artifact, auc float64, reason string, now time.Time) error {
	c := Champion{ID: a.ID, File: a.ID + ".json", PromotedAt: now.UTC().Format(time.RFC3339), AsOf: a.AsOf, AUC: auc, Reason: reason}
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(r.Dir, "champion.json"), append(b, '\n'))
}
