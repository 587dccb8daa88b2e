package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/features"
	"github.com/retainlab/retain/models/churn"
	"github.com/retainlab/retain/models/clv"
	"github.com/retainlab/retain/stores"
)

// ScoreConfig is the `scoring:` section: risk tiers, reasons and the CLV
// horizon of the risk list.
type ScoreConfig struct {
	// TiersBy is "probability" (default: cut-offs on the churn probability)
	// or "percentile" (cut-offs on the churn percentile, as shares 0..1).
	TiersBy string `yaml:"tiers_by,omitempty" json:"tiers_by,omitempty"`
	// High is the least probability (or percentile share) of the high tier
	// (default 0.66, or 0.9 by percentile).
	High float64 `yaml:"high,omitempty" json:"high,omitempty"`
	// Medium is the least of the medium tier (default 0.33, or 0.7 by percentile).
	Medium float64 `yaml:"medium,omitempty" json:"medium,omitempty"`
	// Reasons is how many reasons each customer gets (default 3).
	Reasons int `yaml:"reasons,omitempty" json:"reasons,omitempty"`
	// ReasonsFor lists the tiers that get reasons (default high and medium;
	// exact TreeSHAP costs the most of scoring).
	ReasonsFor []string `yaml:"reasons_for,omitempty" json:"reasons_for,omitempty"`
	// CLVMonths is the horizon of predicted_clv in months (default 12).
	CLVMonths int `yaml:"clv_months,omitempty" json:"clv_months,omitempty"`
	// DiscountRate is the monthly discount rate of predicted_clv (default 0.01).
	DiscountRate *float64 `yaml:"discount_rate,omitempty" json:"discount_rate,omitempty"`
}

// Validate checks the section; messages name the key.
func (c *ScoreConfig) Validate() error {
	switch c.TiersBy {
	case "", "probability", "percentile":
	default:
		return fmt.Errorf("scoring.tiers_by: %q is not probability or percentile", c.TiersBy)
	}
	if c.High < 0 || c.High > 1 || c.Medium < 0 || c.Medium > 1 || (c.High != 0 && c.Medium != 0 && c.Medium > c.High) {
		return fmt.Errorf("scoring.high/medium: %g/%g must be in [0, 1] with medium ≤ high", c.High, c.Medium)
	}
	if c.Reasons < 0 || c.Reasons > 20 {
		return fmt.Errorf("scoring.reasons: %d is not between 0 and 20", c.Reasons)
	}
	for _, t := range c.ReasonsFor {
		if !slices.Contains(stores.Tiers, t) {
			return fmt.Errorf("scoring.reasons_for: %q is not high, medium or low", t)
		}
	}
	if c.CLVMonths < 0 || c.CLVMonths > 120 {
		return fmt.Errorf("scoring.clv_months: %d is not between 1 and 120", c.CLVMonths)
	}
	if c.DiscountRate != nil && (*c.DiscountRate < 0 || *c.DiscountRate >= 1) {
		return fmt.Errorf("scoring.discount_rate: %g is not a monthly rate in [0, 1)", *c.DiscountRate)
	}
	return nil
}

// withDefaults fills the documented defaults.
func (c ScoreConfig) withDefaults() ScoreConfig {
	if c.TiersBy == "" {
		c.TiersBy = "probability"
	}
	if c.High == 0 {
		c.High = map[string]float64{"probability": 0.66, "percentile": 0.9}[c.TiersBy]
	}
	if c.Medium == 0 {
		c.Medium = map[string]float64{"probability": 0.33, "percentile": 0.7}[c.TiersBy]
	}
	if c.Reasons == 0 {
		c.Reasons = 3
	}
	if c.ReasonsFor == nil {
		c.ReasonsFor = []string{stores.TierHigh, stores.TierMedium}
	}
	if c.CLVMonths == 0 {
		c.CLVMonths = 12
	}
	if c.DiscountRate == nil {
		r := 0.01
		c.DiscountRate = &r
	}
	return c
}

// ScoreOptions control one scoring.
type ScoreOptions struct {
	// AsOf is the scoring date (default: the latest single-date features
	// file, else the end of the snapshot).
	AsOf time.Time
	// RunID names the run (default "score-<as-of>-<scored-at>").
	RunID string
	// Out is the scores file (default <data_dir>/runs/<run-id>/score/scores.parquet;
	// the run machinery passes its stage folder).
	Out string
	// Now is the clock (scored_at); default time.Now.
	Now func() time.Time
	// Workers explain rows in parallel (default GOMAXPROCS).
	Workers int
	// Progress receives one line per step.
	Progress func(format string, args ...any)
}

