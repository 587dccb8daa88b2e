package churn

// Note for the other churn-model files (C2): the GBDT implements Model
// unchanged (model.go is not modified). Entry points: FitGBDT(ctx, ds, cfg)
// with GBDTConfig (zero fields = defaults; Validate(key) names the YAML key),
// (*GBDT).PredictProba / PredictMargin, Explain (exact TreeSHAP) and
// ExplainRows (parallel batch), GainImportance, MeanAbsSHAP. *GBDT
// round-trips through encoding/json (UnmarshalJSON checks the trees).
// SyntheticChurn makes a seeded churn-like table for tests and benchmarks.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// GBDTConfig tunes the histogram gradient-boosted trees. Zero values mean
// the defaults given per field.
type GBDTConfig struct {
	// Trees is the maximum number of boosting rounds (default 1000); early
	// stopping usually ends sooner.
	Trees int `yaml:"trees,omitempty" json:"trees,omitempty"`
	// LearningRate is the shrinkage applied to every tree (default 0.05).
	LearningRate float64 `yaml:"learning_rate,omitempty" json:"learning_rate,omitempty"`
	// MaxDepth limits the depth of a tree (default 4).
	MaxDepth int `yaml:"max_depth,omitempty" json:"max_depth,omitempty"`
	// MaxLeaves limits the leaves of a tree; splits are taken best gain
	// first (default 0: only MaxDepth limits).
	MaxLeaves int `yaml:"max_leaves,omitempty" json:"max_leaves,omitempty"`
	// MinChildWeight is the least hessian sum a child may hold (default 1).
	MinChildWeight float64 `yaml:"min_child_weight,omitempty" json:"min_child_weight,omitempty"`
	// Lambda is the L2 regularisation of the leaf values (default 1; a
	// negative value means 0).
	Lambda float64 `yaml:"lambda,omitempty" json:"lambda,omitempty"`
	// MinSplitGain is the least loss reduction a split must bring
	// (default 0).
	MinSplitGain float64 `yaml:"min_split_gain,omitempty" json:"min_split_gain,omitempty"`
	// Subsample is the share of rows each tree sees (default 0.8; 1 = all).
	Subsample float64 `yaml:"subsample,omitempty" json:"subsample,omitempty"`
	// ColSample is the share of features each tree may split on
	// (default 0.5; 1 = all).
	ColSample float64 `yaml:"colsample,omitempty" json:"colsample,omitempty"`
	// MaxBins is the number of quantile bins per numeric feature, at most
	// 255; missing values get a bin of their own (default 255).
	MaxBins int `yaml:"max_bins,omitempty" json:"max_bins,omitempty"`
	// ValidationFraction is the share of rows held out for early stopping
	// when no Validation set is given (default 0.1).
	ValidationFraction float64 `yaml:"validation_fraction,omitempty" json:"validation_fraction,omitempty"`
	// EarlyStoppingRounds stops training when the validation log loss has
	// not improved for this many rounds and keeps the best round
	// (default 50; negative: no early stopping and no held-out rows).
	EarlyStoppingRounds int `yaml:"early_stopping_rounds,omitempty" json:"early_stopping_rounds,omitempty"`
	// NoRefit keeps the early-stopped model. By default, when early
	// stopping held out a share of the training rows, the model is refitted
	// on every row with the chosen number of trees (scaled up by
	// 1/(1-ValidationFraction)), which costs a second fit.
	NoRefit bool `yaml:"no_refit,omitempty" json:"no_refit,omitempty"`
	// ExactGradients turns off gradient quantisation. By default, from
	// 100k training rows, histograms sum gradients and hessians
	// stochastically rounded to 8 bits (one integer addition per update,
	// about half the work); split gains use them, leaf values and covers the
	// exact sums.
	ExactGradients bool `yaml:"exact_gradients,omitempty" json:"exact_gradients,omitempty"`
	// Oblivious grows symmetric (oblivious) trees: all the nodes of a
	// depth split on the same feature and threshold, chosen by the gain
	// summed over them (a node that cannot take that split with
	// MinChildWeight on each side stays a leaf). Not with MaxLeaves.
	// Default false here; the churn model's default is true
	// (Config.WithDefaults).
	Oblivious *bool `yaml:"oblivious,omitempty" json:"oblivious,omitempty"`
	// Seed makes row and column sampling and the validation split
	// reproducible (default 0, itself a fixed seed).
	Seed uint64 `yaml:"seed,omitempty" json:"seed,omitempty"`
	// Threads is the number of goroutines used (default GOMAXPROCS). The
	// fitted model does not depend on it.
	Threads int `yaml:"threads,omitempty" json:"-"`
	// Validation, when set, is used for early stopping instead of a split
	// of the training rows.
	Validation *Dataset `yaml:"-" json:"-"`

	// bestFirst makes the trainer grow every tree best-first even when it
	// would grow it level by level (tests compare the two).
	bestFirst bool
}

