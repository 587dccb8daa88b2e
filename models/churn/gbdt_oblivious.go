package churn

import (
	"slices"
)

// Oblivious (symmetric) trees, GBDTConfig.Oblivious: every node of a depth
// splits on the same (feature, threshold), chosen by the gain summed over
// the depth's nodes. Such trees fit fewer distinct cut points than greedy
// ones and so regularise more strongly.
//
// A node whose share of the level's split would leave a child lighter than
// MinChildWeight (or empty) stays a leaf: its gain does not count towards
// the level's choice and it is not split, so a tree is symmetric except
// where the data run out. Nothing downstream depends on the symmetry: the
// tree is exported as an ordinary binary tree (children after their
// parents), so prediction, JSON and TreeSHAP are unchanged.

// levelNode is a node of the level being split and its histogram.
type levelNode struct {
	id   int32
	hist []gradPair
}

// growOblivious grows bt (its root set up) one level at a time, each level
// with one split shared by all its nodes that can take it.
func (t *gbTrainer) growOblivious(bt *builtTree, rows, feats []int32) {
	cfg := &t.cfg
	mcw := max(cfg.MinChildWeight, 1e-12)
	canSplit := func(n *bNode) bool {
		return n.depth < cfg.MaxDepth && n.H >= 2*mcw && n.end-n.start >= 2
	}
	root := &bt.nodes[0]
	if !canSplit(root) {
		return
	}
	h := t.getHist()
	t.buildHistSplit(rows, h, feats, root.G, root.H)
	level := []levelNode{{0, h}}
	for len(level) > 0 {
		s := t.levelSplit(bt, level, feats)
		if !s.ok {
			break
		}
		var next []levelNode
		for _, ln := range level {
			nd := &bt.nodes[ln.id]
			gl, hl := t.sideSums(ln.hist, s.feat, &s.left)
			hr := nd.H - hl
			if hl < mcw || hr < mcw {
				t.putHist(ln.hist)
				continue // stays a leaf
			}
			gr := nd.G - gl
			lam := cfg.Lambda
			nd.feat, nd.cat, nd.bin, nd.left = s.feat, s.cat, s.bin, s.left
			nd.gain = gl*gl/(hl+lam) + gr*gr/(hr+lam) - nd.G*nd.G/(nd.H+lam)
			nl := t.partition(rows[nd.start:nd.end], t.tmp[nd.start:nd.end], int(s.feat), &nd.left)
			l := bNode{start: nd.start, end: nd.start + nl, depth: nd.depth + 1, G: gl, H: hl}
			r := bNode{start: nd.start + nl, end: nd.end, depth: nd.depth + 1, G: gr, H: hr}
			li := int32(len(bt.nodes))
			nd.l, nd.r = li, li+1
			bt.nodes = append(bt.nodes, l, r)
			needL, needR := canSplit(&l), canSplit(&r)
			if !needL && !needR {
				t.putHist(ln.hist)
				continue
			}
			// the smaller child's histogram from its rows, the larger's
			// by subtraction from the parent's
			small, large := li, li+1
			if r.end-r.start < l.end-l.start {
				small, large = li+1, li
			}
			sn, lg := bt.nodes[small], bt.nodes[large]
			hs := t.getHist()
			t.buildHistSplit(rows[sn.start:sn.end], hs, feats, sn.G, sn.H)
			t.subtractSplit(ln.hist, hs, feats, lg.end-lg.start, lg.G, lg.H)
			if canSplit(&sn) {
				next = append(next, levelNode{small, hs})
			} else {
				t.putHist(hs)
			}
			if canSplit(&lg) {
				next = append(next, levelNode{large, ln.hist})
			} else {
				t.putHist(ln.hist)
			}
		}
		// keep the level in node order, so the search is independent of
		// which child was the smaller
		slices.SortFunc(next, func(a, b levelNode) int { return int(a.id - b.id) })
		level = next
	}
	for _, ln := range level {
		t.putHist(ln.hist)
	}
}

// sideSums are the gradient and hessian sums of the bins of feature j set
// in left, from a node's histogram.
func (t *gbTrainer) sideSums(hist []gradPair, j int32, left *[4]uint64) (g, h float64) {
	for c, v := range hist[t.off[j]:t.off[j+1]] {
		if left[c>>6]>>(c&63)&1 != 0 {
			g += v.g
			h += v.h
		}
	}
	return g, h
}

// levelSplit finds the split of feats with the largest gain summed over the
// nodes of level (a node contributes only where both its children would
// hold at least MinChildWeight). The returned candidate's left holds the
// bin codes routed left, the missing code included.
func (t *gbTrainer) levelSplit(bt *builtTree, level []levelNode, feats []int32) splitCand {
	chunks := t.featChunks(feats, parallelNodeRows*len(level))
	res := make([]splitCand, len(chunks))
	gbParallelFor(t.threads, len(chunks), func(c int) {
		var sc levelScratch
		for _, j := range chunks[c] {
			s := t.levelSplitFeature(bt, level, j, &sc)
			if res[c].better(&s) {
				res[c] = s
			}
		}
	})
	var best splitCand
	for i := range res {
		if best.better(&res[i]) {
			best = res[i]
		}
	}
	return best
}

