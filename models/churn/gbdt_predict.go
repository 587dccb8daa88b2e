package churn

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime"
)

// flatNode is a tree node laid out for fast scoring. A leaf points to itself
// on both sides with threshold +Inf, so every row can take the same number
// of steps through a tree.
type flatNode struct {
	thr   float64
	feat  int32
	child [2]int32 // [0] right, [1] left; absolute indices into nodes
	flags uint8    // flagDefaultLeft | flagCategorical
	cats  int32    // categorical: offset of the category bitset in cats
	ncats int32    // categorical: words in the bitset
	xoff  int32    // feat × predictBlock: the feature's offset in a block buffer
}

const (
	flagDefaultLeft = 1
	flagCategorical = 2
)

// flatForest is every tree of a GBDT in one node array. TreeSHAP walks
// it, and it scores the rare model the byte-coded layout cannot take.
type flatForest struct {
	nodes  []flatNode
	value  []float64 // leaf value per node (0 for inner nodes)
	roots  []int32
	depth  []int32
	cats   []uint64
	hasCat bool
	// byte-coded scoring layout (gbdt_quant.go), nil when the model
	// cannot use it
	quant *quantForest
}

// prepare validates the trees and builds the scoring layout.
func (m *GBDT) prepare() error {
	F := int32(len(m.Names))
	ff := &flatForest{}
	for ti, tr := range m.Trees {
		if len(tr.Nodes) == 0 {
			return fmt.Errorf("gbdt: tree %d has no nodes", ti)
		}
		base := int32(len(ff.nodes))
		ff.roots = append(ff.roots, base)
		depth := make([]int32, len(tr.Nodes))
		var maxDepth int32
		for i, n := range tr.Nodes {
			fn := flatNode{thr: math.Inf(1), child: [2]int32{base + int32(i), base + int32(i)}, flags: flagDefaultLeft}
			val := 0.0
			if n.Feature < 0 {
				val = n.Value
			} else {
				if n.Feature >= F {
					return fmt.Errorf("gbdt: tree %d node %d splits on feature %d of %d", ti, i, n.Feature, F)
				}
				if int(n.Left) <= i || int(n.Right) <= i || int(n.Left) >= len(tr.Nodes) || int(n.Right) >= len(tr.Nodes) {
					return fmt.Errorf("gbdt: tree %d node %d has bad children %d, %d", ti, i, n.Left, n.Right)
				}
				fn.feat = n.Feature
				fn.xoff = n.Feature * predictBlock
				fn.thr = n.Threshold
				fn.child = [2]int32{base + n.Right, base + n.Left}
				fn.flags = 0
				if n.DefaultLeft {
					fn.flags |= flagDefaultLeft
				}
				if n.Cats != nil {
					fn.flags |= flagCategorical
					fn.cats = int32(len(ff.cats))
					fn.ncats = int32(len(n.Cats))
					ff.cats = append(ff.cats, n.Cats...)
					ff.hasCat = true
				}
				depth[n.Left] = depth[i] + 1
				depth[n.Right] = depth[i] + 1
				maxDepth = max(maxDepth, depth[i]+1)
			}
			ff.nodes = append(ff.nodes, fn)
			ff.value = append(ff.value, val)
		}
		ff.depth = append(ff.depth, maxDepth)
	}
	ff.quant = buildQuant(m)
	m.flat = ff
	return nil
}

// MarshalJSON is the default encoding of the exported fields.
func (m *GBDT) MarshalJSON() ([]byte, error) {
	type plain GBDT
	return json.Marshal((*plain)(m))
}

// UnmarshalJSON decodes a model and checks its trees.
func (m *GBDT) UnmarshalJSON(data []byte) error {
	type plain GBDT
	if err := json.Unmarshal(data, (*plain)(m)); err != nil {
		return fmt.Errorf("gbdt: %w", err)
	}
	return m.prepare()
}

// predictBlock is the number of rows the float64 layout scores together.
const predictBlock = 256

// PredictProba writes P(churn) of every row of X (column-major) into dst.
func (m *GBDT) PredictProba(X [][]float64, dst []float64) {
	m.predict(X, dst, true)
}

