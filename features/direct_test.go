package features

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestDirectWriter writes byte streams of awkward lengths (empty, one
// byte, exact multiples of the alignment and of a block, a block and a
// bit) in pieces of random size and reads them back.
func TestDirectWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for _, n := range []int{0, 1, 4095, directAlign, 3 * directAlign, directBlock, directBlock + 1, 2*directBlock + 12345, 7*directBlock - 1} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(rng.Uint32())
		}
		path := filepath.Join(t.TempDir(), "f")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		direct := setDirect(f)
		dw := newDirectWriter(f, 2)
		for rest := want; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(3*directBlock/2))
			if rng.IntN(4) == 0 {
				k = min(len(rest), 1+rng.IntN(100))
			}
			dw.add(rest[:k])
			rest = rest[k:]
		}
		if err := dw.close(); err != nil {
			t.Fatalf("%d bytes (O_DIRECT %v): %v", n, direct, err)
		}
		f.Close()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes (O_DIRECT %v): read back %d bytes, not the same", n, direct, len(got))
		}
	}
}
