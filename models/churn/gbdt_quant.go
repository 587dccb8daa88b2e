package churn

import (
	"math"
	"math/bits"
	"slices"
	"unsafe"
)

// The byte-coded scoring layout. Before a block of rows is scored, each
// value is replaced by a one-byte code derived from the model's own split
// thresholds, so that every split becomes "code > t" on small integers and
// a block of 256 rows × the coded features fits in L1:
//
//   - numeric feature j with sorted distinct thresholds T (at most 254):
//     code(x) = #{t in T : t < x}, so x <= T[k] exactly when code(x) <= k.
//     The code is written into up to two block rows: one where missing is
//     255 (above every threshold index: missing goes right) and one holding
//     code+1 with missing 0 (missing goes left, threshold index k+1);
//     a node reads the row that matches its default direction.
//   - categorical split: one block row per distinct (feature, left set,
//     default) holding 1 when the row goes right, 0 when left, computed from
//     a 256-entry table indexed by the category code (255 = missing or not a
//     non-negative integer).
//
// A node is one uint64: left child index << 40 | threshold byte << 32 |
// byte offset of its block row. The right child sits just before the left
// one, so one step is w − code<<32 >> 40: the subtraction borrows from the
// child index exactly when code > threshold. A leaf has threshold 255
// (nothing is above it) and points to itself, so every row takes exactly
// depth steps through a tree. The result is bit-identical to the float64
// scorer: the same leaves are reached and the leaf values are added in the
// same order.

// qBlock is the number of rows coded and scored together: a block of
// coded rows (q.rows × qBlock bytes) should stay in L1 next to the nodes
// of the tree being walked.
const qBlock = 128

// qMaxRows caps the block rows of a coded model (2 MiB block buffers); a
// model needing more is scored by the float64 layout.
const qMaxRows = 1 << 14

type quantForest struct {
	nodes []uint64
	value []float64 // leaf value per node (0 for inner nodes)
	roots []uint32
	depth []int32
	rows  int // block rows

	num []qNumFeat
	cat []qCatFeat
}

// qNumFeat fills the block rows of one numeric feature.
type qNumFeat struct {
	feat int
	// keys are the sortKey of the distinct thresholds, padded with
	// MaxUint64 to 2^levels − 1 and laid out as an implicit binary search
	// tree (node k has children 2k+1, 2k+2), so the search is levels
	// branch-free steps
	keys   []uint64
	levels int
	hiRow  int32 // block row of the code, missing = 255; or -1
	loRow  int32 // block row of code+1, missing = 0; or -1
}

// qCatFeat fills the block rows of the categorical splits of one feature.
type qCatFeat struct {
	feat   int
	rows   []int32
	tables []*[256]uint8 // per row: 1 = goes right, by category code
}