// Validate checks the section; key is the YAML path used in messages.
func (c GBDTConfig) Validate(key string) error {
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("%s.%s: %v %s", key, name, v, want)
	}
	switch {
	case c.Trees < 0:
		return bad("trees", c.Trees, "must be positive")
	case !(c.LearningRate >= 0 && c.LearningRate <= 1):
		return bad("learning_rate", c.LearningRate, "must be in (0, 1]")
	case c.MaxDepth < 0 || c.MaxDepth > 30:
		return bad("max_depth", c.MaxDepth, "must be between 1 and 30")
	case c.MaxLeaves < 0 || c.MaxLeaves == 1:
		return bad("max_leaves", c.MaxLeaves, "must be at least 2")
	case !(c.MinChildWeight >= 0) || math.IsInf(c.MinChildWeight, 0):
		return bad("min_child_weight", c.MinChildWeight, "must be a non-negative number")
	case math.IsNaN(c.Lambda) || math.IsInf(c.Lambda, 0):
		return bad("lambda", c.Lambda, "must be a number")
	case !(c.MinSplitGain >= 0) || math.IsInf(c.MinSplitGain, 0):
		return bad("min_split_gain", c.MinSplitGain, "must be a non-negative number")
	case !(c.Subsample >= 0 && c.Subsample <= 1):
		return bad("subsample", c.Subsample, "must be in (0, 1]")
	case !(c.ColSample >= 0 && c.ColSample <= 1):
		return bad("colsample", c.ColSample, "must be in (0, 1]")
	case c.MaxBins < 0 || c.MaxBins == 1 || c.MaxBins > maxValueBins:
		return bad("max_bins", c.MaxBins, "must be between 2 and 255")
	case !(c.ValidationFraction >= 0 && c.ValidationFraction < 1):
		return bad("validation_fraction", c.ValidationFraction, "must be in (0, 1)")
	case c.Threads < 0:
		return bad("threads", c.Threads, "must be positive")
	case c.oblivious() && c.MaxLeaves > 0:
		return bad("max_leaves", c.MaxLeaves, "cannot be used with oblivious trees (set oblivious: false)")
	}
	return nil
}

// oblivious reports whether the trees are symmetric.
func (c GBDTConfig) oblivious() bool { return c.Oblivious != nil && *c.Oblivious }

// WithDefaults returns the configuration with every zero field set to its
// default.
func (c GBDTConfig) WithDefaults() GBDTConfig {
	def := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	if c.Trees == 0 {
		c.Trees = 1000
	}
	def(&c.LearningRate, 0.05)
	if c.MaxDepth == 0 {
		c.MaxDepth = 4
	}
	def(&c.MinChildWeight, 1)
	def(&c.Lambda, 1)
	if c.Lambda < 0 {
		c.Lambda = 0
	}
	def(&c.Subsample, 0.8)
	def(&c.ColSample, 0.5)
	if c.MaxBins == 0 {
		c.MaxBins = maxValueBins
	}
	def(&c.ValidationFraction, 0.1)
	if c.EarlyStoppingRounds == 0 {
		c.EarlyStoppingRounds = 50
	}
	if c.Threads == 0 {
		c.Threads = runtime.GOMAXPROCS(0)
	}
	return c
}

