package pqenc

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// decodeHybrid is a plain reader of the RLE/bit-packed hybrid encoding
// (Parquet's Encodings.md), written from the format description, to check
// the encoder against: n values of width bits.
func decodeHybrid(t *testing.T, b []byte, width, n int) []int32 {
	t.Helper()
	var out []int32
	for len(out) < n {
		h, k := binary.Uvarint(b)
		if k <= 0 {
			t.Fatalf("bad run header after %d values", len(out))
		}
		b = b[k:]
		if h&1 == 0 { // RLE run
			byteW := (width + 7) / 8
			var v uint32
			for i := 0; i < byteW; i++ {
				v |= uint32(b[i]) << (8 * i)
			}
			b = b[byteW:]
			for i := uint64(0); i < h>>1; i++ {
				out = append(out, int32(v))
			}
			continue
		}
		groups := int(h >> 1)
		bits := groups * 8 * width
		for i := 0; i < groups*8; i++ {
			var v uint32
			for j := 0; j < width; j++ {
				bit := i*width + j
				if b[bit/8]>>(bit%8)&1 == 1 {
					v |= 1 << j
				}
			}
			out = append(out, int32(v))
		}
		b = b[(bits+7)/8:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left after %d values", len(b), n)
	}
	return out[:n]
}

// TestHybridRoundTrip: runs, literals, mixes and odd lengths at every
// width decode to the values encoded; long repeats become RLE runs.
func TestHybridRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for width := 1; width <= 20; width++ {
		for _, shape := range []string{"random", "runs", "mixed", "short"} {
			n := 1 + rng.IntN(3000)
			if shape == "short" {
				n = 1 + rng.IntN(9)
			}
			vals := make([]int32, n)
			for i := range vals {
				switch shape {
				case "runs":
					if i == 0 || rng.IntN(20) == 0 {
						vals[i] = int32(rng.Uint32() & (1<<width - 1))
					} else {
						vals[i] = vals[i-1]
					}
				case "mixed":
					if i > 0 && rng.IntN(3) > 0 {
						vals[i] = vals[i-1]
						continue
					}
					fallthrough
				default:
					vals[i] = int32(rng.Uint32() & (1<<width - 1))
				}
			}
			got := decodeHybrid(t, AppendHybrid(nil, vals, width), width, n)
			for i := range vals {
				if got[i] != vals[i] {
					t.Fatalf("width %d %s n=%d: value %d = %d, want %d", width, shape, n, i, got[i], vals[i])
				}
			}
		}
	}
	// 1000 equal values: one RLE run (header + one byte), not bit-packed.
	same := make([]int32, 1000)
	for i := range same {
		same[i] = 5
	}
	if b := AppendHybrid(nil, same, 3); len(b) != 3 {
		t.Errorf("1000 repeats encoded in %d bytes, want 3 (one RLE run)", len(b))
	}
}
