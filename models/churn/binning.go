package churn

import (
	"math"
	"math/rand/v2"
	"slices"
	"unsafe"
)

// maxValueBins is the largest number of value bins a feature may have: codes
// 0..254 hold values and one more code holds "missing", so a bin code always
// fits a byte.
const maxValueBins = 255

// binSampleRows caps the number of values per feature that are sorted to find
// the quantile cut points.
const binSampleRows = 200_000

// featureBins describes how one feature's raw values map to bin codes.
//
// Numeric: code(x) is the smallest k with x <= Cuts[k], or len(Cuts) when x
// is above every cut; there are NBins = len(Cuts)+1 value bins. Categorical:
// code(x) = x for integer codes 0..NBins-1 (codes above 254 fold into 254).
// Missing values (NaN, and for categorical features negative, fractional or
// unseen codes) take code NBins.
type featureBins struct {
	Categorical bool      `json:"categorical,omitempty"`
	NBins       int       `json:"nbins"`
	Cuts        []float64 `json:"cuts,omitempty"`
}

// missing is the bin code of a missing value.
func (fb *featureBins) missing() uint8 { return uint8(fb.NBins) }

// code returns the bin code of x.
func (fb *featureBins) code(x float64) uint8 {
	if x != x {
		return uint8(fb.NBins)
	}
	if fb.Categorical {
		return catCode(x, fb.NBins)
	}
	// branch-free binary search for the number of cuts below x (the
	// comparison becomes a conditional move; a branch on it would
	// mispredict half the time)
	cuts := fb.Cuts
	if len(cuts) == 0 {
		return 0
	}
	base := 0
	for n := len(cuts); n > 1; {
		half := n >> 1
		below := 0
		if cuts[base+half-1] < x {
			below = 1
		}
		base += half & -below
		n -= half
	}
	if cuts[base] < x {
		base++
	}
	return uint8(base)
}

// catCode maps a categorical code to its bin; anything that is not a known
// non-negative integer code is missing (nbins).
func catCode(x float64, nbins int) uint8 {
	if !(x >= 0) || x != math.Trunc(x) {
		return uint8(nbins)
	}
	c := int(min(x, maxValueBins-1))
	if c >= nbins {
		return uint8(nbins)
	}
	return uint8(c)
}

// buildBins finds the cut points of one feature from (a sample of) its values.
func buildBins(col []float64, categorical bool, maxBins int, rng *rand.Rand) featureBins {
	if categorical {
		hi := -1
		for _, x := range col {
			if x >= 0 && x == math.Trunc(x) && int(min(x, maxValueBins-1)) > hi {
				hi = int(min(x, maxValueBins-1))
			}
		}
		return featureBins{Categorical: true, NBins: max(hi+1, 1)}
	}
	var vals []float64
	if len(col) <= binSampleRows {
		vals = make([]float64, 0, len(col))
		for _, x := range col {
			if x == x {
				vals = append(vals, x)
			}
		}
	} else {
		vals = make([]float64, 0, binSampleRows)
		for range binSampleRows {
			if x := col[rng.IntN(len(col))]; x == x {
				vals = append(vals, x)
			}
		}
	}
	if len(vals) == 0 {
		return featureBins{NBins: 1}
	}
	slices.Sort(vals)
	nvals := len(vals)
	// distinct values (compacted into vals itself) and their counts
	counts := make([]int32, 0, min(nvals, 1024))
	k := 0
	for i, x := range vals {
		if i == 0 || x != vals[k-1] {
			vals[k] = x
			k++
			counts = append(counts, 1)
		} else {
			counts[len(counts)-1]++
		}
	}
	distinct := vals[:k]
	var cuts []float64
	if len(distinct) <= maxBins {
		for i := 1; i < len(distinct); i++ {
			cuts = append(cuts, midpoint(distinct[i-1], distinct[i]))
		}
	} else {
		// greedy equal-frequency bins; a heavy value gets a bin of its own
		remaining := nvals
		binsLeft := maxBins
		acc := 0
		for i := 0; i < len(distinct)-1 && binsLeft > 1; i++ {
			acc += int(counts[i])
			target := float64(remaining) / float64(binsLeft)
			if float64(acc) >= target || float64(acc+int(counts[i+1])) > 1.5*target && acc > 0 && float64(counts[i+1]) >= target {
				cuts = append(cuts, midpoint(distinct[i], distinct[i+1]))
				remaining -= acc
				acc = 0
				binsLeft--
			}
		}
	}
	return featureBins{NBins: len(cuts) + 1, Cuts: cuts}
}

func midpoint(a, b float64) float64 {
	m := a + (b-a)/2
	if m <= a || m > b || math.IsInf(m, 0) {
		return a
	}
	return m
}

// binnedMatrix holds the bin codes of a table twice: column-major Cols
// (Cols[j][i], for partitioning rows and scoring binned rows) and, when
// asked for, row-major Codes[i*F+j] for building histograms.
type binnedMatrix struct {
	F     int
	N     int
	Cols  [][]uint8
	Codes []uint8
}

// binRows bins the rows of X (column-major), in parallel over row blocks;
// rowMajor also fills Codes.
func binRows(X [][]float64, bins []featureBins, rowMajor bool, threads int) *binnedMatrix {
	F := len(X)
	n := 0
	if F > 0 {
		n = len(X[0])
	}
	m := &binnedMatrix{F: F, N: n, Cols: make([][]uint8, F)}
	for j := range F {
		m.Cols[j] = make([]uint8, n)
	}
	if rowMajor {
		// 8 bytes of slack so gatherWords may read whole words past the
		// last row
		m.Codes = make([]uint8, n*F, n*F+8)
	}
	const block = 4096
	gbParallelFor(threads, (n+block-1)/block, func(b int) {
		lo, hi := b*block, min((b+1)*block, n)
		for j := range F {
			fb := &bins[j]
			col := m.Cols[j][lo:hi]
			for i, x := range X[j][lo:hi] {
				col[i] = fb.code(x)
			}
			if rowMajor {
				for i, c := range col {
					m.Codes[(lo+i)*F+j] = c
				}
			}
		}
	})
	return m
}

// gatherWords copies the codes of features a..a+stride-1 of rows into dst
// (stride bytes per row, stride a multiple of 8), a word at a time. Bytes
// past feature F-1 are copies of the next row's codes (or of the slack
// after the last row) and are not to be read.
func (m *binnedMatrix) gatherWords(dst []uint8, rows []int32, a, stride int) {
	if len(rows) == 0 {
		return
	}
	F := m.F
	_ = dst[len(rows)*stride-1]
	if need := int(slices.Max(rows))*F + a + stride; need > cap(m.Codes) {
		panic("gatherWords: read past the codes")
	}
	src := unsafe.Pointer(unsafe.SliceData(m.Codes))
	dp := unsafe.Pointer(unsafe.SliceData(dst))
	for i, r := range rows {
		s := unsafe.Add(src, int(r)*F+a)
		d := unsafe.Add(dp, i*stride)
		for w := 0; w < stride; w += 8 {
			*(*uint64)(unsafe.Add(d, w)) = *(*uint64)(unsafe.Add(s, w))
		}
	}
}