// ScoreSummary is what Score did (the `retain score --json` object).
type ScoreSummary struct {
	Path         string         `json:"path"`
	RunID        string         `json:"run_id"`
	AsOf         string         `json:"as_of"`
	ModelVersion string         `json:"model_version"`
	Customers    int            `json:"customers"`
	Tiers        map[string]int `json:"tiers"`
	Segments     map[string]int `json:"segments"`
	ValueAtRisk  float64        `json:"value_at_risk"` // sum over customers
	CLV          bool           `json:"clv"`           // false when the CLV models could not be fitted
	Seconds      float64        `json:"seconds"`
	// Rows is the risk list (not serialised), for callers that publish next.
	Rows []stores.RiskRow `json:"-"`
}

func (o *ScoreOptions) logf(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(format, args...)
	}
}

// latestAsOf finds the newest single-date features file, else the snapshot's end.
func latestAsOf(cfg *Config) (time.Time, error) {
	dir := filepath.Join(cfg.DataDir, "features")
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, fmt.Errorf("score: %w", err)
	}
	var best time.Time
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), "features-")
		if !ok {
			continue
		}
		if d, err := time.Parse(time.DateOnly, strings.TrimSuffix(name, ".parquet")); err == nil && d.After(best) {
			best = d
		}
	}
	if !best.IsZero() {
		return best, nil
	}
	snap, err := datasets.OpenSnapshot(datasets.SnapshotDir(cfg.DataDir))
	if err != nil {
		return time.Time{}, &ConfigError{File: cfg.Path(), Msg: "score: no features file and no snapshot: run `retain extract` and `retain features --as-of D` first (" + err.Error() + ")"}
	}
	for _, t := range snap.Manifest.Tables {
		if t.MaxTime != nil && t.MaxTime.After(best) {
			best = *t.MaxTime
		}
	}
	if best.IsZero() {
		return best, &ConfigError{File: cfg.Path(), Msg: "score: the snapshot has no dated rows; give --as-of"}
	}
	return best.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1), nil
}

// Score is the score stage: it applies the champion churn model and the CLV
// models (BG/NBD + Gamma-Gamma fitted on the scored customers) to the
// features at the as-of date and writes scores.parquet with DESIGN.md's risk
// list row for every customer.
func Score(ctx context.Context, cfg *Config, opts ScoreOptions) (*ScoreSummary, error) {
	start := time.Now()
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	scoredAt := now().UTC().Truncate(time.Microsecond)
	asOf := opts.AsOf
	if asOf.IsZero() {
		var err error
		if asOf, err = latestAsOf(cfg); err != nil {
			return nil, err
		}
	}
	asOf = asOf.UTC().Truncate(24 * time.Hour)
	runID := opts.RunID
	if runID == "" {
		runID = "score-" + asOf.Format(time.DateOnly) + "-" + scoredAt.Format("150405")
	}
	out := opts.Out
	if out == "" {
		out = filepath.Join(Artifacts{Root: cfg.DataDir}.StageDir(runID, "score"), "scores.parquet")
	}
	art, model, err := ModelRegistry(cfg).LoadChampion()
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	opts.logf("score: champion %s, as of %s", art.ID, asOf.Format(time.DateOnly))
	frame, err := loadFrame(ctx, cfg, []time.Time{asOf}, &TrainOptions{Progress: opts.Progress})
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	rows, err := ScoreFrame(ctx, frame, art, model, cfg.Scoring, &cfg.Policy, ScoreMeta{AsOf: asOf, ScoredAt: scoredAt, RunID: runID, Workers: opts.Workers, Logf: opts.logf})
	if err != nil {
		return nil, err
	}
	s := summarizeScores(out, runID, asOf, art.ID, rows)
	if err := stores.WriteRiskParquet(ctx, out, rows, scoresMeta(s)); err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	opts.logf("score: %d customers (%d high, %d medium, %d low) → %s", len(rows), s.Tiers["high"], s.Tiers["medium"], s.Tiers["low"], out)
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}

