package pipeline

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/gob"
	"encoding/hex"
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
	scorePrepRows    = "rows.gob"    // prep: the risk list without reasons, column by column, in features order
	scorePrepExplain = "explain.gob" // prep: which rows get reasons, model id, as-of
	scorePrepModel   = "model.json"  // prep: the champion artifact used
	scorePartReasons = "reasons.gob" // part: the reasons (JSON) and row hashes of the shard's explained rows
)

// scorePrep is what every score shard reads.
type scorePrep struct {
	AsOf      time.Time
	ModelID   string
	Customers int
	Explain   []int32 // rows (features order) in the tiers that get reasons
	// Nonce tells this prep from an earlier one of the same run, so a
	// process reuses what its own prepare left in memory only for it.
	Nonce string
}

// scorePart is one shard's output: its explained rows' reasons, as the JSON
// list scores.parquet stores, and their row hashes.
type scorePart struct {
	Rows    []int32
	Reasons []string
	Hashes  []string
}

// scoreShared caches, within one process and plan, what every shard of a
// local run reads (the aligned features, the model and the prepared
// columns), so shards running side by side read them once; the prepare of
// the same process fills it, so a local run reads the features file once.
type scoreShared struct {
	mu      sync.Mutex
	key     string
	prep    *scorePrep
	aligned *features.Frame
	art     *churn.Artifact
	model   churn.Model
	cols    *scoreCols
}

func (s *scoreShared) drop() {
	s.mu.Lock()
	s.key, s.prep, s.aligned, s.art, s.model, s.cols = "", nil, nil, nil, nil, nil
	s.mu.Unlock()
}

