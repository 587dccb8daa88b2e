package churn

import (
	"math"
	"runtime"
)

// Exact TreeSHAP.
//
// For a tree, E[f(x) | x_S] (the cover-weighted conditional expectation of
// Lundberg et al.: at a split on a feature in S follow x, otherwise average
// the children weighted by their training cover) is a sum over leaves of
//
//	v_leaf · ∏_{j ∈ U} (j ∈ S ? o_j : z_j)
//
// where U is the set of distinct features split on along the leaf's path,
// z_j the product of the cover ratios child/parent of the path's splits on j,
// and o_j ∈ {0,1} whether x follows every split on j along the path. Each
// leaf is thus a product game whose Shapley values are
//
//	φ_i = v · (o_i − z_i) · ∫₀¹ ∏_{j ∈ U, j ≠ i} (z_j + (o_j − z_j) t) dt,
//
// the same quantities the polynomial path algorithm (EXTEND/UNWIND) tracks.
// Because o is binary, a leaf with d distinct features has only 2^d
// possible outcomes: for d ≤ shapTableMaxD we precompute every outcome's
// contributions once per model (the "Fast TreeSHAP v2" idea), so explaining
// a row costs one pass over the path conditions and d additions per leaf.
// Deeper paths are computed per row with the same formula.

// shapTableMaxD is the largest number of distinct path features whose 2^d
// outcomes are tabulated.
const shapTableMaxD = 10

// shapTableBudget caps the tabulated contributions (float64s) per model.
const shapTableBudget = 64 << 20

type shapLeaf struct {
	v     float64
	feats []int32   // distinct path features
	z     []float64 // zero fractions per distinct feature
	cnode []int32   // path conditions: node (local index) …
	cleft []uint8   // … must go left (1) or right (0) …
	cslot []uint8   // … for the distinct feature in this slot
	table []float64 // 2^d × d contributions, nil when computed per row
	node  int32     // local index of the leaf node
}

type shapTree struct {
	root   int32 // first flat node of the tree
	nnodes int32
	slot   []uint8 // per local inner node: the slot of its feature on every path through it
	leafAt []int32 // per local node: index into leaves, or -1 for inner nodes
	leaves []shapLeaf
	expect float64 // cover-weighted mean of the tree's output
}

type shapForest struct {
	trees []shapTree
	base  float64 // BaseScore + Σ expect
	maxD  int
}

// betaInt[m][k] = ∫₀¹ t^k (1−t)^m dt = k! m! / (k+m+1)!.
func betaInt(k, m int) float64 {
	lg := func(n int) float64 { v, _ := math.Lgamma(float64(n) + 1); return v }
	return math.Exp(lg(k) + lg(m) - lg(k+m+1))
}

func (m *GBDT) shapModel() *shapForest {
	m.shapOnce.Do(func() {
		if m.flat == nil {
			_ = m.prepare()
		}
		m.shap = buildShap(m)
	})
	return m.shap
}