// buildQuant builds the byte-coded layout, or returns nil when the model
// cannot use it (a feature with more than 254 distinct thresholds, a NaN
// threshold, too many categorical splits).
func buildQuant(m *GBDT) *quantForest {
	F := len(m.Names)
	type numInfo struct {
		cuts                 []float64
		need, needHi, needLo bool
	}
	num := make([]numInfo, F)
	for _, tr := range m.Trees {
		for _, n := range tr.Nodes {
			if n.Feature < 0 || n.Cats != nil {
				continue
			}
			if math.IsNaN(n.Threshold) {
				return nil
			}
			ni := &num[n.Feature]
			ni.cuts = append(ni.cuts, n.Threshold+0) // -0 → +0
			ni.need = true
			if n.DefaultLeft {
				ni.needLo = true
			} else {
				ni.needHi = true
			}
		}
	}
	q := &quantForest{}
	hiRow := make([]int32, F)
	loRow := make([]int32, F)
	for j := range num {
		ni := &num[j]
		hiRow[j], loRow[j] = -1, -1
		if !ni.need {
			continue
		}
		slices.Sort(ni.cuts)
		ni.cuts = slices.Compact(ni.cuts)
		if len(ni.cuts) > maxValueBins-1 {
			return nil
		}
		levels := 0
		for 1<<levels <= len(ni.cuts) {
			levels++
		}
		sorted := make([]uint64, 1<<levels-1)
		for k := range sorted {
			sorted[k] = math.MaxUint64
			if k < len(ni.cuts) {
				sorted[k] = sortKey(ni.cuts[k])
			}
		}
		keys := make([]uint64, len(sorted))
		next := 0
		var fill func(k int)
		fill = func(k int) { // in-order walk of the implicit tree
			if k >= len(keys) {
				return
			}
			fill(2*k + 1)
			keys[k] = sorted[next]
			next++
			fill(2*k + 2)
		}
		fill(0)
		nf := qNumFeat{feat: j, keys: keys, levels: levels, hiRow: -1, loRow: -1}
		if ni.needHi {
			nf.hiRow = int32(q.rows)
			hiRow[j] = nf.hiRow
			q.rows++
		}
		if ni.needLo {
			nf.loRow = int32(q.rows)
			loRow[j] = nf.loRow
			q.rows++
		}
		q.num = append(q.num, nf)
	}
	// categorical splits: one row per distinct (feature, right table)
	catIdx := make([]int, F) // index+1 into q.cat
	catRowOf := func(j int, tbl *[256]uint8) int32 {
		if catIdx[j] == 0 {
			q.cat = append(q.cat, qCatFeat{feat: j})
			catIdx[j] = len(q.cat)
		}
		cf := &q.cat[catIdx[j]-1]
		for r, t := range cf.tables {
			if *t == *tbl {
				return cf.rows[r]
			}
		}
		row := int32(q.rows)
		q.rows++
		cf.rows = append(cf.rows, row)
		cf.tables = append(cf.tables, tbl)
		return row
	}
	for _, tr := range m.Trees {
		base := uint32(len(q.nodes))
		q.roots = append(q.roots, base)
		// breadth-first order, each right child just before its sibling
		order := []int32{0}
		pos := make([]uint32, len(tr.Nodes))
		depth := make([]int32, len(tr.Nodes))
		var maxDepth int32
		for h := 0; h < len(order); h++ {
			n := &tr.Nodes[order[h]]
			if n.Feature < 0 {
				continue
			}
			for _, c := range [2]int32{n.Right, n.Left} {
				if pos[c] != 0 {
					return nil // a node with two parents: not a tree
				}
				pos[c] = uint32(len(order))
				depth[c] = depth[order[h]] + 1
				maxDepth = max(maxDepth, depth[c])
				order = append(order, c)
			}
		}
		if len(order) != len(tr.Nodes) || len(q.nodes)+len(order) >= 1<<24 {
			return nil // unreachable nodes, or too many for 24-bit child indexes
		}
		q.depth = append(q.depth, maxDepth)
		for h, k := range order {
			n := &tr.Nodes[k]
			self := base + uint32(h)
			if n.Feature < 0 {
				q.nodes = append(q.nodes, uint64(self)<<40|255<<32)
				q.value = append(q.value, n.Value)
				continue
			}
			var row int32
			var thr uint32
			j := int(n.Feature)
			if n.Cats != nil {
				tbl := new([256]uint8)
				for c := range maxValueBins {
					w := c >> 6
					if w >= len(n.Cats) || n.Cats[w]>>(c&63)&1 == 0 {
						tbl[c] = 1
					}
				}
				if !n.DefaultLeft {
					tbl[255] = 1
				}
				row, thr = catRowOf(j, tbl), 0
			} else {
				cuts := num[j].cuts
				k, _ := slices.BinarySearch(cuts, n.Threshold+0)
				if n.DefaultLeft {
					row, thr = loRow[j], uint32(k+1)
				} else {
					row, thr = hiRow[j], uint32(k)
				}
			}
			if q.rows > qMaxRows {
				return nil
			}
			left := base + pos[n.Left]
			q.nodes = append(q.nodes, uint64(left)<<40|uint64(thr)<<32|uint64(row)*qBlock)
			q.value = append(q.value, 0)
		}
	}
	return q
}

// sortKey maps a float64 to a uint64 with the same order, except that -0
// sorts just below +0 (no key lies between them, and thresholds are stored
// as +0, so a value's code is right either way); not for NaN.
func sortKey(x float64) uint64 {
	b := math.Float64bits(x)
	return b ^ (uint64(int64(b)>>63) | 1<<63)
}

// code fills block xb (q.rows × qBlock bytes) from rows lo..lo+n-1 of X.
func (q *quantForest) code(X [][]float64, lo, n int, xb []uint8) {
	if len(xb) < q.rows*qBlock || n > qBlock {
		panic("gbdt: block buffer too small")
	}
	var codes [qBlock]uint8
	for f := range q.num {
		nf := &q.num[f]
		col := X[nf.feat][lo : lo+n]
		codes := codes[:n]
		kp := unsafe.Pointer(unsafe.SliceData(nf.keys))
		i := 0
		for ; i+4 <= n; i += 4 {
			x := col[i : i+4 : i+4]
			c := [4]uint8(codes[i : i+4])
			searchKeys4(kp, nf.levels, x, &c)
			copy(codes[i:i+4], c[:])
		}
		for ; i < n; i++ {
			var c [4]uint8
			x := [4]float64{col[i]}
			searchKeys4(kp, nf.levels, x[:], &c)
			codes[i] = c[0]
		}
		if nf.hiRow >= 0 {
			copy(xb[int(nf.hiRow)*qBlock:][:n], codes)
		}
		if nf.loRow >= 0 {
			lw := xb[int(nf.loRow)*qBlock:][:n]
			for i, c := range codes {
				lw[i] = c + 1
			}
		}
	}
	for f := range q.cat {
		cf := &q.cat[f]
		col := X[cf.feat][lo : lo+n]
		for i, x := range col {
			c := uint8(255)
			if x >= 0 && x == math.Trunc(x) {
				c = uint8(min(x, maxValueBins-1))
			}
			codes[i] = c
		}
		for r, row := range cf.rows {
			tbl := cf.tables[r]
			dst := xb[int(row)*qBlock:][:n]
			for i, c := range codes[:n] {
				dst[i] = tbl[c]
			}
		}
	}
}

