package churn

import (
	"math"
	"slices"
	"unsafe"
)

// gbTrainer holds the binned training data and the buffers reused across
// boosting rounds.
type gbTrainer struct {
	cfg     GBDTConfig
	F, n    int
	threads int
	bins    []featureBins
	off     []int // histogram offset of each feature; feature j has off[j+1]-off[j] slots
	bm      *binnedMatrix
	gh      []gradPair
	rows    []int32 // the row sample of the current tree, partitioned by node
	tmp     []int32
	pool    [][]gradPair
	counts  []int
	blocks  [][]gradPair // per row block histograms of big nodes

	// gradient quantisation: q[i] = qg<<32 + qh with qg in [-127, 127] and
	// qh in [0, 255], gradient ≈ qg·gs and hessian ≈ qh·hs
	quant  bool
	q      []int64
	gs, hs float64
	qscr   [][]int64    // per part histograms of a node
	gbufs  []*gatherBuf // per part gather scratch
}

// quantMinRows is the number of training rows from which gradients are
// quantised unless ExactGradients is set.
const quantMinRows = 100_000

// quantBlock is the row block of the gradient and quantisation tasks.
const quantBlock = 8192

// quantize stochastically rounds the gradients of rows to 8 bits, given the
// largest |gradient| and hessian among them; the rounding noise is a hash
// of (seed, round, row), so it is reproducible and independent of the
// goroutine schedule.
func (t *gbTrainer) quantize(train []int32, round int, gmax, hmax float64) {
	nb := (len(train) + quantBlock - 1) / quantBlock
	t.gs, t.hs = max(gmax, 1e-300)/127, max(hmax, 1e-300)/255
	seed := t.cfg.Seed ^ uint64(round)*0x9e3779b97f4a7c15
	gbParallelFor(t.threads, nb, func(b int) {
		for _, i := range train[b*quantBlock : min((b+1)*quantBlock, len(train))] {
			r := splitmix64(seed ^ uint64(i)*0xbf58476d1ce4e5b9)
			u1 := float64(r>>40) / (1 << 24)
			u2 := float64(r&(1<<24-1)) / (1 << 24)
			qg := math.Floor(t.gh[i].g/t.gs + u1)
			qh := math.Floor(t.gh[i].h/t.hs + u2)
			t.q[i] = int64(qg)<<32 + int64(qh)
		}
	})
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// unpack splits a sum of packed quantised pairs.
func (t *gbTrainer) unpack(s int64) gradPair {
	h := s & (1<<32 - 1)
	return gradPair{float64((s-h)>>32) * t.gs, float64(h) * t.hs}
}

// gatherRows is the number of rows whose codes a histogram task copies
// into its scratch buffer before adding them up.
const gatherRows = 256

// gatherBuf is one task's scratch for accumulateQ: the codes of the
// allowed features of up to gatherRows rows, packed, and their quantised
// gradient pairs.
type gatherBuf struct {
	codes []uint8
	q     []int64
	fo    []uint32
}

// accumulateQ adds the packed quantised pairs of rows into the histograms
// of feats: one integer addition per update, exact whatever the order.
//
// Rows are taken in batches: the batch's codes (only those of feats) and
// gradient pairs are first copied into buf, a loop without dependencies
// between rows, so the cache misses of a sparse node's scattered rows
// overlap; the histogram updates then read the batch sequentially.
func (t *gbTrainer) accumulateQ(rows []int32, hist []int64, feats []int32, buf *gatherBuf) {
	F, nf := t.F, len(feats)
	if nf == 0 {
		return
	}
	codes := t.bm.Codes
	fo := append(buf.fo[:0], make([]uint32, nf)...)
	buf.fo = fo
	for k, j := range feats {
		fo[k] = uint32(t.off[j])
	}
	a := int(feats[0])
	contiguous := int(feats[nf-1])-a == nf-1
	stride := nf
	if contiguous {
		stride = (nf + 7) &^ 7 // whole words are copied
	}
	batch := min(gatherRows, max(16, 16384/stride))
	if len(buf.codes) < batch*stride {
		buf.codes = make([]uint8, batch*stride)
	}
	if len(buf.q) < batch {
		buf.q = make([]int64, batch)
	}
	q := t.q
	for lo := 0; lo < len(rows); lo += batch {
		rs := rows[lo:min(lo+batch, len(rows))]
		if contiguous && consecutive(rs) {
			// read the codes where they are (the root and other dense nodes)
			r0 := int(rs[0])
			histAddQ(hist, codes[r0*F+a:], F, q[r0:r0+len(rs)], fo)
			continue
		}
		qb := buf.q[:len(rs)]
		for i, r := range rs {
			qb[i] = q[r]
		}
		if contiguous {
			// binRows leaves 8 bytes of slack after the last row, so
			// the last word of a row may reach past it
			t.bm.gatherWords(buf.codes, rs, a, stride)
		} else {
			dst := buf.codes[:len(rs)*stride]
			for i, r := range rs {
				row := codes[int(r)*F : int(r)*F+F]
				d := dst[i*stride : i*stride+nf]
				for k, j := range feats {
					d[k] = row[j]
				}
			}
		}
		histAddQ(hist, buf.codes[:len(rs)*stride], stride, qb, fo)
	}
}

// consecutive reports whether rs is r, r+1, r+2, ...
func consecutive(rs []int32) bool {
	if len(rs) == 0 || int(rs[len(rs)-1])-int(rs[0]) != len(rs)-1 {
		return false
	}
	r0 := rs[0]
	for i, r := range rs {
		if r != r0+int32(i) {
			return false
		}
	}
	return true
}

// histAddQ adds q[i] to hist[fo[k]+codes[i*stride+k]] for every row i and
// feature k < len(fo). The codes are read eight at a time as one word.
func histAddQ(hist []int64, codes []uint8, stride int, q []int64, fo []uint32) {
	n := len(fo)
	if len(q) == 0 || n == 0 {
		return
	}
	// every index is below the end of the last feature's slots: bin codes
	// are at most the feature's missing code
	_ = codes[(len(q)-1)*stride+n-1]
	hp := unsafe.Pointer(unsafe.SliceData(hist))
	cp := unsafe.Pointer(unsafe.SliceData(codes))
	fp := unsafe.Pointer(unsafe.SliceData(fo))
	for i, p := range q {
		row := unsafe.Add(cp, i*stride)
		k := 0
		for ; k+8 <= n; k += 8 {
			w := *(*uint64)(unsafe.Add(row, k))
			f := (*[8]uint32)(unsafe.Add(fp, 4*k))
			*(*int64)(unsafe.Add(hp, 8*uintptr(f[0]+uint32(uint8(w))))) += p
			*(*int64)(unsafe.Add(hp, 8*uintptr(f[1]+uint32(uint8(w>>8))))) += p
			*(*int64)(unsafe.Add(hp, 8*uintptr(f[2]+uint32(uint8(w>>16))))) += p
			*(*int64)(unsafe.Add(hp, 8*uintptr(f[3]+uint32(uint8(w>>24))))) += p
			*(*int64)(unsafe.Add(hp, 8*uintptr(f[4]+uint32(uint8(w>>32))))) += p
			*(*int64)(unsafe.Add(hp, 8*uintptr(f[5]+uint32(uint8(w>>40))))) += p
			*(*int64)(unsafe.Add(hp, 8*uintptr(f[6]+uint32(uint8(w>>48))))) += p
			*(*int64)(unsafe.Add(hp, 8*uintptr(f[7]+uint32(uint8(w>>56))))) += p
		}
		for ; k < n; k++ {
			c := uint32(*(*uint8)(unsafe.Add(row, k)))
			f := *(*uint32)(unsafe.Add(fp, 4*k))
			*(*int64)(unsafe.Add(hp, 8*uintptr(f+c))) += p
		}
	}
}

// buildHistSplitQ is buildHistSplit over quantised gradients. Integer sums
// do not depend on the order of the additions, so the rows are simply cut
// into as many parts as keep the threads busy; each part has its own
// histogram and the parts are summed during the split search.
func (t *gbTrainer) buildHistSplitQ(rows []int32, hist []gradPair, feats []int32, G, H float64) splitCand {
	chunks := t.featChunks(feats, len(rows))
	res := make([]splitCand, len(chunks))
	parts := 1
	if len(rows) >= parallelNodeRows && t.threads > 1 {
		parts = min(4*t.threads, len(rows)/(parallelNodeRows/4))
	}
	for len(t.qscr) < parts {
		t.qscr = append(t.qscr, make([]int64, t.off[t.F]))
		t.gbufs = append(t.gbufs, &gatherBuf{})
	}
	gbParallelFor(t.threads, parts, func(p int) {
		h := t.qscr[p]
		for _, j := range feats {
			clear(h[t.off[j]:t.off[j+1]])
		}
		t.accumulateQ(rows[p*len(rows)/parts:(p+1)*len(rows)/parts], h, feats, t.gbufs[p])
	})
	scr := t.qscr[:parts]
	gbParallelFor(t.threads, len(chunks), func(c int) {
		for _, j := range chunks[c] {
			lo, hi := t.off[j], t.off[j+1]
			dst := hist[lo:hi]
			for k := range dst {
				s := scr[0][lo+k]
				for _, h := range scr[1:] {
					s += h[lo+k]
				}
				dst[k] = t.unpack(s)
			}
		}
		res[c] = t.bestSplit(hist, chunks[c], G, H)
	})
	var best splitCand
	for i := range res {
		if best.better(&res[i]) {
			best = res[i]
		}
	}
	return best
}

// histBlockRows is the row block of a big node whose histogram one task
// builds; the blocks are then summed in order, so the result does not
// depend on the number of threads.
const histBlockRows = 1 << 15

// bNode is a node of a tree being grown.
type bNode struct {
	start, end int // rows[start:end] reached the node
	depth      int
	G, H       float64
	value      float64 // leaf value, learning rate applied
	leaf       bool
	feat       int32
	left       [4]uint64 // bin codes routed left (missing code included)
	bin        int       // numeric: codes <= bin go left
	cat        bool
	gain       float64
	l, r       int32
}

type builtTree struct {
	nodes  []bNode
	leaves []int32
}

// splitCand is the best split found for a node.
type splitCand struct {
	gain        float64 // G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)
	feat        int32
	bin         int
	cat         bool
	defaultLeft bool
	left        [4]uint64 // categorical: category bins routed left
	GL, HL      float64
	ok          bool
}

func (a *splitCand) better(b *splitCand) bool {
	return b.ok && (!a.ok || b.gain > a.gain)
}

type pendingNode struct {
	id    int32
	hist  []gradPair
	split splitCand
}

// Rows below which a node's histogram is built on one goroutine.
const parallelNodeRows = 8192

func (t *gbTrainer) getHist() []gradPair {
	if k := len(t.pool); k > 0 {
		h := t.pool[k-1]
		t.pool = t.pool[:k-1]
		return h
	}
	if t.off[t.F] <= 1<<16 && !t.quant {
		return make([]gradPair, 1<<16) // accumulate indexes by uint16 without bounds checks
	}
	return make([]gradPair, t.off[t.F])
}

func (t *gbTrainer) putHist(h []gradPair) {
	if h != nil {
		t.pool = append(t.pool, h)
	}
}

// featChunks splits the allowed features into groups handled by one task.
func (t *gbTrainer) featChunks(feats []int32, rows int) [][]int32 {
	if rows < parallelNodeRows || t.threads <= 1 {
		return [][]int32{feats}
	}
	k := min(len(feats), 4*t.threads)
	out := make([][]int32, 0, k)
	for c := range k {
		out = append(out, feats[c*len(feats)/k:(c+1)*len(feats)/k])
	}
	return out
}

// buildHistSplit fills hist for the features of feats from rows and returns
// the best split among them.
func (t *gbTrainer) buildHistSplit(rows []int32, hist []gradPair, feats []int32, G, H float64) splitCand {
	if t.quant {
		return t.buildHistSplitQ(rows, hist, feats, G, H)
	}
	chunks := t.featChunks(feats, len(rows))
	res := make([]splitCand, len(chunks))
	if len(rows) >= 2*histBlockRows { // independent of threads: same sums whatever the schedule
		// parallel over row blocks (each task reads whole rows once), then
		// a reduction and the split search in parallel over features
		nb := (len(rows) + histBlockRows - 1) / histBlockRows
		for len(t.blocks) < nb {
			t.blocks = append(t.blocks, make([]gradPair, len(hist)))
		}
		gbParallelFor(t.threads, nb, func(b int) {
			h := t.blocks[b]
			for _, j := range feats {
				clear(h[t.off[j]:t.off[j+1]])
			}
			t.accumulate(rows[b*histBlockRows:min((b+1)*histBlockRows, len(rows))], h, feats)
		})
		blocks := t.blocks[:nb]
		gbParallelFor(t.threads, len(chunks), func(c int) {
			for _, j := range chunks[c] {
				dst := hist[t.off[j]:t.off[j+1]]
				copy(dst, blocks[0][t.off[j]:t.off[j+1]])
				for _, bh := range blocks[1:] {
					for k, v := range bh[t.off[j]:t.off[j+1]] {
						dst[k].g += v.g
						dst[k].h += v.h
					}
				}
			}
			res[c] = t.bestSplit(hist, chunks[c], G, H)
		})
		var best splitCand
		for i := range res {
			if best.better(&res[i]) {
				best = res[i]
			}
		}
		return best
	}
	gbParallelFor(t.threads, len(chunks), func(c int) {
		cf := chunks[c]
		for _, j := range cf {
			clear(hist[t.off[j]:t.off[j+1]])
		}
		t.accumulate(rows, hist, cf)
		res[c] = t.bestSplit(hist, cf, G, H)
	})
	var best splitCand
	for i := range res {
		if best.better(&res[i]) {
			best = res[i]
		}
	}
	return best
}

// subtractSplit turns parent into parent − small (the sibling's histogram)
// and returns the best split of the sibling.
func (t *gbTrainer) subtractSplit(parent, small []gradPair, feats []int32, rows int, G, H float64) splitCand {
	chunks := t.featChunks(feats, rows)
	res := make([]splitCand, len(chunks))
	gbParallelFor(t.threads, len(chunks), func(c int) {
		cf := chunks[c]
		for _, j := range cf {
			p, s := parent[t.off[j]:t.off[j+1]], small[t.off[j]:t.off[j+1]]
			for k := range p {
				p[k].g -= s[k].g
				p[k].h -= s[k].h
			}
		}
		res[c] = t.bestSplit(parent, cf, G, H)
	})
	var best splitCand
	for i := range res {
		if best.better(&res[i]) {
			best = res[i]
		}
	}
	return best
}

// accumulate adds the gradient pairs of rows into the histograms of feats.
// Each bin sums its rows in row order, so the result does not depend on the
// number of goroutines.
func (t *gbTrainer) accumulate(rows []int32, hist []gradPair, feats []int32) {
	F := t.F
	gh := t.gh
	codes := t.bm.Codes
	if t.off[F] <= 1<<16 {
		// 16-bit histogram indexes into a 64k-entry array: no bounds checks
		h := (*[1 << 16]gradPair)(hist[:1<<16])
		fo := make([]uint16, len(feats))
		for k, j := range feats {
			fo[k] = uint16(t.off[j])
		}
		if feats[len(feats)-1]-feats[0] == int32(len(feats)-1) {
			// a contiguous range of features: walk each row's codes in order
			a, b := int(feats[0]), int(feats[len(feats)-1])+1
			fo = fo[:b-a]
			for _, r := range rows {
				p := gh[r]
				row := codes[int(r)*F+a : int(r)*F+b]
				row = row[:len(fo)]
				for k, c := range row {
					e := &h[fo[k]+uint16(c)]
					e.g += p.g
					e.h += p.h
				}
			}
			return
		}
		for _, r := range rows {
			p := gh[r]
			row := codes[int(r)*F : int(r)*F+F]
			for k, j := range feats {
				e := &h[fo[k]+uint16(row[j])]
				e.g += p.g
				e.h += p.h
			}
		}
		return
	}
	fo := make([]int, len(feats))
	for k, j := range feats {
		fo[k] = t.off[j]
	}
	for _, r := range rows {
		p := gh[r]
		row := codes[int(r)*F : int(r)*F+F]
		for k, j := range feats {
			e := &hist[fo[k]+int(row[j])]
			e.g += p.g
			e.h += p.h
		}
	}
}

// bestSplit scans the histograms of feats for the best split of a node with
// gradient sum G and hessian sum H.
func (t *gbTrainer) bestSplit(hist []gradPair, feats []int32, G, H float64) splitCand {
	lam := t.cfg.Lambda
	mcw := max(t.cfg.MinChildWeight, 1e-12)
	parent := G * G / (H + lam)
	minGain := max(2*t.cfg.MinSplitGain, 1e-12)
	var best splitCand
	consider := func(j int32, bin int, cat, dl bool, gl, hl float64) bool {
		hr := H - hl
		if hl < mcw || hr < mcw {
			return false
		}
		gr := G - gl
		g := gl*gl/(hl+lam) + gr*gr/(hr+lam) - parent
		if g > minGain && (!best.ok || g > best.gain) {
			best = splitCand{gain: g, feat: j, bin: bin, cat: cat, defaultLeft: dl, GL: gl, HL: hl, ok: true}
			return true
		}
		return false
	}
	var order []catStat
	for _, j := range feats {
		h := hist[t.off[j]:t.off[j+1]]
		nb := len(h) - 1
		miss := h[nb]
		if !t.bins[j].Categorical {
			var gl, hl float64
			for b := range nb - 1 + boolInt(miss.h > 0) {
				gl += h[b].g
				hl += h[b].h
				consider(j, b, false, false, gl, hl) // at b = nb-1: values left, missing right
				if miss.h > 0 && b < nb-1 {
					consider(j, b, false, true, gl+miss.g, hl+miss.h)
				}
			}
			continue
		}
		order = order[:0]
		for c := range nb {
			if h[c].h > 0 {
				order = append(order, catStat{c, h[c].g / (h[c].h + lam)})
			}
		}
		if len(order) < 2 && miss.h == 0 {
			continue
		}
		slices.SortFunc(order, cmpCatStat)
		var gl, hl float64
		bestK, bestDL := -1, false
		for k := range len(order) - 1 + boolInt(miss.h > 0) {
			c := order[k].c
			gl += h[c].g
			hl += h[c].h
			if consider(j, k, true, false, gl, hl) {
				bestK, bestDL = k, false
			}
			if miss.h > 0 && k < len(order)-1 && consider(j, k, true, true, gl+miss.g, hl+miss.h) {
				bestK, bestDL = k, true
			}
		}
		if bestK >= 0 && best.feat == j && best.cat {
			best.left = [4]uint64{}
			for _, s := range order[:bestK+1] {
				best.left[s.c>>6] |= 1 << (s.c & 63)
			}
			best.defaultLeft = bestDL
		}
	}
	return best
}

type catStat struct {
	c   int
	key float64
}

// cmpCatStat orders categories by their gradient ratio, then by code (a
// deterministic order for ties).
func cmpCatStat(a, b catStat) int {
	if a.key != b.key {
		if a.key < b.key {
			return -1
		}
		return 1
	}
	return a.c - b.c
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// growTree grows one tree on rows (partitioned in place) using features
// feats and adds each leaf's value to margin[r] for the rows r that reached
// it.
func (t *gbTrainer) growTree(rows []int32, feats []int32, margin []float64) *builtTree {
	cfg := &t.cfg
	maxLeaves := cfg.MaxLeaves
	if maxLeaves == 0 {
		maxLeaves = 1 << min(cfg.MaxDepth, 30)
	}
	bt := &builtTree{nodes: make([]bNode, 1, 2*min(maxLeaves, 1024))}
	root := &bt.nodes[0]
	root.start, root.end = 0, len(rows)
	var G, H float64
	if t.quant {
		var s int64
		for _, r := range rows {
			s += t.q[r]
		}
		p := t.unpack(s)
		G, H = p.g, p.h
	} else {
		for _, r := range rows {
			G += t.gh[r].g
			H += t.gh[r].h
		}
	}
	root.G, root.H = G, H
	canSplit := func(n *bNode) bool {
		return n.depth < cfg.MaxDepth && n.H >= 2*cfg.MinChildWeight && n.end-n.start >= 2
	}
	if cfg.oblivious() {
		t.growOblivious(bt, rows, feats)
		t.finishTree(bt, rows, margin)
		return bt
	}
	if t.quant && !cfg.bestFirst && cfg.MaxDepth <= 30 && maxLeaves >= 1<<cfg.MaxDepth {
		// only the depth limits the tree: grow it level by level
		t.growLevels(bt, rows, feats, canSplit)
		t.finishTree(bt, rows, margin)
		return bt
	}
	var queue []pendingNode
	if canSplit(root) {
		h := t.getHist()
		s := t.buildHistSplit(rows, h, feats, G, H)
		if s.ok {
			queue = append(queue, pendingNode{0, h, s})
		} else {
			t.putHist(h)
		}
	}
	nleaves := 1
	for len(queue) > 0 && nleaves < maxLeaves {
		bi := 0
		for i := range queue {
			if queue[i].split.gain > queue[bi].split.gain {
				bi = i
			}
		}
		p := queue[bi]
		queue = slices.Delete(queue, bi, bi+1)
		s := p.split
		nd := &bt.nodes[p.id]
		t.applySplit(nd, &s, p.hist)
		nl := t.partition(rows[nd.start:nd.end], t.tmp[nd.start:nd.end], int(s.feat), &nd.left)
		l := bNode{start: nd.start, end: nd.start + nl, depth: nd.depth + 1, G: s.GL, H: s.HL}
		r := bNode{start: nd.start + nl, end: nd.end, depth: nd.depth + 1, G: nd.G - s.GL, H: nd.H - s.HL}
		nd.l, nd.r = int32(len(bt.nodes)), int32(len(bt.nodes)+1)
		bt.nodes = append(bt.nodes, l, r)
		nleaves++
		ri := int32(len(bt.nodes) - 1)
		lp, rp := &bt.nodes[ri-1], &bt.nodes[ri]
		needL, needR := canSplit(lp), canSplit(rp)
		if !needL && !needR {
			t.putHist(p.hist)
			continue
		}
		// build the smaller child's histogram, derive the larger by subtraction
		small, large := ri-1, ri
		if rp.end-rp.start < lp.end-lp.start {
			small, large = ri, ri-1
		}
		sn, ln := &bt.nodes[small], &bt.nodes[large]
		needS, needLg := canSplit(sn), canSplit(ln)
		hs := t.getHist()
		ss := t.buildHistSplit(rows[sn.start:sn.end], hs, feats, sn.G, sn.H)
		if needLg {
			ls := t.subtractSplit(p.hist, hs, feats, ln.end-ln.start, ln.G, ln.H)
			if ls.ok {
				queue = append(queue, pendingNode{large, p.hist, ls})
			} else {
				t.putHist(p.hist)
			}
		} else {
			t.putHist(p.hist)
		}
		if needS && ss.ok {
			queue = append(queue, pendingNode{small, hs, ss})
		} else {
			t.putHist(hs)
		}
	}
	for _, p := range queue {
		t.putHist(p.hist)
	}
	t.finishTree(bt, rows, margin)
	return bt
}

// finishTree lists the leaves, computes their values and adds them to the
// margins of their rows.
func (t *gbTrainer) finishTree(bt *builtTree, rows []int32, margin []float64) {
	cfg := &t.cfg
	for i := range bt.nodes {
		if bt.nodes[i].l == 0 {
			bt.nodes[i].leaf = true
			bt.leaves = append(bt.leaves, int32(i))
		}
	}
	// leaf values (with quantised gradients, values and covers from the
	// exact gradients) and the margins of the leaf's rows, one task per leaf
	// so its rows are read while in cache
	gbParallelFor(t.threads, len(bt.leaves), func(k int) {
		nd := &bt.nodes[bt.leaves[k]]
		seg := rows[nd.start:nd.end]
		if t.quant {
			var g, h float64
			for _, r := range seg {
				g += t.gh[r].g
				h += t.gh[r].h
			}
			nd.G, nd.H = g, h
		}
		nd.value = -nd.G / (nd.H + cfg.Lambda) * cfg.LearningRate
		for _, r := range seg {
			margin[r] += nd.value
		}
	})
	if t.quant {
		for i := len(bt.nodes) - 1; i >= 0; i-- {
			if nd := &bt.nodes[i]; !nd.leaf {
				nd.G = bt.nodes[nd.l].G + bt.nodes[nd.r].G
				nd.H = bt.nodes[nd.l].H + bt.nodes[nd.r].H
			}
		}
	}
}

// applySplit makes nd an inner node splitting as s says; hist is nd's
// histogram.
func (t *gbTrainer) applySplit(nd *bNode, s *splitCand, hist []gradPair) {
	nd.feat, nd.cat, nd.bin, nd.gain = s.feat, s.cat, s.bin, s.gain
	if s.cat {
		nd.left = s.left
	} else {
		for c := 0; c <= s.bin; c++ {
			nd.left[c>>6] |= 1 << (c & 63)
		}
	}
	miss := t.bins[s.feat].NBins
	dl := s.defaultLeft
	if t.missingHess(hist, s.feat) == 0 {
		dl = s.HL >= nd.H-s.HL // no missing here: send future ones to the bigger side
	}
	if dl {
		nd.left[miss>>6] |= 1 << (miss & 63)
	}
}

// levelJob is the histogram work for one split node of a level: the
// smaller child's histogram is built from its rows (parts of them in
// parallel, as integer sums), the larger child's is the parent's minus it.
type levelJob struct {
	parent       pendingNode
	small, large int32
	needS, needL bool
	hs           []gradPair
	part0, parts int // the job's tasks in the level's part list
	ss, ls       []splitCand
}

// growLevels grows bt (its root set up) level by level: all the nodes of
// a depth are partitioned, then the histograms of all their smaller
// children are built in one parallel pass, then all the split searches run
// in another. With quantised gradients the sums do not depend on how the
// rows are cut into tasks, and splits do not depend on the order nodes are
// split in, so the tree is the one best-first growth makes;
// renumberBestFirst then gives its nodes the same numbers too.
func (t *gbTrainer) growLevels(bt *builtTree, rows, feats []int32, canSplit func(*bNode) bool) {
	root := &bt.nodes[0]
	if !canSplit(root) {
		return
	}
	h := t.getHist()
	s := t.buildHistSplit(rows, h, feats, root.G, root.H)
	if !s.ok {
		t.putHist(h)
		return
	}
	level := []pendingNode{{0, h, s}}
	const partChunk = 1 << 13 // t.partition's parallel chunk
	for len(level) > 0 {
		// apply the splits and partition the rows: big nodes one after the
		// other with parallel chunks, the others one task each
		nls := make([]int, len(level))
		var serial []int
		for i := range level {
			p := &level[i]
			nd := &bt.nodes[p.id]
			t.applySplit(nd, &p.split, p.hist)
			if nd.end-nd.start >= 2*partChunk && t.threads > 1 {
				nls[i] = t.partition(rows[nd.start:nd.end], t.tmp[nd.start:nd.end], int(nd.feat), &nd.left)
			} else {
				serial = append(serial, i)
			}
		}
		gbParallelFor(t.threads, len(serial), func(k int) {
			nd := &bt.nodes[level[serial[k]].id]
			nls[serial[k]] = partitionSerial(rows[nd.start:nd.end], t.tmp[nd.start:nd.end], t.bm.Cols[nd.feat], &nd.left)
		})
		// the children, and which histograms they need
		var jobs []levelJob
		for i, p := range level {
			nd := bt.nodes[p.id]
			nl := nls[i]
			l := bNode{start: nd.start, end: nd.start + nl, depth: nd.depth + 1, G: p.split.GL, H: p.split.HL}
			r := bNode{start: nd.start + nl, end: nd.end, depth: nd.depth + 1, G: nd.G - p.split.GL, H: nd.H - p.split.HL}
			li := int32(len(bt.nodes))
			bt.nodes[p.id].l, bt.nodes[p.id].r = li, li+1
			bt.nodes = append(bt.nodes, l, r)
			needL, needR := canSplit(&l), canSplit(&r)
			if !needL && !needR {
				t.putHist(p.hist)
				continue
			}
			j := levelJob{parent: p, small: li, large: li + 1, needS: needL, needL: needR}
			if r.end-r.start < l.end-l.start {
				j.small, j.large, j.needS, j.needL = li+1, li, needR, needL
			}
			if !j.needL {
				t.putHist(p.hist)
			}
			jobs = append(jobs, j)
		}
		if len(jobs) == 0 {
			break
		}
		// build the smaller children's histograms and search the splits, in
		// batches of jobs whose scratch histograms fit the budget
		for lo := 0; lo < len(jobs); {
			lo = t.levelBatch(bt, jobs, lo, rows, feats)
		}
		next := level[:0:0]
		for i := range jobs {
			j := &jobs[i]
			var ss, ls splitCand
			for c := range j.ss {
				if ss.better(&j.ss[c]) {
					ss = j.ss[c]
				}
				if ls.better(&j.ls[c]) {
					ls = j.ls[c]
				}
			}
			// same order as best-first growth queues them
			if j.needL {
				if ls.ok {
					next = append(next, pendingNode{j.large, j.parent.hist, ls})
				} else {
					t.putHist(j.parent.hist)
				}
			}
			if j.needS && ss.ok {
				next = append(next, pendingNode{j.small, j.hs, ss})
			} else {
				t.putHist(j.hs)
			}
		}
		level = next
	}
	bt.renumberBestFirst()
}

// levelBatch builds the histograms of the smaller children of jobs[lo:hi]
// for as many jobs from lo on as the scratch budget allows (at least one)
// and searches their splits and their siblings'; it returns hi.
func (t *gbTrainer) levelBatch(bt *builtTree, jobs []levelJob, lo int, rows, feats []int32) int {
	// rows cut into parts of about a 4×threads-th of the level's rows
	total := 0
	for i := lo; i < len(jobs); i++ {
		sn := &bt.nodes[jobs[i].small]
		total += sn.end - sn.start
	}
	partRows := max(parallelNodeRows/4, (total+4*t.threads-1)/(4*t.threads))
	maxParts := max(4*t.threads+8, levelScratchBytes/(8*t.off[t.F]))
	type part struct {
		job    int
		lo, hi int
	}
	var parts []part
	hi := lo
	for ; hi < len(jobs); hi++ {
		sn := &bt.nodes[jobs[hi].small]
		n := sn.end - sn.start
		np := max(1, (n+partRows-1)/partRows)
		if hi > lo && len(parts)+np > maxParts {
			break
		}
		jobs[hi].part0, jobs[hi].parts = len(parts), np
		for k := range np {
			parts = append(parts, part{hi, sn.start + k*n/np, sn.start + (k+1)*n/np})
		}
	}
	for len(t.qscr) < len(parts) {
		t.qscr = append(t.qscr, make([]int64, t.off[t.F]))
		t.gbufs = append(t.gbufs, &gatherBuf{})
	}
	gbParallelFor(t.threads, len(parts), func(k int) {
		h := t.qscr[k]
		for _, j := range feats {
			clear(h[t.off[j]:t.off[j+1]])
		}
		t.accumulateQ(rows[parts[k].lo:parts[k].hi], h, feats, t.gbufs[k])
	})
	// sum the parts and search the splits, per job and feature chunk
	nch := 1
	if hi-lo < 2*t.threads && t.threads > 1 {
		nch = min(len(feats), (4*t.threads+hi-lo-1)/(hi-lo))
	}
	for i := lo; i < hi; i++ {
		jobs[i].hs = t.getHist()
		jobs[i].ss = make([]splitCand, nch)
		jobs[i].ls = make([]splitCand, nch)
	}
	gbParallelFor(t.threads, (hi-lo)*nch, func(k int) {
		j, c := &jobs[lo+k/nch], k%nch
		cf := feats[c*len(feats)/nch : (c+1)*len(feats)/nch]
		scr := t.qscr[j.part0 : j.part0+j.parts]
		for _, f := range cf {
			lo, hi := t.off[f], t.off[f+1]
			dst := j.hs[lo:hi]
			for b := range dst {
				s := scr[0][lo+b]
				for _, h := range scr[1:] {
					s += h[lo+b]
				}
				dst[b] = t.unpack(s)
			}
		}
		if j.needS {
			sn := &bt.nodes[j.small]
			j.ss[c] = t.bestSplit(j.hs, cf, sn.G, sn.H)
		}
		if j.needL {
			ph := j.parent.hist
			for _, f := range cf {
				p, s := ph[t.off[f]:t.off[f+1]], j.hs[t.off[f]:t.off[f+1]]
				for b := range p {
					p[b].g -= s[b].g
					p[b].h -= s[b].h
				}
			}
			ln := &bt.nodes[j.large]
			j.ls[c] = t.bestSplit(ph, cf, ln.G, ln.H)
		}
	})
	return hi
}

// levelScratchBytes bounds the per-part histograms of one batch of a level.
const levelScratchBytes = 32 << 20

// renumberBestFirst renumbers the nodes of a tree grown level by level in
// the order best-first growth creates them: it splits the queued node of
// highest gain first (the earliest queued among equals) and queues the
// larger child before the smaller.
func (bt *builtTree) renumberBestFirst() {
	nodes := bt.nodes
	if len(nodes) <= 3 {
		return
	}
	split := func(i int32) bool { return nodes[i].l != 0 }
	newID := make([]int32, len(nodes))
	var queue []int32
	if split(0) {
		queue = append(queue, 0)
	}
	next := int32(1)
	for len(queue) > 0 {
		bi := 0
		for i := range queue {
			if nodes[queue[i]].gain > nodes[queue[bi]].gain {
				bi = i
			}
		}
		o := queue[bi]
		queue = slices.Delete(queue, bi, bi+1)
		l, r := nodes[o].l, nodes[o].r
		newID[l], newID[r] = next, next+1
		next += 2
		small, large := l, r
		if nodes[r].end-nodes[r].start < nodes[l].end-nodes[l].start {
			small, large = r, l
		}
		if split(large) {
			queue = append(queue, large)
		}
		if split(small) {
			queue = append(queue, small)
		}
	}
	out := make([]bNode, len(nodes))
	for o := range nodes {
		n := nodes[o]
		if n.l != 0 {
			n.l, n.r = newID[n.l], newID[n.r]
		}
		out[newID[o]] = n
	}
	bt.nodes = out
}

// missingHess is the hessian sum in feature j's missing bin.
func (t *gbTrainer) missingHess(hist []gradPair, j int32) float64 {
	return hist[t.off[j+1]-1].h
}

// partitionSerial reorders seg stably so the rows whose code in codes is
// in left come first and returns their number; tmp is scratch of the same
// length.
func partitionSerial(seg, tmp []int32, codes []uint8, left *[4]uint64) (nl int) {
	// branch-free: each row is written to both sides and only the side it
	// goes to advances (nl <= i, so seg is overwritten only where already
	// read); a branch here would mispredict on every other row
	tmp = tmp[:len(seg)]
	nr := 0
	for _, r := range seg {
		c := codes[r]
		goLeft := int(left[c>>6] >> (c & 63) & 1)
		seg[nl] = r
		tmp[nr] = r
		nl += goLeft
		nr += 1 - goLeft
	}
	copy(seg[nl:], tmp[:nr])
	return nl
}

// partition reorders seg stably so the rows going left come first and
// returns their number; tmp is scratch of the same length.
func (t *gbTrainer) partition(seg, tmp []int32, feat int, left *[4]uint64) int {
	codes := t.bm.Cols[feat]
	part := func(seg, tmp []int32) int { return partitionSerial(seg, tmp, codes, left) }
	const chunk = 1 << 13
	if len(seg) < 2*chunk || t.threads <= 1 {
		return part(seg, tmp)
	}
	nch := (len(seg) + chunk - 1) / chunk
	if cap(t.counts) < nch {
		t.counts = make([]int, nch)
	}
	counts := t.counts[:nch]
	gbParallelFor(t.threads, nch, func(c int) {
		lo, hi := c*chunk, min((c+1)*chunk, len(seg))
		counts[c] = part(seg[lo:hi], tmp[lo:hi])
	})
	// seg chunks are now [lefts, rights]; gather all lefts then all rights
	total := 0
	for _, k := range counts {
		total += k
	}
	gbParallelFor(t.threads, nch, func(c int) {
		lo, hi := c*chunk, min((c+1)*chunk, len(seg))
		lpos, rpos := 0, total
		for d := range c {
			lpos += counts[d]
			rpos += min((d+1)*chunk, len(seg)) - d*chunk - counts[d]
		}
		copy(tmp[lpos:], seg[lo:lo+counts[c]])
		copy(tmp[rpos:], seg[lo+counts[c]:hi])
	})
	gbParallelFor(t.threads, nch, func(c int) {
		lo, hi := c*chunk, min((c+1)*chunk, len(seg))
		copy(seg[lo:hi], tmp[lo:hi])
	})
	return total
}

// predictBinned is the tree's output for row i of a binned matrix.
func (bt *builtTree) predictBinned(bm *binnedMatrix, i int) float64 {
	n := &bt.nodes[0]
	for !n.leaf {
		c := bm.Cols[n.feat][i]
		if n.left[c>>6]>>(c&63)&1 != 0 {
			n = &bt.nodes[n.l]
		} else {
			n = &bt.nodes[n.r]
		}
	}
	return n.value
}

// export converts the grown tree to its serialisable form.
func (bt *builtTree) export(bins []featureBins) Tree {
	out := Tree{Nodes: make([]TreeNode, len(bt.nodes))}
	for i := range bt.nodes {
		n := &bt.nodes[i]
		o := &out.Nodes[i]
		o.Cover = n.H
		if n.leaf {
			o.Feature = -1
			o.Value = n.value
			continue
		}
		fb := &bins[n.feat]
		miss := fb.NBins
		o.Feature = n.feat
		o.Left, o.Right = n.l, n.r
		o.Gain = n.gain / 2
		o.DefaultLeft = n.left[miss>>6]>>(miss&63)&1 != 0
		if n.cat {
			words := (fb.NBins + 63) / 64
			o.Cats = make([]uint64, words)
			copy(o.Cats, n.left[:words])
			if miss>>6 < words {
				o.Cats[miss>>6] &^= 1 << (miss & 63) // keep only category bits
			}
		} else if n.bin < len(fb.Cuts) {
			o.Threshold = fb.Cuts[n.bin]
		} else {
			o.Threshold = math.MaxFloat64
		}
	}
	return out
}