// summarizeScores counts a risk list's tiers, segments and value at risk.
func summarizeScores(out, runID string, asOf time.Time, model string, rows []stores.RiskRow) *ScoreSummary {
	s := &ScoreSummary{Path: out, RunID: runID, AsOf: asOf.Format(time.DateOnly), ModelVersion: model, Customers: len(rows),
		Tiers: map[string]int{}, Segments: map[string]int{}, Rows: rows}
	for i := range rows {
		s.Tiers[rows[i].RiskTier]++
		s.Segments[rows[i].Segment]++
		if !math.IsNaN(rows[i].PAlive) {
			s.CLV = true
		}
		if v := rows[i].ValueAtRisk; !math.IsNaN(v) {
			s.ValueAtRisk += v
		}
	}
	return s
}

// scoresMeta is the key-value metadata of scores.parquet.
func scoresMeta(s *ScoreSummary) map[string]string {
	return map[string]string{"retain.run_id": s.RunID, "retain.as_of": s.AsOf, "retain.model_version": s.ModelVersion}
}

// ScoreMeta is what every row of one scoring shares.
type ScoreMeta struct {
	AsOf, ScoredAt time.Time
	RunID          string
	Workers        int
	Logf           func(format string, args ...any)
	// NoReasons leaves Reasons empty (the sharded score stage explains the
	// rows per shard afterwards).
	NoReasons bool
}

func defToInfo(reg []churn.FeatureInfo) []features.Def {
	out := make([]features.Def, len(reg))
	for i, f := range reg {
		out[i] = features.Def{Name: f.Name, Meaning: f.Meaning, Window: f.Window, Source: f.Source, Kind: f.Kind, Categories: f.Categories}
	}
	return out
}

// ScoreFrame scores the frame's rows at meta.AsOf (rows of other cutoffs are
// ignored) with a fitted churn model and its artifact's schema, and returns
// the risk list. policy (may be nil) sets the control flag.
func ScoreFrame(ctx context.Context, frame *features.Frame, art *churn.Artifact, model churn.Model, sc ScoreConfig, policy *stores.Policy, meta ScoreMeta) ([]stores.RiskRow, error) {
	rows, _, err := scoreFrame(ctx, frame, art, model, sc, policy, meta)
	return rows, err
}

// scoreFrame is ScoreFrame that also returns the aligned features (the
// model's columns of the scored rows).
func scoreFrame(ctx context.Context, frame *features.Frame, art *churn.Artifact, model churn.Model, sc ScoreConfig, policy *stores.Policy, meta ScoreMeta) ([]stores.RiskRow, *features.Frame, error) {
	c, aligned, err := scoreColumns(ctx, frame, art, model, sc, policy, meta)
	if err != nil {
		return nil, nil, err
	}
	rows := make([]stores.RiskRow, len(c.IDs))
	for i := range rows {
		c.row(i, &rows[i])
	}
	if !meta.NoReasons {
		explainRows(aligned, model, art.Schema, rows, sc.withDefaults(), policy, meta.Workers)
	}
	return rows, aligned, nil
}

// scoreColumns is scoreFrame without the reasons, column by column: the
// risk list never exists as a million row structs.
func scoreColumns(ctx context.Context, frame *features.Frame, art *churn.Artifact, model churn.Model, sc ScoreConfig, policy *stores.Policy, meta ScoreMeta) (*scoreCols, *features.Frame, error) {
	logf := meta.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	sc = sc.withDefaults()
	frame, aligned, err := scoringFrames(frame, art, meta.AsOf)
	if err != nil {
		return nil, nil, err
	}
	n := aligned.Rows()
	c := newScoreCols(n, meta, art.ID)
	c.IDs = aligned.IDs
	predictRows(model, aligned.X, c.Prob)
	c.Pct = percentiles(c.Prob)
	for i := range n {
		v := c.Prob[i]
		if sc.TiersBy == "percentile" {
			v = c.Pct[i] / 100
		}
		switch {
		case v >= sc.High:
			c.Tier[i] = tierHigh
		case v >= sc.Medium:
			c.Tier[i] = tierMedium
		default:
			c.Tier[i] = tierLow
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := scoreCLV(ctx, frame, c, sc, logf); err != nil {
		logf("score: CLV models not applied (%v); p_alive, CLV and value at risk are null", err)
	}
	segmentRFM(frame, c)
	valueRiskGrid(c)
	if policy != nil {
		var r stores.RiskRow
		for i := range n {
			c.row(i, &r)
			c.Control[i] = policy.ControlFor(&r)
		}
	}
	return c, aligned, nil
}

// predictRows is model.PredictProba over blocks of rows on every core:
// each row's probability depends only on its own values, so the result is
// the same as one call over all rows.
func predictRows(model churn.Model, X [][]float64, dst []float64) {
	const block = 1 << 16
	n := len(dst)
	if n <= block {
		model.PredictProba(X, dst)
		return
	}
	next := make(chan int, (n+block-1)/block)
	for lo := 0; lo < n; lo += block {
		next <- lo
	}
	close(next)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			sub := make([][]float64, len(X))
			for lo := range next {
				hi := min(n, lo+block)
				for j := range X {
					sub[j] = X[j][lo:hi]
				}
				model.PredictProba(sub, dst[lo:hi])
			}
		})
	}
	wg.Wait()
}