// TreeNode is one node of a fitted tree. A leaf has Feature -1.
//
// Numeric split: x <= Threshold goes Left, larger values Right.
// Categorical split: category codes whose bit is set in Cats go Left, others
// Right. Missing values (and, for categorical splits, codes that are not
// non-negative integers) go Left when DefaultLeft, else Right.
type TreeNode struct {
	Feature     int32    `json:"f"`
	Threshold   float64  `json:"t,omitempty"`
	Cats        []uint64 `json:"cats,omitempty"`
	DefaultLeft bool     `json:"dl,omitempty"`
	Left        int32    `json:"l,omitempty"`
	Right       int32    `json:"r,omitempty"`
	// Value is the leaf's log-odds contribution (learning rate applied).
	Value float64 `json:"v,omitempty"`
	// Cover is the hessian sum of the training rows that reached the node.
	Cover float64 `json:"c"`
	// Gain is the split's loss reduction (0 for leaves).
	Gain float64 `json:"g,omitempty"`
}

// Tree is one fitted regression tree; Nodes[0] is the root.
type Tree struct {
	Nodes []TreeNode `json:"nodes"`
}

// GBDT is a fitted gradient-boosted tree ensemble for binary log-loss. It is
// immutable and safe for concurrent use; it marshals to and from JSON.
type GBDT struct {
	Names       []string   `json:"features"`
	Categorical []bool     `json:"categorical,omitempty"`
	Config      GBDTConfig `json:"config"`
	// BaseScore is the initial log-odds (the training prevalence).
	BaseScore float64 `json:"base_score"`
	Trees     []Tree  `json:"trees"`
	// Rounds is the number of rounds run before early stopping chose
	// len(Trees); ValidLogLoss is the best validation log loss (0 without
	// early stopping).
	Rounds       int     `json:"rounds"`
	ValidLogLoss float64 `json:"valid_logloss,omitempty"`

	flat     *flatForest
	shapOnce sync.Once
	shap     *shapForest
}

// Kind is "gbdt".
func (m *GBDT) Kind() string { return "gbdt" }

// Features are the model's feature names in order.
func (m *GBDT) Features() []string { return m.Names }

// gradPair is a gradient and hessian (or a histogram bin's sums of them).
type gradPair struct{ g, h float64 }

// FitGBDT fits gradient-boosted trees on ds (labels 0/1 in ds.Y).
func FitGBDT(ctx context.Context, ds *Dataset, cfg GBDTConfig) (*GBDT, error) {
	if err := cfg.Validate("gbdt"); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	m, err := fitGBDT(ctx, ds, cfg)
	if err != nil || cfg.NoRefit || cfg.EarlyStoppingRounds < 0 || cfg.Validation != nil || m.ValidLogLoss == 0 {
		return m, err
	}
	full := cfg
	full.EarlyStoppingRounds = -1
	full.Trees = max(1, int(math.Ceil(float64(len(m.Trees))/(1-cfg.ValidationFraction))))
	m2, err := fitGBDT(ctx, ds, full)
	if err != nil {
		return nil, err
	}
	m2.Config = m.Config
	m2.Rounds, m2.ValidLogLoss = m.Rounds, m.ValidLogLoss
	return m2, nil
}