// take returns the cached columns of prep key and forgets the rest: the
// merge needs nothing else.
func (s *scoreShared) take(key string) *scoreCols {
	s.mu.Lock()
	defer s.mu.Unlock()
	var c *scoreCols
	if s.key == key {
		c = s.cols
	}
	s.key, s.prep, s.aligned, s.art, s.model, s.cols = "", nil, nil, nil, nil, nil
	return c
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

// scorePrepare scores every customer but the reasons (see scoreStage) and
// leaves what the shards and the merge of this process need in sh.
func scorePrepare(ctx context.Context, cfg *Config, rc *RunContext, sh *scoreShared, out string) (int, error) {
	sh.drop()
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
	if c == nil {
		return 0, fmt.Errorf("score: no champion model: train one first")
	}
	b, err := os.ReadFile(filepath.Join(reg.Dir, c.File))
	if err != nil {
		return 0, fmt.Errorf("score: copying the champion: %w", err)
	}
	modelFile := filepath.Join(out, scorePrepModel)
	if err := os.WriteFile(modelFile, b, 0o644); err != nil {
		return 0, fmt.Errorf("score: copying the champion: %w", err)
	}
	// Score with the copy, as the shards will.
	art, model, err := loadPrepModel(modelFile)
	if err != nil {
		return 0, err
	}
	now := time.Now
	if rc.Now != nil {
		now = rc.Now
	}
	asOf := rc.AsOf.UTC().Truncate(24 * time.Hour)
	meta := ScoreMeta{AsOf: asOf, ScoredAt: now().UTC().Truncate(time.Microsecond), RunID: rc.RunID, NoReasons: true}
	cols, aligned, err := scoreColumns(ctx, frame, art, model, cfg.Scoring, &cfg.Policy, meta)
	if err != nil {
		return 0, err
	}
	frame = nil
	idx := cols.toExplain(cfg.Scoring.withDefaults(), &cfg.Policy)
	var nonce [16]byte
	rand.Read(nonce[:])
	p := scorePrep{AsOf: asOf, ModelID: art.ID, Customers: len(cols.IDs), Explain: make([]int32, len(idx)), Nonce: hex.EncodeToString(nonce[:])}
	for k, i := range idx {
		p.Explain[k] = int32(i)
	}
	idx = nil
	n := len(cols.IDs)
	if err := writeGob(filepath.Join(out, scorePrepRows), cols); err != nil {
		return 0, err
	}
	if err := writeGob(filepath.Join(out, scorePrepExplain), &p); err != nil {
		return 0, err
	}
	sh.mu.Lock()
	sh.key, sh.prep, sh.aligned, sh.art, sh.model, sh.cols = prepKey(rc, &p), &p, aligned, art, model, cols
	sh.mu.Unlock()
	return n, nil
}

func prepKey(rc *RunContext, p *scorePrep) string { return rc.RunID + "\x00" + p.Nonce }

func loadPrepModel(path string) (*churn.Artifact, churn.Model, error) {
	art, err := churn.LoadArtifact(path)
	if err != nil {
		return nil, nil, fmt.Errorf("score: %w", err)
	}
	model, err := art.DecodeModel()
	if err != nil {
		return nil, nil, fmt.Errorf("score: %w", err)
	}
	return art, model, nil
}

// load reads (or reuses) what the shards of this run's prep share.
func (s *scoreShared) load(cfg *Config, rc *RunContext) (*scoreShared, error) {
	dir := rc.PrepDir(StageScore)
	var p scorePrep
	if err := readGob(filepath.Join(dir, scorePrepExplain), &p); err != nil {
		return nil, fmt.Errorf("score: no prepared scoring at %s: %w", dir, err)
	}
	key := prepKey(rc, &p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == key {
		return s, nil
	}
	art, model, err := loadPrepModel(filepath.Join(dir, scorePrepModel))
	if err != nil {
		return nil, err
	}
	if art.ID != p.ModelID {
		return nil, fmt.Errorf("score: the prepared model is %s, the prep says %s", art.ID, p.ModelID)
	}
	cols := new(scoreCols)
	if err := readGob(filepath.Join(dir, scorePrepRows), cols); err != nil {
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
	if aligned.Rows() != p.Customers || len(cols.IDs) != p.Customers {
		return nil, fmt.Errorf("score: the features hold %d customers at %s, the prep scored %d (%d rows)", aligned.Rows(), p.AsOf.Format(time.DateOnly), p.Customers, len(cols.IDs))
	}
	s.key, s.prep, s.aligned, s.art, s.model, s.cols = key, &p, aligned, art, model, cols
	return s, nil
}

// scoreShard explains the customers of one shard (datasets.ShardOf, as the
// snapshot shards them) that are in the tiers with reasons, and hashes
// their rows (the hash covers the reasons).
func scoreShard(ctx context.Context, cfg *Config, rc *RunContext, cache *scoreShared, shard int, out string) (int, error) {
	sh, err := cache.load(cfg, rc)
	if err != nil {
		return 0, err
	}
	sh.mu.Lock()
	p, aligned, art, model, cols := sh.prep, sh.aligned, sh.art, sh.model, sh.cols
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
	part := scorePart{Rows: make([]int32, len(idx)), Reasons: make([]string, len(idx)), Hashes: make([]string, len(idx))}
	reasons := explainAt(aligned, model, art.Schema, idx, sc.Reasons, 0)
	parallelChunks(len(idx), 0, func(lo, hi int) {
		var r stores.RiskRow
		for k := lo; k < hi; k++ {
			i := idx[k]
			cols.row(i, &r)
			r.Reasons = reasons[k]
			part.Rows[k] = int32(i)
			part.Reasons[k] = r.ReasonsJSON()
			part.Hashes[k] = r.Hash()
			reasons[k] = nil
		}
	})
	return customers, writeGob(filepath.Join(out, scorePartReasons), &part)
}

// scoreMerge puts the shards' reasons into the prepared columns and writes
// scores.parquet row group by row group, without building the rows.
func scoreMerge(ctx context.Context, rc *RunContext, cache *scoreShared, parts []string, out string) (*ScoreSummary, error) {
	dir := rc.PrepDir(StageScore)
	var p scorePrep
	if err := readGob(filepath.Join(dir, scorePrepExplain), &p); err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	cols := cache.take(prepKey(rc, &p))
	if cols == nil {
		cols = new(scoreCols)
		if err := readGob(filepath.Join(dir, scorePrepRows), cols); err != nil {
			return nil, fmt.Errorf("score: %w", err)
		}
	}
	n := len(cols.IDs)
	if n != p.Customers {
		return nil, fmt.Errorf("score: the prepared columns hold %d rows, the prep scored %d", n, p.Customers)
	}
	reasons, hashes := make([]string, n), make([]string, n)
	explained := 0
	for _, part := range parts {
		var sp scorePart
		if err := readGob(filepath.Join(part, scorePartReasons), &sp); err != nil {
			return nil, fmt.Errorf("score: %w", err)
		}
		if len(sp.Rows) != len(sp.Reasons) || len(sp.Rows) != len(sp.Hashes) {
			return nil, fmt.Errorf("score: %s: %d rows, %d reasons, %d hashes", part, len(sp.Rows), len(sp.Reasons), len(sp.Hashes))
		}
		for k, i := range sp.Rows {
			if int(i) >= n || i < 0 {
				return nil, fmt.Errorf("score: %s: row %d of %d", part, i, n)
			}
			reasons[i], hashes[i] = sp.Reasons[k], sp.Hashes[k]
		}
		explained += len(sp.Rows)
	}
	if explained != len(p.Explain) {
		return nil, fmt.Errorf("score: the shards explained %d rows, the prep asked for %d", explained, len(p.Explain))
	}
	// Rows without reasons: the hash of the row with an empty list.
	parallelChunks(n, 0, func(lo, hi int) {
		var r stores.RiskRow
		for i := lo; i < hi; i++ {
			if hashes[i] == "" {
				cols.row(i, &r)
				reasons[i], hashes[i] = "[]", r.Hash()
			}
		}
	})
	path := filepath.Join(out, "scores.parquet")
	s := cols.summarize(path, rc.RunID, p.AsOf, p.ModelID)
	if err := cols.writeParquet(ctx, path, reasons, hashes, scoresMeta(s)); err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	return s, nil
}