// scoringFrames keeps the frame's rows at asOf and aligns them to the
// model's features (in the model's order).
func scoringFrames(frame *features.Frame, art *churn.Artifact, asOf time.Time) (sub, aligned *features.Frame, err error) {
	var idx []int
	for i, c := range frame.Cutoffs {
		if c.Equal(asOf) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, nil, fmt.Errorf("score: no customers at the as-of date %s in the features", asOf.Format(time.DateOnly))
	}
	if len(idx) != frame.Rows() {
		frame = subsetFrame(frame, idx)
	}
	aligned = withCLVFeatures(frame, art.CLVFeatures).Align(defToInfo(art.Schema))
	if err := art.CheckSchema(FeatureSchema(aligned)); err != nil {
		return nil, nil, fmt.Errorf("score: the features do not match model %s: %w", art.ID, err)
	}
	return frame, aligned, nil
}

func subsetFrame(f *features.Frame, idx []int) *features.Frame {
	out := *f
	out.IDs = make([]string, len(idx))
	out.Cutoffs = make([]time.Time, len(idx))
	out.Labels = make([]float64, len(idx))
	out.X = make([][]float64, len(f.X))
	for j := range f.X {
		col := make([]float64, len(idx))
		src := f.X[j]
		for k, i := range idx {
			col[k] = src[i]
		}
		out.X[j] = col
	}
	for k, i := range idx {
		out.IDs[k], out.Cutoffs[k] = f.IDs[i], f.Cutoffs[i]
		if f.Labels != nil {
			out.Labels[k] = f.Labels[i]
		}
	}
	return &out
}

// percentiles returns each value's percentile rank (0..100: the share of
// values strictly below it, ties sharing the rank).
func percentiles(p []float64) []float64 {
	n := len(p)
	out := make([]float64, n)
	ord, ok := sortedByValue(p, true)
	if !ok {
		// A NaN has no rank: the stable sort's order with it is what the
		// ranks have always been.
		ord = make([]int32, n)
		for i := range ord {
			ord[i] = int32(i)
		}
		slices.SortStableFunc(ord, func(a, b int32) int {
			if p[a] < p[b] {
				return -1
			}
			return 0
		})
	}
	for k := 0; k < n; {
		e := k
		for e+1 < n && p[ord[e+1]] == p[ord[k]] {
			e++
		}
		v := 100 * float64(k) / float64(n)
		for m := k; m <= e; m++ {
			out[ord[m]] = v
		}
		k = e + 1
	}
	return out
}

// sortedByValue returns the indexes of v ordered by value (ascending when
// up, else descending; among equal values in any order — the ranks built
// from it do not depend on it). ok is false, and nothing sorted, when v
// holds a NaN.
func sortedByValue(v []float64, up bool) (ord []int32, ok bool) {
	type iv struct {
		v float64
		i int32
	}
	tmp := make([]iv, len(v))
	for i, x := range v {
		if x != x {
			return nil, false
		}
		tmp[i] = iv{x, int32(i)}
	}
	if up {
		slices.SortFunc(tmp, func(a, b iv) int { return cmp.Compare(a.v, b.v) })
	} else {
		slices.SortFunc(tmp, func(a, b iv) int { return cmp.Compare(b.v, a.v) })
	}
	ord = make([]int32, len(v))
	for k := range tmp {
		ord[k] = tmp[k].i
	}
	return ord, true
}

