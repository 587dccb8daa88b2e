package features

import (
	"math"
	"sort"
	"sync"
	"time"
)

// assemble closes the gaps between the shards' rows in dst (cutoff-major,
// then shard order), replaces shard-local category codes by codes into the
// sorted names used in the output, adds the families (the most used
// categories) and decides which labels are observable.
func assemble(spec *buildSpec, outs []*shardOut, dst *frameDst, workers int, horizon time.Duration) *Frame {
	lay := spec.lay
	maxTime := int64(math.MinInt64)
	for _, o := range outs {
		maxTime = max(maxTime, o.maxTime)
	}
	f := &Frame{Horizon: horizon, Kind: spec.kind}
	if maxTime != math.MinInt64 {
		f.ObservedUntil = time.UnixMicro(maxTime).UTC()
	}
	// Rows of (cutoff k, shard s) move down from their reserved start to
	// right after the rows before them; a move never overwrites rows not
	// yet moved (each starts at or before its reserved range).
	type move struct{ from, to, n int }
	var moves []move
	rows := 0
	for k := range spec.cutoffs {
		for s, o := range outs {
			n := o.blocks[k].n
			if from := dst.start[k][s]; from != rows && n > 0 {
				moves = append(moves, move{from, rows, n})
			}
			rows += n
		}
	}
	compact := func(col []float64) []float64 {
		for _, m := range moves {
			copy(col[m.to:m.to+m.n], col[m.from:m.from+m.n])
		}
		return col[:rows:rows]
	}
	// Fixed columns, in parallel: move, then recode the categorical ones.
	f.X = make([][]float64, lay.nFixed)
	defs := make([]Def, lay.nFixed)
	var wg sync.WaitGroup
	next := make(chan int, lay.nFixed)
	for j := 0; j < lay.nFixed; j++ {
		next <- j
	}
	close(next)
	for w := 0; w < max(workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				col := compact(dst.x[j])
				dst.x[j] = nil
				def := lay.defs[j]
				if def.Kind == Categorical {
					def.Categories = recode(spec, outs, j, col)
				}
				f.X[j], defs[j] = col, def
			}
		}()
	}
	for _, m := range moves {
		copy(dst.ids[m.to:m.to+m.n], dst.ids[m.from:m.from+m.n])
	}
	f.IDs = dst.ids[:rows:rows]
	clear(dst.ids[rows:])
	f.Labels = compact(dst.labels)
	f.Cutoffs = make([]time.Time, rows)
	clear(f.Cutoffs) // write its pages before the GC can read them (see newFrameDst)
	pos := 0
	for k, D := range spec.cutoffs {
		observed := maxTime != math.MinInt64 && D+spec.horizon <= maxTime
		cd := time.UnixMicro(D).UTC()
		for _, o := range outs {
			n := o.blocks[k].n
			for i := pos; i < pos+n; i++ {
				f.Cutoffs[i] = cd
				if !observed {
					f.Labels[i] = math.NaN()
				}
			}
			pos += n
		}
	}
	wg.Wait()
	for _, def := range defs {
		f.Names = append(f.Names, def.Name)
		f.Registry = append(f.Registry, def)
	}
	// Families: categories used by at least one row, the most used first.
	for fi := range lay.fams {
		if !lay.hasFam[fi] {
			continue
		}
		fam := lay.fams[fi]
		nsub := len(fam.subs)
		use := map[string]int{}
		for _, o := range outs {
			for c, name := range o.famNames[fi] {
				n := 0
				for k := range spec.cutoffs {
					for s := 0; s < nsub; s++ {
						for _, v := range o.blocks[k].fam[fi][c*nsub+s] {
							if v != 0 && v == v {
								n++
							}
						}
					}
				}
				if n > 0 {
					use[name] += n
				}
			}
		}
		names := make([]string, 0, len(use))
		for n := range use {
			names = append(names, n)
		}
		sort.Slice(names, func(a, b int) bool {
			if use[names[a]] != use[names[b]] {
				return use[names[a]] > use[names[b]]
			}
			return names[a] < names[b]
		})
		if len(names) > MaxFamilyCategories {
			names = names[:MaxFamilyCategories]
		}
		sort.Strings(names)
		for _, name := range names {
			for s, sub := range fam.subs {
				col := make([]float64, 0, rows)
				for k := range spec.cutoffs {
					for _, o := range outs {
						b := &o.blocks[k]
						c := indexOf(o.famNames[fi], name)
						if c < 0 {
							// This shard never saw the category: the count is a
							// true 0, a share is 0 when the row knows any
							// channel and null otherwise.
							n := b.n
							for i := 0; i < n; i++ {
								v := 0.0
								if fi == famChannels && math.IsNaN(f.X[lay.base[fam.table]+oDistinctChannels][len(col)]) {
									v = math.NaN()
								}
								col = append(col, v)
							}
							continue
						}
						col = append(col, b.fam[fi][c*nsub+s]...)
					}
				}
				f.Names = append(f.Names, fam.prefix+name+sub.suffix)
				f.Registry = append(f.Registry, Def{Name: fam.prefix + name + sub.suffix,
					Meaning: sprintfMeaning(sub.meaning, name), Window: sub.window, Source: string(fam.table), Kind: Numeric})
				f.X = append(f.X, col)
			}
		}
	}
	return f
}

func indexOf(names []string, s string) int {
	for i, n := range names {
		if n == s {
			return i
		}
	}
	return -1
}

// recode maps column j's shard-local codes to codes into the sorted names of
// the categories that occur in the output, and returns those names.
func recode(spec *buildSpec, outs []*shardOut, j int, col []float64) []string {
	type span struct {
		o    *shardOut
		a, b int
	}
	var spans []span
	used := make([][]bool, len(outs)) // per shard: local code used
	for s, o := range outs {
		used[s] = make([]bool, len(o.catNames[j]))
	}
	pos := 0
	for k := range spec.cutoffs {
		for s, o := range outs {
			n := o.blocks[k].n
			spans = append(spans, span{o, pos, pos + n})
			u := used[s]
			for _, v := range col[pos : pos+n] {
				if v == v {
					u[int(v)] = true
				}
			}
			pos += n
		}
	}
	set := map[string]bool{}
	for s, o := range outs {
		for c, ok := range used[s] {
			if ok {
				set[o.catNames[j][c]] = true
			}
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	global := make(map[string]float64, len(names))
	for i, n := range names {
		global[n] = float64(i)
	}
	for _, sp := range spans {
		local := make([]float64, len(sp.o.catNames[j]))
		for c, n := range sp.o.catNames[j] {
			if g, ok := global[n]; ok {
				local[c] = g
			} else {
				local[c] = math.NaN()
			}
		}
		for i := sp.a; i < sp.b; i++ {
			if v := col[i]; v == v {
				col[i] = local[int(v)]
			}
		}
	}
	return names
}