// PredictMargin writes the raw log-odds of every row of X into dst.
func (m *GBDT) PredictMargin(X [][]float64, dst []float64) {
	m.predict(X, dst, false)
}

// predict scores the rows in parallel over tasks of 4096 rows, block
// by block, with the byte-coded layout when the model has one.
func (m *GBDT) predict(X [][]float64, dst []float64, proba bool) {
	if m.flat == nil {
		if err := m.prepare(); err != nil {
			panic(err)
		}
	}
	n := len(dst)
	F := len(m.Names)
	const task = 4096
	sigmoid := func(out []float64) {
		if proba {
			for i, z := range out {
				out[i] = gbSigmoid(z)
			}
		}
	}
	if q := m.flat.quant; q != nil {
		gbParallelFor(runtime.GOMAXPROCS(0), (n+task-1)/task, func(t int) {
			xb := make([]uint8, max(q.rows, 1)*qBlock)
			for lo := t * task; lo < min((t+1)*task, n); lo += qBlock {
				out := dst[lo:min(lo+qBlock, n)]
				for i := range out {
					out[i] = m.BaseScore
				}
				q.code(X, lo, len(out), xb)
				q.add(xb, out)
				sigmoid(out)
			}
		})
		return
	}
	gbParallelFor(runtime.GOMAXPROCS(0), (n+task-1)/task, func(t int) {
		var idx [predictBlock]int32
		xb := make([]float64, F*predictBlock)
		for lo := t * task; lo < min((t+1)*task, n); lo += predictBlock {
			hi := min(lo+predictBlock, n)
			for j := range F {
				copy(xb[j*predictBlock:], X[j][lo:hi])
			}
			m.flat.margins(xb, dst[lo:hi], idx[:hi-lo], m.BaseScore)
			sigmoid(dst[lo:hi])
		}
	})
}

// margins scores one block of rows held feature-major in xb (feature j of
// row i at xb[j*predictBlock+i]): tree by tree, all rows of the block one
// level at a time (independent loads the CPU can overlap).
func (f *flatForest) margins(xb []float64, out []float64, idx []int32, base float64) {
	for i := range out {
		out[i] = base
	}
	nodes, value := f.nodes, f.value
	for t, root := range f.roots {
		for i := range idx {
			idx[i] = root
		}
		for range f.depth[t] {
			if f.hasCat {
				for i := range idx {
					nd := &nodes[idx[i]]
					x := xb[int(nd.xoff)+i]
					l := 0
					if x <= nd.thr {
						l = 1
					}
					if x != x {
						l = int(nd.flags & flagDefaultLeft)
					}
					if nd.flags&flagCategorical != 0 {
						l = f.goLeft(nd, x)
					}
					idx[i] = nd.child[l]
				}
				continue
			}
			for i := range idx {
				nd := &nodes[idx[i]]
				x := xb[int(nd.xoff)+i]
				l := 0
				if x <= nd.thr {
					l = 1
				}
				if x != x {
					l = int(nd.flags & flagDefaultLeft)
				}
				idx[i] = nd.child[l]
			}
		}
		for i, k := range idx {
			out[i] += value[k]
		}
	}
}

// goLeft is 1 when value x goes to the left child of nd.
func (f *flatForest) goLeft(nd *flatNode, x float64) int {
	if x != x {
		return int(nd.flags & flagDefaultLeft)
	}
	if nd.flags&flagCategorical == 0 {
		if x <= nd.thr {
			return 1
		}
		return 0
	}
	if !(x >= 0) || x != math.Trunc(x) {
		return int(nd.flags & flagDefaultLeft)
	}
	c := int(min(x, maxValueBins-1))
	if c>>6 >= int(nd.ncats) {
		return 0
	}
	return int(f.cats[int(nd.cats)+c>>6] >> (c & 63) & 1)
}

// leafOf is the leaf row i of X reaches in the tree rooted at root.
func (f *flatForest) leafOf(X [][]float64, i int, root int32) int32 {
	k := root
	for {
		nd := &f.nodes[k]
		next := nd.child[f.goLeft(nd, X[nd.feat][i])]
		if next == k {
			return k
		}
		k = next
	}
}