func fitGBDT(ctx context.Context, ds *Dataset, cfg GBDTConfig) (*GBDT, error) {
	n, F := ds.Rows(), len(ds.X)
	if F == 0 {
		return nil, errors.New("gbdt: no features")
	}
	if len(ds.Y) != n || n == 0 {
		return nil, fmt.Errorf("gbdt: %d rows and %d labels", n, len(ds.Y))
	}
	for j, col := range ds.X {
		if len(col) != n {
			return nil, fmt.Errorf("gbdt: feature %d (%s) has %d rows, want %d", j, nameOf(ds.Names, j), len(col), n)
		}
	}
	if ds.W != nil && len(ds.W) != n {
		return nil, fmt.Errorf("gbdt: %d weights for %d rows", len(ds.W), n)
	}
	for i, y := range ds.Y {
		if y != 0 && y != 1 {
			return nil, fmt.Errorf("gbdt: label of row %d is %v, want 0 or 1", i, y)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	t := &gbTrainer{cfg: cfg, F: F, n: n, threads: cfg.Threads}

	// bins from (a sample of) every row
	t.bins = make([]featureBins, F)
	seeds := make([]uint64, F)
	for j := range seeds {
		seeds[j] = rng.Uint64()
	}
	gbParallelFor(t.threads, F, func(j int) {
		cat := j < len(ds.Categorical) && ds.Categorical[j]
		t.bins[j] = buildBins(ds.X[j], cat, cfg.MaxBins, rand.New(rand.NewPCG(seeds[j], 1)))
	})
	t.off = make([]int, F+1)
	for j := range F {
		t.off[j+1] = t.off[j] + t.bins[j].NBins + 1
	}
	t.bm = binRows(ds.X, t.bins, true, t.threads)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// training and validation rows
	var train, valid []int32
	var vbm *binnedMatrix
	var vy, vw []float64
	switch {
	case cfg.EarlyStoppingRounds < 0:
		train = iota32(n)
	case cfg.Validation != nil:
		v := cfg.Validation
		if len(v.X) != F || len(v.Y) != v.Rows() {
			return nil, fmt.Errorf("gbdt: validation set has %d features and %d labels for %d rows, want %d features", len(v.X), len(v.Y), v.Rows(), F)
		}
		train = iota32(n)
		vbm = binRows(v.X, t.bins, false, t.threads)
		vy, vw = v.Y, v.W
		valid = iota32(v.Rows())
	default:
		perm := rng.Perm(n)
		if ds.mainRows() != nil {
			// held-out rows come from the rows that are not auxiliary
			perm = slices.DeleteFunc(perm, func(i int) bool { return ds.Aux[i] })
		}
		nv := int(math.Round(cfg.ValidationFraction * float64(len(perm))))
		if nv < 1 || n-nv < 2 {
			train = iota32(n)
			break
		}
		isValid := make([]bool, n)
		for _, i := range perm[:nv] {
			isValid[i] = true
		}
		for i := range n {
			if isValid[i] {
				valid = append(valid, int32(i))
			} else {
				train = append(train, int32(i))
			}
		}
		vbm, vy, vw = t.bm, ds.Y, ds.W
	}

	// base score: log-odds of the weighted training prevalence
	var pos, tot float64
	for _, i := range train {
		w := 1.0
		if ds.W != nil {
			w = ds.W[i]
		}
		pos += w * ds.Y[i]
		tot += w
	}
	if pos <= 0 || pos >= tot {
		return nil, fmt.Errorf("gbdt: %w", ErrNoVariance)
	}
	base := math.Log(pos / (tot - pos))

	m := &GBDT{Names: slices.Clone(ds.Names), Config: cfg, BaseScore: base}
	if len(m.Names) < F {
		for j := len(m.Names); j < F; j++ {
			m.Names = append(m.Names, fmt.Sprintf("f%d", j))
		}
	}
	if ds.Categorical != nil {
		m.Categorical = make([]bool, F)
		copy(m.Categorical, ds.Categorical)
	}
	m.Config.Validation = nil

	margin := make([]float64, n)
	for i := range margin {
		margin[i] = base
	}
	var vmargin []float64
	if len(valid) > 0 {
		vmargin = make([]float64, vbm.N)
		for i := range vmargin {
			vmargin[i] = base
		}
	}
	t.gh = make([]gradPair, n)
	if !cfg.ExactGradients && len(train) >= quantMinRows && len(train) < 1<<24 {
		t.quant = true
		t.q = make([]int64, n)
	}
	t.rows = make([]int32, len(train))
	t.tmp = make([]int32, len(train))
	inSample := make([]bool, n)
	best, bestRound := math.Inf(1), -1
	for round := range cfg.Trees {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// gradients of the training rows, and per block their largest
		// |gradient| and hessian (the quantisation scales)
		nb := (len(train) + quantBlock - 1) / quantBlock
		gm, hm := make([]float64, nb), make([]float64, nb)
		gbParallelFor(t.threads, nb, func(b int) {
			var gmax, hmax float64
			for _, i := range train[b*quantBlock : min((b+1)*quantBlock, len(train))] {
				p := gbSigmoid(margin[i])
				w := 1.0
				if ds.W != nil {
					w = ds.W[i]
				}
				gp := gradPair{(p - ds.Y[i]) * w, max(p*(1-p)*w, 1e-16)}
				t.gh[i] = gp
				gmax = max(gmax, math.Abs(gp.g))
				hmax = max(hmax, gp.h)
			}
			gm[b], hm[b] = gmax, hmax
		})
		if t.quant {
			t.quantize(train, round, slices.Max(gm), slices.Max(hm))
		}
		// row sample
		rows := t.rows[:0]
		if cfg.Subsample < 1 {
			for _, i := range train {
				if rng.Float64() < cfg.Subsample {
					rows = append(rows, i)
				}
			}
			if len(rows) == 0 {
				rows = append(rows, train[0])
			}
		} else {
			rows = append(rows, train...)
		}
		// column sample
		feats := iota32(F)
		if cfg.ColSample < 1 {
			k := max(1, int(math.Ceil(cfg.ColSample*float64(F))))
			perm := rng.Perm(F)[:k]
			slices.Sort(perm)
			feats = feats[:0]
			for _, j := range perm {
				feats = append(feats, int32(j))
			}
		}
		bt := t.growTree(rows, feats, margin) // updates the sampled rows' margins
		// and the margins of the rows outside the sample
		if cfg.Subsample < 1 {
			for i := range inSample {
				inSample[i] = false
			}
			for _, i := range rows {
				inSample[i] = true
			}
		}
		if cfg.Subsample < 1 {
			gbParallelFor(t.threads, (len(train)+8191)/8192, func(b int) {
				for _, i := range train[b*8192 : min((b+1)*8192, len(train))] {
					if !inSample[i] {
						margin[i] += bt.predictBinned(t.bm, int(i))
					}
				}
			})
		}
		m.Trees = append(m.Trees, bt.export(t.bins))
		m.Rounds = round + 1
		if len(valid) == 0 {
			continue
		}
		// validation log loss
		var loss, wsum float64
		for _, i := range valid {
			vmargin[i] += bt.predictBinned(vbm, int(i))
			w := 1.0
			if vw != nil {
				w = vw[i]
			}
			loss += w * logLossMargin(vmargin[i], vy[i])
			wsum += w
		}
		loss /= wsum
		if loss < best-1e-12 {
			best, bestRound = loss, round
		} else if round-bestRound >= cfg.EarlyStoppingRounds {
			break
		}
	}
	if len(valid) > 0 && bestRound >= 0 {
		m.Trees = m.Trees[:bestRound+1]
		m.ValidLogLoss = best
	}
	m.prepare()
	return m, nil
}

func nameOf(names []string, j int) string {
	if j < len(names) {
		return names[j]
	}
	return fmt.Sprintf("f%d", j)
}

func iota32(n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(i)
	}
	return s
}

// gbSigmoid is 1/(1+e^-z) for z >= 0 and e^z/(1+e^z) below, computed
// without a branch on the sign (which would mispredict on mixed margins).
func gbSigmoid(z float64) float64 {
	e := math.Exp(-math.Abs(z))
	// numerator: 1 for z >= 0, e otherwise (NaN z: e, as before)
	neg := -(math.Float64bits(z) >> 63) // all ones when the sign bit is set
	if z == 0 {
		neg = 0 // -0 counts as >= 0
	}
	num := math.Float64frombits(math.Float64bits(1)&^neg | math.Float64bits(e)&neg)
	return num / (1 + e)
}

// logLossMargin is the log loss of label y under log-odds z, computed
// stably.
func logLossMargin(z, y float64) float64 {
	// -[y log σ(z) + (1-y) log(1-σ(z))] = log(1+e^z) - y z
	var sp float64
	if z > 0 {
		sp = z + math.Log1p(math.Exp(-z))
	} else {
		sp = math.Log1p(math.Exp(z))
	}
	return sp - y*z
}

// gbParallelFor runs fn(0..n-1) on up to threads goroutines. Each index is
// handled exactly once; callers make results independent of which goroutine
// ran which index.
func gbParallelFor(threads, n int, fn func(i int)) {
	if threads <= 1 || n <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(threads, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
