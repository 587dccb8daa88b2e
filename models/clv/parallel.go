package clv

import (
	"sync"
	"sync/atomic"
)

// evalChunk is the number of rows one goroutine evaluates at a time. Partial
// sums are kept per chunk and added in chunk order, so a likelihood is
// bit-for-bit the same whatever the number of workers.
const evalChunk = 4096

// chunkSum evaluates fn over [0, n) in fixed chunks on up to workers
// goroutines. fn adds its chunk's contributions into out (width values,
// zeroed before the call). The chunk partials are summed in chunk order into
// dst (width values, overwritten). part is scratch reused between calls.
func chunkSum(n, workers, width int, part *[]float64, dst []float64, fn func(lo, hi int, out []float64)) {
	nch := (n + evalChunk - 1) / evalChunk
	if cap(*part) < nch*width {
		*part = make([]float64, nch*width)
	}
	p := (*part)[:nch*width]
	clear(p)
	if workers > nch {
		workers = nch
	}
	if workers <= 1 {
		for c := 0; c < nch; c++ {
			fn(c*evalChunk, min((c+1)*evalChunk, n), p[c*width:(c+1)*width])
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c := int(next.Add(1) - 1)
					if c >= nch {
						return
					}
					fn(c*evalChunk, min((c+1)*evalChunk, n), p[c*width:(c+1)*width])
				}
			}()
		}
		wg.Wait()
	}
	clear(dst)
	for c := 0; c < nch; c++ {
		for k := 0; k < width; k++ {
			dst[k] += p[c*width+k]
		}
	}
}

// parallelFor runs fn over [0, n) in fixed chunks on up to workers goroutines
// (for per-row outputs, where order does not matter).
func parallelFor(n, workers int, fn func(lo, hi int)) {
	const chunk = 16384
	nch := (n + chunk - 1) / chunk
	if workers > nch {
		workers = nch
	}
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= nch {
					return
				}
				fn(c*chunk, min((c+1)*chunk, n))
			}
		}()
	}
	wg.Wait()
}