// searchKeys4 writes the codes of four values (#{thresholds < x}, 255 for
// NaN) into c, searching the implicit tree at kp (2^levels − 1 keys) for
// the four together: each step is a load, a subtraction whose borrow is
// "key < x", and a shift-add, with no branch and no bounds check (k stays
// below 2^levels − 1).
func searchKeys4(kp unsafe.Pointer, levels int, x []float64, c *[4]uint8) {
	x0, x1, x2, x3 := sortKey(x[0]), sortKey(x[1]), sortKey(x[2]), sortKey(x[3])
	var k0, k1, k2, k3 uint64
	for range levels {
		_, b0 := bits.Sub64(*(*uint64)(unsafe.Add(kp, k0*8)), x0, 0)
		_, b1 := bits.Sub64(*(*uint64)(unsafe.Add(kp, k1*8)), x1, 0)
		_, b2 := bits.Sub64(*(*uint64)(unsafe.Add(kp, k2*8)), x2, 0)
		_, b3 := bits.Sub64(*(*uint64)(unsafe.Add(kp, k3*8)), x3, 0)
		k0 = 2*k0 + 1 + b0
		k1 = 2*k1 + 1 + b1
		k2 = 2*k2 + 1 + b2
		k3 = 2*k3 + 1 + b3
	}
	first := uint64(1)<<levels - 1 // k − first = #{keys < x}
	for j, k := range [4]uint64{k0, k1, k2, k3} {
		v := uint8(k - first)
		if x[j] != x[j] {
			v = 255
		}
		c[j] = v
	}
}

// add adds every tree's leaf value to out, the margins of one block coded
// in xb. Eight rows walk a tree together (independent chains of loads the
// CPU overlaps); the walk reads nodes and codes without bounds checks,
// which buildQuant's layout guarantees: every child index is inside
// q.nodes and every node's block row is below q.rows.
func (q *quantForest) add(xb []uint8, out []float64) {
	n := len(out)
	if len(xb) < q.rows*qBlock || n > qBlock {
		panic("gbdt: block buffer too small")
	}
	np := unsafe.Pointer(unsafe.SliceData(q.nodes))
	xp := unsafe.Pointer(unsafe.SliceData(xb))
	vp := unsafe.Pointer(unsafe.SliceData(q.value))
	value := q.value
	for t, root := range q.roots {
		D := q.depth[t]
		i := 0
		op := unsafe.Pointer(unsafe.SliceData(out))
		for ; i+8 <= n; i += 8 {
			walk8(np, unsafe.Add(xp, i), vp, unsafe.Add(op, i*8), uint64(root), D)
		}
		for ; i < n; i++ {
			k := uint64(root)
			for range D {
				k = qStep(np, xp, k, uintptr(i))
			}
			out[i] += value[k]
		}
	}
}

// qStep moves row i of the block from node k to its child.
func qStep(np, xp unsafe.Pointer, k uint64, i uintptr) uint64 {
	w := *(*uint64)(unsafe.Add(np, k*8))
	v := uint64(*(*uint8)(unsafe.Add(xp, uintptr(uint32(w))+i)))
	return (w - v<<32) >> 40
}

// walk8 walks rows 0..7 of the block at xp D steps down the tree at root
// and adds the values (at vp) of the leaves they reach to out[0..7] (at
// op). It is kept out of line so that the eight node indexes stay in
// registers.
//
//go:noinline
func walk8(np, xp, vp, op unsafe.Pointer, root uint64, D int32) {
	k0, k1, k2, k3, k4, k5, k6, k7 := root, root, root, root, root, root, root, root
	for ; D > 0; D-- {
		k0 = qStep(np, xp, k0, 0)
		k1 = qStep(np, xp, k1, 1)
		k2 = qStep(np, xp, k2, 2)
		k3 = qStep(np, xp, k3, 3)
		k4 = qStep(np, xp, k4, 4)
		k5 = qStep(np, xp, k5, 5)
		k6 = qStep(np, xp, k6, 6)
		k7 = qStep(np, xp, k7, 7)
	}
	o := (*[8]float64)(op)
	o[0] += *(*float64)(unsafe.Add(vp, k0*8))
	o[1] += *(*float64)(unsafe.Add(vp, k1*8))
	o[2] += *(*float64)(unsafe.Add(vp, k2*8))
	o[3] += *(*float64)(unsafe.Add(vp, k3*8))
	o[4] += *(*float64)(unsafe.Add(vp, k4*8))
	o[5] += *(*float64)(unsafe.Add(vp, k5*8))
	o[6] += *(*float64)(unsafe.Add(vp, k6*8))
	o[7] += *(*float64)(unsafe.Add(vp, k7*8))
}