// levelScratch is reused by one task across features.
type levelScratch struct {
	sumR, sumL []float64 // per candidate: summed gain with missing right / left
	gl, hl     []float64 // per node running sums
	order      []catStat
}

func (t *gbTrainer) levelSplitFeature(bt *builtTree, level []levelNode, j int32, sc *levelScratch) splitCand {
	lam := t.cfg.Lambda
	mcw := max(t.cfg.MinChildWeight, 1e-12)
	minGain := max(2*t.cfg.MinSplitGain, 1e-12)
	lo, hi := t.off[j], t.off[j+1]
	nb := hi - lo - 1 // value bins; code nb is missing
	var miss gradPair
	for _, ln := range level {
		m := ln.hist[hi-1]
		miss.g += m.g
		miss.h += m.h
	}
	anyMiss := miss.h > 0
	gain := func(G, H, gl, hl float64) float64 {
		hr := H - hl
		if hl < mcw || hr < mcw {
			return 0
		}
		gr := G - gl
		return gl*gl/(hl+lam) + gr*gr/(hr+lam) - G*G/(H+lam)
	}
	sc.sumR = append(sc.sumR[:0], make([]float64, nb)...)
	sc.sumL = append(sc.sumL[:0], make([]float64, nb)...)
	best := splitCand{feat: j}
	if !t.bins[j].Categorical {
		for _, ln := range level {
			nd := &bt.nodes[ln.id]
			h := ln.hist[lo:hi]
			m := h[nb]
			var gl, hl float64
			for b := range nb {
				gl += h[b].g
				hl += h[b].h
				sc.sumR[b] += gain(nd.G, nd.H, gl, hl)
				if anyMiss {
					sc.sumL[b] += gain(nd.G, nd.H, gl+m.g, hl+m.h)
				}
			}
		}
		// b = nb-1 sends every value left: only a split with missing
		// values going right
		for b := range nb - 1 + boolInt(anyMiss) {
			if g := sc.sumR[b]; g > minGain && (!best.ok || g > best.gain) {
				best.gain, best.bin, best.defaultLeft, best.ok = g, b, false, true
			}
			if anyMiss && b < nb-1 {
				if g := sc.sumL[b]; g > minGain && (!best.ok || g > best.gain) {
					best.gain, best.bin, best.defaultLeft, best.ok = g, b, true, true
				}
			}
		}
		if !best.ok {
			return best
		}
		for c := 0; c <= best.bin; c++ {
			best.left[c>>6] |= 1 << (c & 63)
		}
	} else {
		// categories ordered by the level's pooled g/(h+λ), then the
		// prefixes of that order scanned with per-node sums
		sc.order = sc.order[:0]
		for c := range nb {
			var g, h float64
			for _, ln := range level {
				g += ln.hist[lo+c].g
				h += ln.hist[lo+c].h
			}
			if h > 0 {
				sc.order = append(sc.order, catStat{c, g / (h + lam)})
			}
		}
		order := sc.order
		if len(order) < 2 && !anyMiss {
			return best
		}
		slices.SortFunc(order, cmpCatStat)
		sc.gl = append(sc.gl[:0], make([]float64, len(level))...)
		sc.hl = append(sc.hl[:0], make([]float64, len(level))...)
		bestK := -1
		for k := range len(order) - 1 + boolInt(anyMiss) {
			c := order[k].c
			var sR, sL float64
			for q, ln := range level {
				nd := &bt.nodes[ln.id]
				sc.gl[q] += ln.hist[lo+c].g
				sc.hl[q] += ln.hist[lo+c].h
				sR += gain(nd.G, nd.H, sc.gl[q], sc.hl[q])
				if anyMiss && k < len(order)-1 {
					m := ln.hist[hi-1]
					sL += gain(nd.G, nd.H, sc.gl[q]+m.g, sc.hl[q]+m.h)
				}
			}
			if sR > minGain && (!best.ok || sR > best.gain) {
				best.gain, best.defaultLeft, best.ok, bestK = sR, false, true, k
			}
			if sL > minGain && (!best.ok || sL > best.gain) {
				best.gain, best.defaultLeft, best.ok, bestK = sL, true, true, k
			}
		}
		if !best.ok {
			return best
		}
		best.cat, best.bin = true, bestK
		for _, s := range order[:bestK+1] {
			best.left[s.c>>6] |= 1 << (s.c & 63)
		}
	}
	dl := best.defaultLeft
	if !anyMiss {
		// no missing values here: future ones go to the heavier side
		var hl, H float64
		for _, ln := range level {
			_, h := t.sideSums(ln.hist, j, &best.left)
			hl += h
			H += bt.nodes[ln.id].H
		}
		dl = hl >= H-hl
	}
	if dl {
		best.left[nb>>6] |= 1 << (nb & 63)
	}
	best.defaultLeft = dl
	return best
}