func buildShap(m *GBDT) *shapForest {
	sf := &shapForest{trees: make([]shapTree, len(m.Trees)), base: m.BaseScore}
	budget := shapTableBudget
	for ti := range m.Trees {
		nodes := m.Trees[ti].Nodes
		st := &sf.trees[ti]
		st.root = m.flat.roots[ti]
		st.nnodes = int32(len(nodes))
		st.slot = make([]uint8, len(nodes))
		st.leafAt = make([]int32, len(nodes))
		for k := range st.leafAt {
			st.leafAt[k] = -1
		}
		// walk every root-to-leaf path
		type frame struct {
			node  int32
			path  []int32 // nodes on the path
			lefts []uint8
		}
		stack := []frame{{node: 0}}
		for len(stack) > 0 {
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			n := &nodes[f.node]
			if n.Feature >= 0 {
				for _, side := range [2]uint8{0, 1} {
					child := n.Right
					if side == 1 {
						child = n.Left
					}
					p := append(append([]int32(nil), f.path...), f.node)
					l := append(append([]uint8(nil), f.lefts...), side)
					stack = append(stack, frame{child, p, l})
				}
				continue
			}
			leaf := shapLeaf{v: n.Value}
			zprod := 1.0
			for k, nd := range f.path {
				feat := nodes[nd].Feature
				child := nodes[nd].Right
				if f.lefts[k] == 1 {
					child = nodes[nd].Left
				}
				ratio := 0.0
				if c := nodes[nd].Cover; c > 0 {
					ratio = nodes[child].Cover / c
				}
				slot := -1
				for s, fj := range leaf.feats {
					if fj == feat {
						slot = s
					}
				}
				if slot < 0 {
					slot = len(leaf.feats)
					leaf.feats = append(leaf.feats, feat)
					leaf.z = append(leaf.z, 1)
				}
				leaf.z[slot] *= ratio
				zprod *= ratio
				leaf.cnode = append(leaf.cnode, nd)
				leaf.cleft = append(leaf.cleft, f.lefts[k])
				leaf.cslot = append(leaf.cslot, uint8(slot))
			}
			st.expect += leaf.v * zprod
			d := len(leaf.feats)
			sf.maxD = max(sf.maxD, d)
			if d > 0 && d <= shapTableMaxD && budget >= d<<d {
				budget -= d << d
				leaf.table = make([]float64, d<<d)
				for pat := range 1 << d {
					leafContrib(&leaf, pat, leaf.table[pat*d:(pat+1)*d])
				}
			}
			for c, nd := range leaf.cnode {
				st.slot[nd] = leaf.cslot[c]
			}
			st.leafAt[f.node] = int32(len(st.leaves))
			leaf.node = f.node
			st.leaves = append(st.leaves, leaf)
		}
		sf.base += st.expect
	}
	return sf
}

// leafContrib writes the Shapley contributions of a leaf's distinct
// features for the outcome pattern pat (bit s = o of slot s) into out.
func leafContrib(l *shapLeaf, pat int, out []float64) {
	d := len(l.feats)
	var polyBuf [64]float64
	for i := range d {
		oi := float64(pat >> i & 1)
		if oi == l.z[i] {
			out[i] = 0
			continue
		}
		// ∏_{j≠i} (z_j + (o_j − z_j) t) = C · (1−t)^m · Q(t), with the
		// o_j = 0 factors z_j (1−t) collected in C and m.
		poly := polyBuf[:1]
		poly[0] = 1
		c, m := 1.0, 0
		for j := range d {
			if j == i {
				continue
			}
			if pat>>j&1 == 0 {
				c *= l.z[j]
				m++
				continue
			}
			// multiply by z_j + (1 − z_j) t
			zj := l.z[j]
			poly = append(poly, 0)
			for k := len(poly) - 1; k >= 1; k-- {
				poly[k] = poly[k]*zj + poly[k-1]*(1-zj)
			}
			poly[0] *= zj
		}
		var integral float64
		for k, a := range poly {
			integral += a * betaTable(k, m)
		}
		out[i] = l.v * (oi - l.z[i]) * c * integral
	}
}

var betaCache = func() (t [shapTableMaxD + 64][shapTableMaxD + 64]float64) {
	for k := range t {
		for m := range t[k] {
			t[k][m] = betaInt(k, m)
		}
	}
	return t
}()

func betaTable(k, m int) float64 {
	if k < len(betaCache) && m < len(betaCache) {
		return betaCache[k][m]
	}
	return betaInt(k, m)
}

// explainRows adds the contributions of rows into dst (row-major, F per
// row). It goes tree by tree over the whole group of rows so each tree's
// contribution tables stay in cache while they are used; dir is scratch of
// len(rows) × the largest tree's node count.
func (m *GBDT) explainRows(sf *shapForest, X [][]float64, rows []int, dst []float64, pats []uint32, scratch []float64) {
	ff := m.flat
	F := len(m.Names)
	for ti := range sf.trees {
		st := &sf.trees[ti]
		nodes := ff.nodes[st.root : st.root+st.nnodes]
		root := st.root
		pat := pats[:len(nodes)]
		for k, i := range rows {
			// outcome bits top-down: a child clears its parent's slot bit
			// when the row does not take the edge to it (children come
			// after their parent in the node array)
			pat[0] = ^uint32(0)
			for c := range nodes {
				nd := &nodes[c]
				if st.leafAt[c] >= 0 {
					continue
				}
				bit := uint32(1) << st.slot[c]
				p := pat[c]
				if ff.goLeft(nd, X[nd.feat][i]) == 1 {
					pat[nd.child[1]-root] = p
					pat[nd.child[0]-root] = p &^ bit
				} else {
					pat[nd.child[1]-root] = p &^ bit
					pat[nd.child[0]-root] = p
				}
			}
			phi := dst[k*F : (k+1)*F]
			for li := range st.leaves {
				l := &st.leaves[li]
				d := len(l.feats)
				if d == 0 {
					continue
				}
				pt := int(pat[l.node] & (1<<d - 1))
				var contrib []float64
				if l.table != nil {
					contrib = l.table[pt*d : (pt+1)*d]
				} else {
					contrib = scratch[:d]
					leafContrib(l, pt, contrib)
				}
				for s, f := range l.feats {
					phi[f] += contrib[s]
				}
			}
		}
	}
}

