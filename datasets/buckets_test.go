package datasets

import (
	"bytes"
	"fmt"
	"testing"
)

// idBlock is a block of one string column holding ids.
func idBlock(ids []string) *block {
	b := newBlock(1)
	for _, id := range ids {
		b.cols[0].dat = append(b.cols[0].dat, id...)
		b.cols[0].off = append(b.cols[0].off, uint32(len(b.cols[0].dat)))
		b.cols[0].null = append(b.cols[0].null, false)
		b.n++
	}
	return b
}

// TestSplitterBucket checks an id's bucket against a plain count of the
// splitters at or below it, for ids of 0 to 20 bytes, many sharing their
// first 8 bytes (and zero bytes, which the 8-byte prefixes pad with), and
// that buckets follow the ids' order.
func TestSplitterBucket(t *testing.T) {
	var ids []string
	x := uint64(5)
	rnd := func(n uint64) uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x % n }
	for i := 0; i < 5000; i++ {
		switch rnd(4) {
		case 0:
			ids = append(ids, fmt.Sprintf("c%d", rnd(100000)))
		case 1:
			ids = append(ids, fmt.Sprintf("customer-%06d", rnd(3000)))
		case 2:
			ids = append(ids, "cust\x00"[:rnd(6)]+fmt.Sprint(rnd(50)))
		default:
			ids = append(ids, string(bytes.Repeat([]byte{byte('a' + rnd(3))}, int(rnd(12)))))
		}
	}
	p := &tablePlan{custIdx: 0}
	for _, nb := range []int{1, 2, 7, 64} {
		sp := pickSplitters(idBlock(ids), p, nb)
		if sp.buckets() > nb {
			t.Fatalf("%d buckets asked, %d made", nb, sp.buckets())
		}
		for i := 1; i < len(sp.ids); i++ {
			if bytes.Compare(sp.ids[i-1], sp.ids[i]) >= 0 {
				t.Fatalf("splitters not increasing: %q then %q", sp.ids[i-1], sp.ids[i])
			}
		}
		for _, id := range append(ids, "", "\x00", "zzzzzzzzzzzz", "customer", "customer-") {
			want := 0
			for _, s := range sp.ids {
				if bytes.Compare(s, []byte(id)) <= 0 {
					want++
				}
			}
			if got := sp.bucket([]byte(id)); got != want {
				t.Fatalf("%d buckets: id %q in bucket %d, want %d", nb, id, got, want)
			}
		}
	}
}

// BenchmarkSplitterBucket looks up the buckets of 100k ids among 63
// splitters.
func BenchmarkSplitterBucket(b *testing.B) {
	var ids []string
	for i := 0; i < 100000; i++ {
		ids = append(ids, fmt.Sprintf("c%d", (i*7919)%1000000))
	}
	blk := idBlock(ids)
	sp := pickSplitters(blk, &tablePlan{custIdx: 0}, 64)
	s := 0
	for b.Loop() {
		for r := 0; r < blk.n; r++ {
			s += sp.bucket(blk.cols[0].str(r))
		}
	}
	_ = s
}
