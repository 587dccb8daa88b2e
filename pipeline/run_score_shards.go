package pipeline

import (
	"bufio"
	"context"
	"encoding/gob"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/models/churn"
	"github.com/retainlab/retain/stores"
)

// The files of the sharded score stage.
const (
	scorePrepRows    = "rows.gob"    // prep: the risk list without reasons, in features order
	scorePrepExplain = "explain.gob" // prep: which rows get reasons, model id, as-of
	scorePrepModel   = "model.json"  // prep: the champion artifact used
	scorePartReasons = "reasons.gob" // part: the reasons of the shard's rows
)

// scorePrep is what every score shard reads.
type scorePrep struct {
	AsOf      time.Time
	ModelID   string
	Customers int
	Explain   []int32 // rows (features order) in the tiers that get reasons
}

// scorePrepRowsFile is what the merge reads.
type scorePrepRowsFile struct {
	Rows []stores.RiskRow
}

// scorePart is one shard's output: the reasons of its rows.
type scorePart struct {
	Rows    []int32
	Reasons [][]stores.Reason
}

// scoreShared caches, within one process and plan, what every shard of a
// local run reads (the aligned features and the model), so shards running
// side by side read them once.
type scoreShared struct {
	mu      sync.Mutex
	key     string
	prep    *scorePrep
	aligned *features.Frame
	art     *churn.Artifact
	model   churn.Model
}

func (s *scoreShared) drop() {
	s.mu.Lock()
	s.key, s.prep, s.aligned, s.art, s.model = "", nil, nil, nil, nil
	s.mu.Unlock()
}

