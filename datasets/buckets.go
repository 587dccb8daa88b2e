package datasets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Rows that arrive in no particular customer order (more than one row in 64
// out of (customer, time, line) order; sorted and nearly sorted rows are
// spilled as sorted runs) are not sorted when they are spilled: they are
// distributed into key-range buckets. At the
// first such spill of a shard, splitters are picked from a sample of the
// buffered customer ids; a bucket holds the ids between two neighbouring
// splitters, so a customer's rows always share a bucket and the buckets,
// each sorted on its own, follow one another in (customer, time) order.
// A spill writes the shard's rows grouped by bucket (and remembers where
// each bucket starts in the file); writing the shard then loads one bucket
// at a time from every spill, sorts it in memory and hands it on as the
// next stretch of one sorted run. No k-way merge over many runs is needed,
// and the sort works on a bucket that fits in the cache instead of a whole
// run. A bucket that outgrows its memory share (splitters picked from an
// unrepresentative first spill) is sorted in chunks and merged.

// bucketsPerShard is the number of key-range buckets per shard.
const bucketsPerShard = 64

// splitters are a shard's bucket boundaries, strictly increasing customer
// ids: an id's bucket is the number of splitters at or below it.
type splitters struct {
	pre []uint64 // idPrefix of each splitter
	ids [][]byte
}

// pickSplitters chooses up to nb-1 splitters from a sample of b's customer
// ids.
func pickSplitters(b *block, p *tablePlan, nb int) *splitters {
	ids := &b.cols[p.custIdx]
	step := max(1, b.n/4096)
	var sample [][]byte
	for r := 0; r < b.n; r += step {
		sample = append(sample, ids.str(r))
	}
	slices.SortFunc(sample, bytes.Compare)
	sample = slices.CompactFunc(sample, bytes.Equal)
	sp := &splitters{}
	if len(sample) == 0 {
		return sp // one bucket
	}
	for i := 1; i < nb; i++ {
		id := sample[i*len(sample)/nb]
		if k := len(sp.ids); k > 0 && bytes.Compare(sp.ids[k-1], id) >= 0 {
			continue
		}
		if len(sp.ids) == 0 && bytes.Equal(id, sample[0]) {
			continue // an empty first bucket
		}
		sp.ids = append(sp.ids, bytes.Clone(id))
		sp.pre = append(sp.pre, idPrefix(id))
	}
	return sp
}

// buckets is the number of buckets the splitters make.
func (s *splitters) buckets() int { return len(s.ids) + 1 }

// bucket returns id's bucket: a branch-free binary search for the
// splitters whose 8-byte prefix is below id's, then whole-id comparisons
// with those that share its prefix.
func (s *splitters) bucket(id []byte) int {
	pre := idPrefix(id)
	n := len(s.pre)
	if n == 0 {
		return 0
	}
	base := 0
	for n > 1 {
		half := n / 2
		if s.pre[base+half-1] < pre {
			base += half
		}
		n -= half
	}
	if s.pre[base] < pre {
		base++
	}
	for base < len(s.pre) && s.pre[base] == pre && bytes.Compare(s.ids[base], id) <= 0 {
		base++
	}
	return base
}

// bucketPerm returns b's rows grouped by bucket, in row order within a
// bucket (a counting sort), and where each bucket starts (len nb+1).
func bucketPerm(b *block, p *tablePlan, sp *splitters, sc *runScratch) (perm, starts []int32) {
	nb := sp.buckets()
	ids := &b.cols[p.custIdx]
	bk := resize(sc.bkt, b.n)
	sc.bkt = bk
	starts = resize(sc.starts, nb+1)
	sc.starts = starts
	clear(starts)
	s := uint32(0)
	for r := range bk {
		e := ids.off[r]
		j := sp.bucket(ids.dat[s:e])
		s = e
		bk[r] = uint8(j)
		starts[j+1]++
	}
	for j := 1; j <= nb; j++ {
		starts[j] += starts[j-1]
	}
	perm = resize(sc.perm, b.n)
	sc.perm = perm
	next := resize(sc.next, nb)
	sc.next = next
	copy(next, starts[:nb])
	for r, j := range bk {
		perm[next[j]] = int32(r)
		next[j]++
	}
	return perm, starts
}

// descents counts the rows of b that sort before the row above them in
// (customer, time, line) order, stopping once the count passes limit.
// None: the rows come in order (a sorted export); a few: a nearly sorted
// one, best sorted as a run; many: rows in no particular customer order,
// which go to buckets.
func descents(b *block, p *tablePlan, limit int) int {
	ids := &b.cols[p.custIdx]
	hasT := p.timeIdx >= 0 && p.present[p.timeIdx]
	d := 0
	for r := 1; r < b.n && d <= limit; r++ {
		c := bytes.Compare(ids.str(r-1), ids.str(r))
		if c < 0 {
			continue
		}
		if c > 0 {
			d++
			continue
		}
		if hasT {
			ta, tb := rowTime(b, p.timeIdx, r-1), rowTime(b, p.timeIdx, r)
			if ta != tb {
				if ta > tb {
					d++
				}
				continue
			}
		}
		if b.line[r-1] > b.line[r] {
			d++
		}
	}
	return d
}

// mostlySorted is the most descents per row (1/64) for which rows are
// spilled as a sorted run rather than into buckets.
func mostlySorted(n int) int { return n / 64 }

// bucketFile is one spill of a shard's rows grouped by bucket: bucket j is
// the blocks in bytes off[j]..off[j+1] of the file.
type bucketFile struct {
	path string
	off  []int64
}

// bucketMem is rows kept in memory grouped by bucket: bucket j is rows
// start[j]..start[j+1] of b.
type bucketMem struct {
	b     *block
	start []int32
}

// piece returns bucket j's rows.
func (m *bucketMem) piece(j int) (*block, int, int) {
	return m.b, int(m.start[j]), int(m.start[j+1])
}

// writer returns the scratch space's spill-file writer, reset to w.
func (sc *runScratch) writer(w io.Writer) *bufio.Writer {
	if sc.w == nil {
		sc.w = bufio.NewWriterSize(w, spillBuf)
	} else {
		sc.w.Reset(w)
	}
	return sc.w
}

// gather returns the scratch space's block set to b's rows in perm order.
func (sc *runScratch) gather(b *block, perm []int32, p *tablePlan) *block {
	if sc.sorted == nil {
		sc.sorted = newBlock(len(p.cols))
	}
	sc.pos = scatterSorted(b, perm, p, sc.sorted, sc.pos)
	return sc.sorted
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeBuckets writes b's rows grouped by bucket (perm and starts from
// bucketPerm) to a new spill file at path.
func writeBuckets(path string, b *block, perm, starts []int32, p *tablePlan, sc *runScratch) (bucketFile, error) {
	nb := len(starts) - 1
	bf := bucketFile{path: path, off: make([]int64, nb+1)}
	f, err := os.Create(path)
	if err != nil {
		return bf, fmt.Errorf("spill file: %w", err)
	}
	src := sc.gather(b, perm, p)
	cw := &countWriter{w: f}
	w := sc.writer(cw)
	for j := 0; j < nb; j++ {
		bf.off[j] = cw.n + int64(w.Buffered())
		for a := int(starts[j]); a < int(starts[j+1]); a += runBlockRows {
			src.writeRange(w, a, min(a+runBlockRows, int(starts[j+1])), p.kinds, p.present, &sc.enc)
		}
	}
	bf.off[nb] = cw.n + int64(w.Buffered())
	return bf, finishSpill(w, f)
}

// bucketRun serves a shard's bucketed rows (spill files and in-memory
// pieces) as one sorted run: bucket after bucket, each loaded from every
// piece and sorted.
type bucketRun struct {
	p        *tablePlan
	nb       int
	files    []bucketFile
	fh       []*os.File
	mem      []bucketMem
	limit    int64 // spill-encoded bytes of a bucket sorted in one piece
	fanIn    int
	progress func(string, ...any)
	dir      string
	shard    int
	j        int // the next bucket
	raw      *block
	sorted   *block
	sc       runScratch
	br       *bufio.Reader
	sec      pieceReader
	// an oversized bucket: its chunks' sorted runs, merged
	inner    *merger
	innerBlk *block
	chunks   int
	big      int // buckets sorted in chunks
}

// maxOpenSpills is the most spill files a shard's bucket run keeps open;
// with more (a very big input) each file is opened for each piece read,
// so two shards written at once stay well under the open-file limit.
const maxOpenSpills = 128

func newBucketRun(p *tablePlan, nb int, files []bucketFile, mem []bucketMem, limit int64, fanIn, maxOpen int, progress func(string, ...any), dir string, shard int) (*bucketRun, error) {
	r := &bucketRun{p: p, nb: nb, files: files, mem: mem, limit: limit, fanIn: fanIn, progress: progress, dir: dir, shard: shard,
		raw: newBlock(len(p.cols)), sorted: newBlock(len(p.cols))}
	if len(files) > maxOpen {
		return r, nil // opened piece by piece (loadPiece)
	}
	for _, bf := range files {
		f, err := os.Open(bf.path)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("spill file: %w", err)
		}
		r.fh = append(r.fh, f)
	}
	return r, nil
}

// pieceReader reads bytes off..end-1 of f (io.SectionReader without an
// allocation per piece).
type pieceReader struct {
	f        *os.File
	off, end int64
}

func (p *pieceReader) Read(b []byte) (int, error) {
	if p.off >= p.end {
		return 0, io.EOF
	}
	if int64(len(b)) > p.end-p.off {
		b = b[:p.end-p.off]
	}
	n, err := p.f.ReadAt(b, p.off)
	p.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// bucketBytes estimates bucket j's size in spill-encoded bytes.
func (r *bucketRun) bucketBytes(j int) int64 {
	var n int64
	for _, bf := range r.files {
		n += bf.off[j+1] - bf.off[j]
	}
	for _, m := range r.mem {
		if b, lo, hi := m.piece(j); hi > lo {
			n += int64(hi-lo) * b.bytes() / int64(max(b.n, 1))
		}
	}
	return n
}

// loadPiece appends bucket j of file i onto b.
func (r *bucketRun) loadPiece(b *block, i, j int) error {
	bf := r.files[i]
	if bf.off[j+1] == bf.off[j] {
		return nil
	}
	var f *os.File
	if r.fh != nil {
		f = r.fh[i]
	} else {
		var err error
		if f, err = os.Open(bf.path); err != nil {
			return fmt.Errorf("spill file: %w", err)
		}
		defer f.Close()
	}
	r.sec = pieceReader{f: f, off: bf.off[j], end: bf.off[j+1]}
	if r.br == nil {
		r.br = bufio.NewReaderSize(&r.sec, spillBuf)
	} else {
		r.br.Reset(&r.sec)
	}
	for {
		err := b.readFrom(r.br, r.p.kinds, r.p.present, &r.sc.enc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", bf.path, err)
		}
	}
}

func (r *bucketRun) next() (*block, int, int, error) {
	for {
		if r.inner != nil {
			r.innerBlk.reset()
			more, err := r.inner.segment(r.innerBlk, runBlockRows)
			if err != nil {
				return nil, 0, 0, err
			}
			if more {
				return r.innerBlk, 0, r.innerBlk.n, nil
			}
			r.inner.close()
			r.inner = nil
		}
		if r.j >= r.nb {
			return nil, 0, 0, io.EOF
		}
		j := r.j
		r.j++
		size := r.bucketBytes(j)
		if size == 0 {
			continue
		}
		if size > r.limit {
			r.big++
			if err := r.chunked(j); err != nil {
				return nil, 0, 0, err
			}
			continue
		}
		r.raw.reset()
		for i := range r.files {
			if err := r.loadPiece(r.raw, i, j); err != nil {
				return nil, 0, 0, err
			}
		}
		for _, m := range r.mem {
			b, lo, hi := m.piece(j)
			r.raw.appendRows(b, lo, hi, r.p.kinds, r.p.present)
		}
		if r.raw.n == 0 {
			continue
		}
		perm, inOrder := sortRun(r.raw, r.p, &r.sc)
		if inOrder {
			return r.raw, 0, r.raw.n, nil
		}
		r.sc.pos = scatterSorted(r.raw, perm, r.p, r.sorted, r.sc.pos)
		return r.sorted, 0, r.sorted.n, nil
	}
}

// chunked prepares bucket j, too big to sort at once: its pieces are read
// in chunks of about half the limit, each sorted into a run file, and the
// runs are merged.
func (r *bucketRun) chunked(j int) error {
	var runs []runSource
	fail := func(err error) error {
		for _, x := range runs {
			x.close()
		}
		return err
	}
	flush := func() error {
		if r.raw.n == 0 {
			return nil
		}
		r.chunks++
		path := filepath.Join(r.dir, fmt.Sprintf("s%05d-b%03d-c%06d.run", r.shard, j, r.chunks))
		if err := writeSortedRun(path, r.raw, false, r.p, &r.sc); err != nil {
			return err
		}
		fr, err := openFileRun(path, r.p)
		if err != nil {
			return err
		}
		runs = append(runs, fr)
		r.raw.reset()
		return nil
	}
	r.raw.reset()
	for i := range r.files {
		if err := r.loadPiece(r.raw, i, j); err != nil {
			return fail(err)
		}
		if r.raw.bytes() >= r.limit/2 {
			if err := flush(); err != nil {
				return fail(err)
			}
		}
	}
	for _, m := range r.mem {
		b, lo, hi := m.piece(j)
		r.raw.appendRows(b, lo, hi, r.p.kinds, r.p.present)
	}
	if err := flush(); err != nil {
		return fail(err)
	}
	runs, err := limitFanIn(runs, r.fanIn, r.p, r.dir, r.shard, fmt.Sprintf("-b%03d", j), r.progress)
	if err != nil {
		return err
	}
	m, err := newMerger(runs, r.p)
	if err != nil {
		for _, x := range runs {
			x.close()
		}
		return err
	}
	r.inner = m
	if r.innerBlk == nil {
		r.innerBlk = newBlock(len(r.p.cols))
	}
	return nil
}

// writeSortedRun writes b's rows as a run file, sorted first unless
// inOrder says they already are.
func writeSortedRun(path string, b *block, inOrder bool, p *tablePlan, sc *runScratch) error {
	src := b
	if !inOrder {
		perm, sorted := sortRun(b, p, sc)
		if !sorted {
			src = sc.gather(b, perm, p)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("spill file: %w", err)
	}
	w := sc.writer(f)
	for a := 0; a < src.n; a += runBlockRows {
		src.writeRange(w, a, min(a+runBlockRows, src.n), p.kinds, p.present, &sc.enc)
	}
	return finishSpill(w, f)
}

func (r *bucketRun) close() {
	if r.big > 0 {
		r.progress("extract %s: shard %d: %d of %d buckets held more than the %.1f MB sorted at once (a small memory budget, or a first spill unlike the rest of the data): sorted in %d chunks and merged",
			r.p.table, r.shard, r.big, r.nb, float64(r.limit)/1e6, r.chunks)
		r.big = 0
	}
	if r.inner != nil {
		r.inner.close()
		r.inner = nil
	}
	for _, f := range r.fh {
		f.Close()
	}
	for _, bf := range r.files {
		os.Remove(bf.path)
	}
	r.fh, r.files = nil, nil
	r.mem = nil
	r.raw, r.sorted = nil, nil
}