// scoreCLV fits BG/NBD + Gamma-Gamma on the scored customers' clv_* features
// and fills P(alive), expected purchases over the churn horizon, discounted
// CLV, historic value, value at risk and the expected next order date.
func scoreCLV(ctx context.Context, f *features.Frame, c *scoreCols, sc ScoreConfig, logf func(string, ...any)) error {
	if hist := f.Column("monetary_lifetime"); hist != nil {
		copy(c.Historic, hist)
	}
	x, tx, tt, at, ok := clvInputs(f, nil)
	mon := f.Column("clv_monetary")
	if !ok || mon == nil {
		return errors.New("the features have no clv_frequency/clv_recency_weeks/clv_T_weeks/clv_monetary columns")
	}
	m := make([]float64, len(at))
	for k, i := range at {
		if m[k] = mon[i]; math.IsNaN(m[k]) {
			m[k] = 0
		}
	}
	if len(at) < 10 {
		return fmt.Errorf("only %d customers with orders", len(at))
	}
	vm, err := clv.FitValueModel(ctx, x, tx, tt, m, "week", &clv.Options{Penalizer: 0.001, SkipStdErr: true})
	var nc *clv.NotConvergedError
	if errors.As(err, &nc) && vm != nil {
		logf("score: %v; using the last estimate", err)
	} else if err != nil {
		return err
	}
	k := len(at)
	pr := clv.Predictions{PAlive: make([]float64, k), ExpectedPurchases: make([]float64, k), NextPurchase: make([]float64, k), CLV: make([]float64, k)}
	horizonWeeks := f.Horizon.Hours() / 24 / 7
	if horizonWeeks <= 0 {
		horizonWeeks = 90.0 / 7
	}
	if err := vm.Score(&pr, x, tx, tt, m, clv.ScoreConfig{Horizon: horizonWeeks, Workers: runtime.GOMAXPROCS(0),
		CLV: clv.CLVConfig{Months: sc.CLVMonths, UnitsPerMonth: 4.345, DiscountRate: *sc.DiscountRate}}); err != nil {
		return err
	}
	for k, i := range at {
		c.PAlive[i], c.Expected[i], c.CLV[i] = pr.PAlive[k], pr.ExpectedPurchases[k], pr.CLV[k]
		if math.IsNaN(c.CLV[i]) {
			continue
		}
		c.VaR[i] = c.Prob[i] * c.CLV[i]
		if w := pr.NextPurchase[k]; w >= 0 && !math.IsInf(w, 0) && !math.IsNaN(w) && w < 520 {
			c.NextOrder[i] = epochDay(c.AsOf.Add(time.Duration(w * 7 * 24 * float64(time.Hour))).Truncate(24 * time.Hour))
		}
	}
	return nil
}

// RFM segment names.
const (
	SegChampions         = "champions"
	SegLoyal             = "loyal"
	SegNew               = "new"
	SegPotentialLoyalist = "potential_loyalist"
	SegNeedAttention     = "need_attention"
	SegCantLose          = "cant_lose"
	SegAtRisk            = "at_risk"
	SegHibernating       = "hibernating"
	SegLost              = "lost"
	SegUnknown           = "unknown"
)

// quintiles scores values 1..5 by rank (higher value → higher score when
// up, else lower); NaN gets worst.
func quintiles(v []float64, up bool) []int8 {
	n := len(v)
	out := make([]int8, n)
	known := make([]float64, 0, n) // the values but NaN, with their rows
	rows := make([]int32, 0, n)
	for i, x := range v {
		if math.IsNaN(x) {
			out[i] = 1
			continue
		}
		known = append(known, x)
		rows = append(rows, int32(i))
	}
	ord, _ := sortedByValue(known, up) // no NaN left
	for k, j := range ord {
		ord[k] = rows[j]
	}
	m := len(ord)
	for k := 0; k < m; {
		e := k
		for e+1 < m && v[ord[e+1]] == v[ord[k]] {
			e++
		}
		q := int8(1 + 5*k/max(m, 1))
		for j := k; j <= e; j++ {
			out[ord[j]] = q
		}
		k = e + 1
	}
	return out
}

