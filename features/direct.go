package features

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// directBlock is the size of one write of a directWriter; directAlign the
// alignment O_DIRECT asks of offsets, lengths and memory (the largest
// logical block size in use).
const (
	directBlock = 4 << 20
	directAlign = 4096
)

// directWriter writes a file front to back in aligned blocks: bytes are
// copied in file order into a block, and each full block is written at its
// offset by a writer goroutine while the next one fills. With O_DIRECT on
// the file this is what the writes need; without it, it is a plain
// sequence of large writes.
type directWriter struct {
	f      *os.File
	cur    []byte // block being filled
	off    int64  // file offset of cur
	free   chan []byte
	jobs   chan directJob
	blocks int // allocated so far
	max    int
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

type directJob struct {
	buf []byte
	off int64
}

func newDirectWriter(f *os.File, writers int) *directWriter {
	d := &directWriter{f: f, max: 2*writers + 1, jobs: make(chan directJob, 2*writers+1)}
	d.free = make(chan []byte, d.max)
	d.cur = d.block()
	for range writers {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for j := range d.jobs {
				d.write(j.buf, j.off)
				d.free <- j.buf[:0]
			}
		}()
	}
	return d
}

// block returns an empty aligned block: a free one, a new one while fewer
// than max exist, else the next one a writer frees.
func (d *directWriter) block() []byte {
	select {
	case b := <-d.free:
		return b
	default:
	}
	if d.blocks < d.max {
		d.blocks++
		raw := make([]byte, directBlock+directAlign)
		o := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (directAlign - 1))
		return raw[o : o : o+directBlock]
	}
	return <-d.free
}

// write writes one block; a refused O_DIRECT write (EINVAL: the device
// wants another alignment) turns O_DIRECT off and is written again.
func (d *directWriter) write(b []byte, off int64) {
	_, err := d.f.WriteAt(b, off)
	if errors.Is(err, syscall.EINVAL) && clearDirect(d.f) {
		_, err = d.f.WriteAt(b, off)
	}
	if err != nil {
		d.mu.Lock()
		if d.err == nil {
			d.err = err
		}
		d.mu.Unlock()
	}
}

// add appends b to the file.
func (d *directWriter) add(b []byte) {
	for len(b) > 0 {
		n := copy(d.cur[len(d.cur):cap(d.cur)], b)
		d.cur = d.cur[:len(d.cur)+n]
		b = b[n:]
		if len(d.cur) == cap(d.cur) {
			d.jobs <- directJob{d.cur, d.off}
			d.off += int64(len(d.cur))
			d.cur = d.block()
		}
	}
}

// close writes the last block (padded with zeros to the alignment, then
// the file cut back to its length), waits for the writers and returns the
// first error.
func (d *directWriter) close() error {
	close(d.jobs)
	d.wg.Wait()
	if n := len(d.cur); n > 0 && d.err == nil {
		pad := (n + directAlign - 1) &^ (directAlign - 1)
		b := d.cur[:pad]
		clear(b[n:])
		d.write(b, d.off)
		if d.err == nil && pad > n {
			if err := d.f.Truncate(d.off + int64(n)); err != nil {
				d.err = err
			}
		}
	}
	return d.err
}

// abort stops the writers after an error elsewhere.
func (d *directWriter) abort() {
	close(d.jobs)
	d.wg.Wait()
}