// Explain writes the exact TreeSHAP contribution of each feature to row's
// log-odds into dst (len = len(Features())) and returns the base log-odds:
// base + Σ dst equals the row's raw margin.
func (m *GBDT) Explain(X [][]float64, row int, dst []float64) float64 {
	sf := m.shapModel()
	clear(dst)
	m.explainRows(sf, X, []int{row}, dst, make([]uint32, m.maxNodes()), make([]float64, max(sf.maxD, 1)))
	return sf.base
}

// ExplainRows writes the contributions of the given rows of X (all rows
// when rows is nil) into dst, row-major: dst[k*F+j] is feature j of the
// k-th explained row, F = len(Features()). It runs in parallel over rows and
// returns the base log-odds shared by every row.
func (m *GBDT) ExplainRows(X [][]float64, rows []int, dst []float64) float64 {
	sf := m.shapModel()
	F := len(m.Names)
	n := len(rows)
	if rows == nil && len(X) > 0 {
		n = len(X[0])
	}
	maxNodes := m.maxNodes()
	clear(dst[:n*F])
	// rows per task: each tree's tables are reused by every row of the
	// group while the group's output (chunk × F values) stays in cache
	threads := runtime.GOMAXPROCS(0)
	chunk := min(max(32768/max(F, 1), 32), 512, max((n+threads-1)/threads, 32))
	gbParallelFor(threads, (n+chunk-1)/chunk, func(c int) {
		pats := make([]uint32, maxNodes)
		scratch := make([]float64, max(sf.maxD, 1))
		idx := make([]int, chunk)
		lo, hi := c*chunk, min((c+1)*chunk, n)
		for k := lo; k < hi; k++ {
			idx[k-lo] = k
			if rows != nil {
				idx[k-lo] = rows[k]
			}
		}
		m.explainRows(sf, X, idx[:hi-lo], dst[lo*F:hi*F], pats, scratch)
	})
	return sf.base
}

func (m *GBDT) maxNodes() int {
	k := 0
	for _, t := range m.Trees {
		k = max(k, len(t.Nodes))
	}
	return k
}

// GainImportance is each feature's total split gain (loss reduction),
// normalised to sum to 1.
func (m *GBDT) GainImportance() []float64 {
	imp := make([]float64, len(m.Names))
	var tot float64
	for _, t := range m.Trees {
		for _, n := range t.Nodes {
			if n.Feature >= 0 {
				imp[n.Feature] += n.Gain
				tot += n.Gain
			}
		}
	}
	if tot > 0 {
		for j := range imp {
			imp[j] /= tot
		}
	}
	return imp
}

// MeanAbsSHAP is each feature's mean |TreeSHAP contribution| over the rows
// of X (column-major), in log-odds.
func (m *GBDT) MeanAbsSHAP(X [][]float64) []float64 {
	F := len(m.Names)
	n := 0
	if len(X) > 0 {
		n = len(X[0])
	}
	out := make([]float64, F)
	if n == 0 {
		return out
	}
	const block = 4096
	buf := make([]float64, min(n, block)*F)
	rows := make([]int, 0, block)
	for lo := 0; lo < n; lo += block {
		rows = rows[:0]
		for i := lo; i < min(lo+block, n); i++ {
			rows = append(rows, i)
		}
		m.ExplainRows(X, rows, buf)
		for k := range rows {
			for j, v := range buf[k*F : (k+1)*F] {
				out[j] += math.Abs(v)
			}
		}
	}
	for j := range out {
		out[j] /= float64(n)
	}
	return out
}
