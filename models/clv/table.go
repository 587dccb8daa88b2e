package clv

import "math"

// rowTable is an open-addressing hash index of distinct float64 keys of
// width 2 or 3 (rows of (x, t_x, T) or pairs (x, T)). It is several times
// faster than a Go map keyed by a struct of floats in the compression and
// prediction loops.
type rowTable struct {
	mask  uint64
	slots []int32 // index into keys/width, −1 when empty
	keys  []float64
	width int
}

func newRowTable(width, expect int) *rowTable {
	n := 16
	for n < 2*expect {
		n <<= 1
	}
	t := &rowTable{mask: uint64(n - 1), slots: make([]int32, n), width: width}
	for i := range t.slots {
		t.slots[i] = -1
	}
	return t
}

func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// find returns the index of key k (len width), inserting it when absent;
// added reports an insertion.
func (t *rowTable) find(k0, k1, k2 float64) (idx int32, added bool) {
	h := mix(math.Float64bits(k0)*0x9e3779b97f4a7c15 ^ math.Float64bits(k1)*0xc2b2ae3d27d4eb4f ^ math.Float64bits(k2)*0x165667b19e3779f9)
	w := t.width
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s < 0 {
			idx = int32(len(t.keys) / w)
			t.slots[i] = idx
			t.keys = append(t.keys, k0, k1)
			if w == 3 {
				t.keys = append(t.keys, k2)
			}
			if 2*len(t.keys)/w > len(t.slots) {
				t.grow()
			}
			return idx, true
		}
		o := int(s) * w
		if t.keys[o] == k0 && t.keys[o+1] == k1 && (w == 2 || t.keys[o+2] == k2) {
			return s, false
		}
	}
}

func (t *rowTable) grow() {
	n := len(t.slots) * 2
	t.slots = make([]int32, n)
	for i := range t.slots {
		t.slots[i] = -1
	}
	t.mask = uint64(n - 1)
	w := t.width
	for s := 0; s < len(t.keys)/w; s++ {
		o := s * w
		k2 := 0.0
		if w == 3 {
			k2 = t.keys[o+2]
		}
		h := mix(math.Float64bits(t.keys[o])*0x9e3779b97f4a7c15 ^ math.Float64bits(t.keys[o+1])*0xc2b2ae3d27d4eb4f ^ math.Float64bits(k2)*0x165667b19e3779f9)
		for i := h & t.mask; ; i = (i + 1) & t.mask {
			if t.slots[i] < 0 {
				t.slots[i] = int32(s)
				break
			}
		}
	}
}