func writeGob(path string, v any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := gob.NewEncoder(w).Encode(v); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

func readGob(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := gob.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// runFeatures reads the features file the run's features stage wrote.
func runFeatures(cfg *Config, rc *RunContext) (*features.Frame, string, error) {
	ff := filepath.Join(rc.StageDir(StageFeatures), features.FileName([]time.Time{rc.AsOf}))
	f, err := features.ReadFile(ff)
	if err != nil {
		return nil, ff, fmt.Errorf("score: %w", err)
	}
	if f.Horizon != cfg.Churn.HorizonDuration() {
		return nil, ff, fmt.Errorf("score: %s has churn horizon %s, the config %s", ff, f.Horizon, cfg.Churn.HorizonDuration())
	}
	return f, ff, nil
}

// scorePrepare scores every customer but the reasons (see scoreStage).
func scorePrepare(ctx context.Context, cfg *Config, rc *RunContext, out string) (int, error) {
	frame, ff, err := runFeatures(cfg, rc)
	if err != nil {
		return 0, err
	}
	// Other commands look for the features under <data_dir>/features.
	if err := shareFeatures(cfg, ff); err != nil {
		return 0, err
	}
	reg := ModelRegistry(cfg)
	c, err := reg.Champion()
	if err != nil {
		return 0, fmt.Errorf("score: %w", err)
	}
	art, model, err := reg.LoadChampion()
	if err != nil {
		return 0, fmt.Errorf("score: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(reg.Dir, c.File))
	if err != nil {
		return 0, fmt.Errorf("score: copying the champion: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, scorePrepModel), b, 0o644); err != nil {
		return 0, fmt.Errorf("score: copying the champion: %w", err)
	}
	now := time.Now
	if rc.Now != nil {
		now = rc.Now
	}
	asOf := rc.AsOf.UTC().Truncate(24 * time.Hour)
	rows, err := ScoreFrame(ctx, frame, art, model, cfg.Scoring, &cfg.Policy, ScoreMeta{AsOf: asOf,
		ScoredAt: now().UTC().Truncate(time.Microsecond), RunID: rc.RunID, NoReasons: true})
	if err != nil {
		return 0, err
	}
	idx := toExplain(rows, cfg.Scoring.withDefaults())
	p := scorePrep{AsOf: asOf, ModelID: art.ID, Customers: len(rows), Explain: make([]int32, len(idx))}
	for k, i := range idx {
		p.Explain[k] = int32(i)
	}
	if err := writeGob(filepath.Join(out, scorePrepRows), scorePrepRowsFile{Rows: rows}); err != nil {
		return 0, err
	}
	return len(rows), writeGob(filepath.Join(out, scorePrepExplain), &p)
}

// load reads (or reuses) what the shards of this run's prep share.
func (s *scoreShared) load(cfg *Config, rc *RunContext) (*scoreShared, error) {
	dir := rc.PrepDir(StageScore)
	m, err := ReadManifest(dir)
	if err != nil || m == nil {
		return nil, fmt.Errorf("score: no prepared scoring at %s: %v", dir, err)
	}
	key := rc.RunID + "\x00" + m.Digest()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == key {
		return s, nil
	}
	var p scorePrep
	if err := readGob(filepath.Join(dir, scorePrepExplain), &p); err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	art, err := churn.LoadArtifact(filepath.Join(dir, scorePrepModel))
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	if art.ID != p.ModelID {
		return nil, fmt.Errorf("score: the prepared model is %s, the prep says %s", art.ID, p.ModelID)
	}
	model, err := art.DecodeModel()
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	frame, _, err := runFeatures(cfg, rc)
	if err != nil {
		return nil, err
	}
	_, aligned, err := scoringFrames(frame, art, p.AsOf)
	if err != nil {
		return nil, err
	}
	if aligned.Rows() != p.Customers {
		return nil, fmt.Errorf("score: the features hold %d customers at %s, the prep scored %d", aligned.Rows(), p.AsOf.Format(time.DateOnly), p.Customers)
	}
	s.key, s.prep, s.aligned, s.art, s.model = key, &p, aligned, art, model
	return s, nil
}

// scoreShard explains the customers of one shard (datasets.ShardOf, as the
// snapshot shards them) that are in the tiers with reasons.
func scoreShard(ctx context.Context, cfg *Config, rc *RunContext, cache *scoreShared, shard int, out string) (int, error) {
	sh, err := cache.load(cfg, rc)
	if err != nil {
		return 0, err
	}
	sh.mu.Lock()
	p, aligned, art, model := sh.prep, sh.aligned, sh.art, sh.model
	sh.mu.Unlock()
	customers := 0
	for _, id := range aligned.IDs {
		if datasets.ShardOf(id, rc.Shards) == shard {
			customers++
		}
	}
	var idx []int
	for _, i := range p.Explain {
		if datasets.ShardOf(aligned.IDs[i], rc.Shards) == shard {
			idx = append(idx, int(i))
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	sc := cfg.Scoring.withDefaults()
	part := scorePart{Rows: make([]int32, len(idx)), Reasons: explainAt(aligned, model, art.Schema, idx, sc.Reasons, 0)}
	for k, i := range idx {
		part.Rows[k] = int32(i)
	}
	return customers, writeGob(filepath.Join(out, scorePartReasons), &part)
}

// scoreMerge puts the shards' reasons into the prepared rows and writes
// scores.parquet.
func scoreMerge(ctx context.Context, rc *RunContext, parts []string, out string) (*ScoreSummary, error) {
	dir := rc.PrepDir(StageScore)
	var p scorePrep
	if err := readGob(filepath.Join(dir, scorePrepExplain), &p); err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	var rf scorePrepRowsFile
	if err := readGob(filepath.Join(dir, scorePrepRows), &rf); err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	rows := rf.Rows
	explained := 0
	for _, part := range parts {
		var sp scorePart
		if err := readGob(filepath.Join(part, scorePartReasons), &sp); err != nil {
			return nil, fmt.Errorf("score: %w", err)
		}
		if len(sp.Rows) != len(sp.Reasons) {
			return nil, fmt.Errorf("score: %s: %d rows, %d reasons", part, len(sp.Rows), len(sp.Reasons))
		}
		for k, i := range sp.Rows {
			if int(i) >= len(rows) {
				return nil, fmt.Errorf("score: %s: row %d of %d", part, i, len(rows))
			}
			rows[i].Reasons = sp.Reasons[k]
		}
		explained += len(sp.Rows)
	}
	if explained != len(p.Explain) {
		return nil, fmt.Errorf("score: the shards explained %d rows, the prep asked for %d", explained, len(p.Explain))
	}
	path := filepath.Join(out, "scores.parquet")
	s := summarizeScores(path, rc.RunID, p.AsOf, p.ModelID, rows)
	if err := stores.WriteRiskParquet(ctx, path, rows, scoresMeta(s)); err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	s.Rows = nil
	return s, nil
}
