package features

import "math"

// Align returns a frame holding exactly the features of reg, in reg's order,
// for scoring with a model trained on a file whose registry was reg:
// features missing here become all-null columns, extra ones are dropped,
// and categorical codes are mapped through the category names onto reg's
// codes (a category reg never saw becomes null). Rows, ids, cutoffs and
// labels are shared with f.
func (f *Frame) Align(reg []Def) *Frame {
	out := *f
	out.Names = make([]string, len(reg))
	out.Registry = make([]Def, len(reg))
	out.X = make([][]float64, len(reg))
	n := f.Rows()
	idx := make(map[string]int, len(f.Names))
	for j, name := range f.Names {
		idx[name] = j
	}
	for k, d := range reg {
		out.Names[k], out.Registry[k] = d.Name, d
		j, ok := idx[d.Name]
		if !ok {
			col := make([]float64, n)
			for i := range col {
				col[i] = math.NaN()
			}
			out.X[k] = col
			continue
		}
		src := f.X[j]
		if d.Kind != Categorical {
			out.X[k] = src
			continue
		}
		want := make(map[string]float64, len(d.Categories))
		for c, name := range d.Categories {
			want[name] = float64(c)
		}
		have := f.Registry[j].Categories
		remap := make([]float64, len(have))
		for c, name := range have {
			if v, ok := want[name]; ok {
				remap[c] = v
			} else {
				remap[c] = math.NaN()
			}
		}
		col := make([]float64, n)
		for i, v := range src {
			if v != v || int(v) < 0 || int(v) >= len(remap) {
				col[i] = math.NaN()
			} else {
				col[i] = remap[int(v)]
			}
		}
		out.X[k] = col
	}
	return &out
}
