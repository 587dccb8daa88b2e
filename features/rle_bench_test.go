package features

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkRLEDecode decodes one page of 65536 bit-packed dictionary indices
// per width (the snapshot's products, customer ids and amounts use 9–17 bits).
func BenchmarkRLEDecode(b *testing.B) {
	for _, width := range []int{2, 5, 9, 12, 16, 17} {
		b.Run(strconv.Itoa(width), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(width)))
			const n = 1 << 16
			var buf []byte
			for i := 0; i < n; i += 504 { // arrow-go's literal runs: 63 groups of 8
				groups := min(63, (n-i)/8)
				buf = appendUvarint(buf, uint64(groups)<<1|1)
				bits := make([]byte, groups*width)
				for j := 0; j < groups*8; j++ {
					v := rng.Uint32() & (1<<width - 1)
					for k := 0; k < width; k++ {
						if v>>k&1 == 1 {
							bit := j*width + k
							bits[bit/8] |= 1 << (bit % 8)
						}
					}
				}
				buf = append(buf, bits...)
			}
			dst := make([]int32, n)
			b.SetBytes(4 * n)
			for b.Loop() {
				if err := rleDecode(buf, width, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
