package features

import (
	"math"
	"sort"
	"time"
)

// assemble stacks the shards' blocks (cutoff-major, then shard order),
// replaces shard-local category codes by codes into the sorted names used
// in the output, picks each family's most used categories and decides which
// labels are observable.
func assemble(spec *buildSpec, outs []*shardOut, horizon time.Duration) *Frame {
	lay := spec.lay
	maxTime := int64(math.MinInt64)
	rows := 0
	for _, o := range outs {
		maxTime = max(maxTime, o.maxTime)
		for _, b := range o.blocks {
			rows += len(b.ids)
		}
	}
	f := &Frame{Horizon: horizon, Kind: spec.kind}
	if maxTime != math.MinInt64 {
		f.ObservedUntil = time.UnixMicro(maxTime).UTC()
	}
	f.IDs = make([]string, 0, rows)
	f.Cutoffs = make([]time.Time, 0, rows)
	f.Labels = make([]float64, 0, rows)
	for k, D := range spec.cutoffs {
		observed := maxTime != math.MinInt64 && D+spec.horizon <= maxTime
		cd := time.UnixMicro(D).UTC()
		for _, o := range outs {
			b := &o.blocks[k]
			f.IDs = append(f.IDs, b.ids...)
			for _, l := range b.labels {
				f.Cutoffs = append(f.Cutoffs, cd)
				if observed {
					f.Labels = append(f.Labels, l)
				} else {
					f.Labels = append(f.Labels, math.NaN())
				}
			}
		}
	}
	// Fixed columns.
	for j := 0; j < lay.nFixed; j++ {
		def := lay.defs[j]
		col := make([]float64, 0, rows)
		for k := range spec.cutoffs {
			for _, o := range outs {
				col = append(col, o.blocks[k].fixed[j]...)
				o.blocks[k].fixed[j] = nil
			}
		}
		if def.Kind == Categorical {
			def.Categories = recode(spec, outs, j, col)
		}
		f.Names = append(f.Names, def.Name)
		f.Registry = append(f.Registry, def)
		f.X = append(f.X, col)
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
				for k := range spec.cutoffs {
					for s := 0; s < nsub; s++ {
						for _, v := range o.blocks[k].fam[fi][c*nsub+s] {
							if v != 0 && v == v {
								use[name]++
							}
						}
					}
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
							n := len(b.ids)
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
	used := map[string]bool{}
	pos := 0
	type span struct {
		o    *shardOut
		a, b int
	}
	var spans []span
	for k := range spec.cutoffs {
		for _, o := range outs {
			n := len(o.blocks[k].ids)
			spans = append(spans, span{o, pos, pos + n})
			for _, v := range col[pos : pos+n] {
				if v == v {
					used[o.catNames[j][int(v)]] = true
				}
			}
			pos += n
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
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