// segmentRFM assigns RFM segments from recency_days, clv_frequency (or
// orders) and monetary_lifetime quintiles over the scored customers.
func segmentRFM(f *features.Frame, c *scoreCols) {
	c.Segments = []string{SegChampions, SegLoyal, SegNew, SegPotentialLoyalist, SegNeedAttention, SegCantLose, SegAtRisk, SegHibernating, SegLost, SegUnknown}
	const (
		champions = iota
		loyal
		newSeg
		potentialLoyalist
		needAttention
		cantLose
		atRisk
		hibernating
		lost
		unknown
	)
	rec, mon := f.Column("recency_days"), f.Column("monetary_lifetime")
	freq := f.Column("clv_frequency")
	if rec == nil || freq == nil {
		for i := range c.Segment {
			c.Segment[i] = unknown
		}
		return
	}
	if mon == nil {
		mon = freq
	}
	r, fq, m := quintiles(rec, false), quintiles(freq, true), quintiles(mon, true)
	for i := range c.Segment {
		R, F := r[i], max(fq[i], m[i]) // frequency and value both count as engagement
		var s uint16
		switch {
		case R >= 4 && F >= 4:
			s = champions
		case R >= 3 && F >= 4:
			s = loyal
		case R >= 4 && F <= 1:
			s = newSeg
		case R >= 4:
			s = potentialLoyalist
		case R == 3:
			s = needAttention
		case F >= 4:
			s = cantLose
		case F >= 3:
			s = atRisk
		case R == 2:
			s = hibernating
		default:
			s = lost
		}
		c.Segment[i] = s
	}
}

// valueRiskGrid sets value_risk_cell = "<value tercile>_value/<tier>_risk",
// value by predicted CLV (historic value when CLV is unknown).
func valueRiskGrid(c *scoreCols) {
	v := make([]float64, len(c.IDs))
	for i := range v {
		v[i] = c.CLV[i]
		if math.IsNaN(v[i]) {
			v[i] = c.Historic[i]
		}
	}
	pct := percentiles(v)
	vals := []string{"low", "mid", "high", "unknown"}
	c.Cells = c.Cells[:0]
	for _, val := range vals {
		for _, tier := range c.Tiers {
			c.Cells = append(c.Cells, val+"_value/"+tier+"_risk")
		}
	}
	nt := uint16(len(c.Tiers))
	for i := range v {
		val := uint16(0)
		switch {
		case math.IsNaN(v[i]):
			val = 3
		case pct[i] >= 200.0/3:
			val = 2
		case pct[i] >= 100.0/3:
			val = 1
		}
		c.Cell[i] = val*nt + c.Tier[i]
	}
}

// explainRows fills the top reasons of the rows in the configured tiers and
// of those a campaign may queue (see scoreCols.toExplain), in parallel (one
// Explainer per worker).
func explainRows(f *features.Frame, model churn.Model, schema []churn.FeatureInfo, rows []stores.RiskRow, sc ScoreConfig, policy *stores.Policy, workers int) {
	idx := toExplain(rows, sc, policy)
	for k, rs := range explainAt(f, model, schema, idx, sc.Reasons, workers) {
		rows[idx[k]].Reasons = rs
	}
}

// toExplain lists the rows that get reasons: those in the configured tiers
// and those a campaign may queue.
func toExplain(rows []stores.RiskRow, sc ScoreConfig, policy *stores.Policy) []int {
	if sc.Reasons == 0 {
		return nil
	}
	var idx []int
	for i := range rows {
		if slices.Contains(sc.ReasonsFor, rows[i].RiskTier) || policy != nil && queueable(policy, &rows[i]) {
			idx = append(idx, i)
		}
	}
	return idx
}

// explainAt returns the top k reasons of the frame's rows idx, in parallel
// (one Explainer per worker).
func explainAt(f *features.Frame, model churn.Model, schema []churn.FeatureInfo, idx []int, k, workers int) [][]stores.Reason {
	out := make([][]stores.Reason, len(idx))
	if k == 0 || len(idx) == 0 {
		return out
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	n := len(idx)
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		wg.Go(func() {
			ex := churn.NewExplainer(model, schema)
			for j := lo; j < hi; j++ {
				rs := ex.Reasons(f.X, idx[j], k)
				o := make([]stores.Reason, len(rs))
				for m, r := range rs {
					o[m] = stores.Reason{Feature: r.Feature, Contribution: math.Round(r.Contribution*1e6) / 1e6, Text: r.Text}
				}
				out[j] = o
			}
		})
	}
	wg.Wait()
	return out
}
