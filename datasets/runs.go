package datasets

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// A shard is written from runs: blocks of rows in (customer id, time,
// source line) order. Rows that arrive out of order are spilled into
// key-range buckets (buckets.go) and come back as one run, sorted bucket by
// bucket; rows that arrive in order (a sorted export) are spilled as sorted
// runs as they are; an incremental extract adds the previous snapshot's
// shard file as one more run. Writing a shard k-way merges its runs when
// there is more than one, so memory holds one block per run, never the
// whole shard.

// runBlockRows is the number of rows per block of a run file (what the merge
// holds in memory per run).
const runBlockRows = 8192

// spillBuf is the buffer size of run files' readers and writers (8 kB and
// 1 MB cost more system time on the 20M bench than 256 kB).
const spillBuf = 256 << 10

// runSource yields a run's rows block by block, in sorted order: rows
// lo..hi-1 of the block returned, valid until the next call.
type runSource interface {
	next() (b *block, lo, hi int, err error) // io.EOF after the last block
	close()
}

// memRun is a run held in memory: rows lo..hi-1 of a sorted block.
type memRun struct {
	b      *block
	lo, hi int
	done   bool
}

func (m *memRun) next() (*block, int, int, error) {
	if m.done || m.lo >= m.hi {
		return nil, 0, 0, io.EOF
	}
	m.done = true
	return m.b, m.lo, m.hi, nil
}

func (m *memRun) close() { m.b = nil }

// fileRun reads a run spilled to a file (blocks in writeTo encoding).
type fileRun struct {
	path    string
	f       *os.File
	r       *bufio.Reader
	b       *block
	kinds   []Kind
	present []bool
	scratch []byte
}

func openFileRun(path string, p *tablePlan) (*fileRun, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spill file: %w", err)
	}
	return &fileRun{path: path, f: f, r: bufio.NewReaderSize(f, spillBuf), b: newBlock(len(p.cols)), kinds: p.kinds, present: p.present}, nil
}

func (fr *fileRun) next() (*block, int, int, error) {
	fr.b.reset()
	err := fr.b.readFrom(fr.r, fr.kinds, fr.present, &fr.scratch)
	if errors.Is(err, io.EOF) {
		return nil, 0, 0, io.EOF
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", fr.path, err)
	}
	return fr.b, 0, fr.b.n, nil
}

func (fr *fileRun) close() {
	fr.f.Close()
	os.Remove(fr.path)
}

// parquetRun reads a previous snapshot's shard file (incremental extracts)
// row group by row group. Its rows' source line is 0, so at equal times they
// sort before new rows, in file order.
type parquetRun struct {
	path string
	rdr  *file.Reader
	rr   pqarrow.RecordReader
	b    *block
	p    *tablePlan
	idx  []int // file column of each present canonical column
}

func openParquetRun(ctx context.Context, path string, p *tablePlan) (*parquetRun, error) {
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: runBlockRows}, memory.DefaultAllocator)
	if err != nil {
		rdr.Close()
		return nil, fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	pr := &parquetRun{path: path, rdr: rdr, b: newBlock(len(p.cols)), p: p, idx: make([]int, len(p.cols))}
	schema, err := fr.Schema()
	if err != nil {
		rdr.Close()
		return nil, fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	for k, c := range p.spec.Columns {
		pr.idx[k] = -1
		if !p.present[k] {
			continue
		}
		ix := schema.FieldIndices(c.Name)
		if len(ix) == 0 {
			rdr.Close()
			return nil, fmt.Errorf("previous snapshot %s: no column %s", path, c.Name)
		}
		pr.idx[k] = ix[0]
	}
	if pr.rr, err = fr.GetRecordReader(ctx, nil, nil); err != nil {
		rdr.Close()
		return nil, fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	return pr, nil
}

func (pr *parquetRun) next() (*block, int, int, error) {
	for {
		rec, err := pr.rr.Read()
		if errors.Is(err, io.EOF) || err == nil && rec == nil {
			return nil, 0, 0, io.EOF
		}
		if err != nil {
			return nil, 0, 0, fmt.Errorf("previous snapshot %s: %w", pr.path, err)
		}
		if rec.NumRows() == 0 {
			continue
		}
		b := pr.b
		b.reset()
		n := int(rec.NumRows())
		b.line = append(b.line, make([]int64, n)...)
		for k, c := range pr.p.spec.Columns {
			if pr.idx[k] < 0 {
				continue
			}
			if err := appendArrow(&b.cols[k], rec.Column(pr.idx[k])); err != nil {
				return nil, 0, 0, fmt.Errorf("previous snapshot %s: column %s: %w", pr.path, c.Name, err)
			}
		}
		b.n = n
		return b, 0, n, nil
	}
}

func (pr *parquetRun) close() {
	pr.rr.Release()
	pr.rdr.Close()
}

// appendArrow appends an Arrow column's values onto d.
func appendArrow(d *colBuf, a arrow.Array) error {
	for i := 0; i < a.Len(); i++ {
		null := a.IsNull(i)
		d.null = append(d.null, null)
		switch a := a.(type) {
		case *array.String:
			if !null {
				d.dat = append(d.dat, a.Value(i)...)
			}
			d.off = append(d.off, uint32(len(d.dat)))
		case *array.Float64:
			d.f = append(d.f, a.Value(i))
		case *array.Int64:
			d.i = append(d.i, a.Value(i))
		case *array.Timestamp:
			d.i = append(d.i, int64(a.Value(i)))
		case *array.Boolean:
			d.i = append(d.i, b2i(a.Value(i)))
		default:
			return fmt.Errorf("type %s", a.DataType())
		}
	}
	return nil
}

// scatterSorted sets dst to all of src's rows in perm order, column by
// column, reading src sequentially and writing each row to its place
// (random writes are cheaper than the random reads of a gather). pos is
// scratch space, returned for reuse.
func scatterSorted(src *block, perm []int32, p *tablePlan, dst *block, pos []int32) []int32 {
	n := src.n
	pos = resize(pos, n)
	for j, r := range perm {
		pos[r] = int32(j)
	}
	dst.reset()
	dst.n = n
	dst.line = resize(dst.line, n)
	for r, j := range pos {
		dst.line[j] = src.line[r]
	}
	for k, ok := range p.present {
		if !ok {
			continue
		}
		s, d := &src.cols[k], &dst.cols[k]
		d.null = resize(d.null, n)
		for r, j := range pos {
			d.null[j] = s.null[r]
		}
		switch p.kinds[k] {
		case Float:
			d.f = resize(d.f, n)
			for r, j := range pos {
				d.f[j] = s.f[r]
			}
		case String:
			// gathered in sorted order, so a value of up to 8 bytes can
			// move as one 8-byte word: the bytes past its end are
			// overwritten by the values after it (which hold at least as
			// many bytes whenever the word fits)
			d.off = resize(d.off, n)
			total := uint32(0)
			if n > 0 {
				total = s.off[n-1]
			}
			d.dat = resize(d.dat, int(total))
			dd, sd := d.dat, s.dat
			e := uint32(0)
			for j, r := range perm {
				a := uint32(0)
				if r > 0 {
					a = s.off[r-1]
				}
				b := s.off[r]
				if l := b - a; l <= 8 && int(a)+8 <= len(sd) && int(e)+8 <= len(dd) {
					binary.LittleEndian.PutUint64(dd[e:], binary.LittleEndian.Uint64(sd[a:]))
				} else {
					copy(dd[e:], sd[a:b])
				}
				e += b - a
				d.off[j] = e
			}
		default:
			d.i = resize(d.i, n)
			for r, j := range pos {
				d.i[j] = s.i[r]
			}
		}
	}
	return pos
}

// appendRows copies rows lo..hi-1 of src (same layout) onto b.
func (b *block) appendRows(src *block, lo, hi int, kinds []Kind, present []bool) {
	if hi <= lo {
		return
	}
	if hi == lo+1 { // the merge's usual case: scalar appends, no copy calls
		b.appendRow(src, lo, kinds, present)
		return
	}
	b.line = append(b.line, src.line[lo:hi]...)
	for k, ok := range present {
		if !ok {
			continue
		}
		s, d := &src.cols[k], &b.cols[k]
		d.null = append(d.null, s.null[lo:hi]...)
		switch kinds[k] {
		case Float:
			d.f = append(d.f, s.f[lo:hi]...)
		case String:
			start := uint32(0)
			if lo > 0 {
				start = s.off[lo-1]
			}
			base := uint32(len(d.dat))
			d.dat = append(d.dat, s.dat[start:s.off[hi-1]]...)
			for _, o := range s.off[lo:hi] {
				d.off = append(d.off, o-start+base)
			}
		default:
			d.i = append(d.i, s.i[lo:hi]...)
		}
	}
	b.n += hi - lo
}

// dropFront removes b's first n rows.
func (b *block) dropFront(n int, kinds []Kind, present []bool) {
	if n <= 0 {
		return
	}
	m := b.n - n
	b.line = b.line[:copy(b.line, b.line[n:])]
	for k, ok := range present {
		if !ok {
			continue
		}
		c := &b.cols[k]
		c.null = c.null[:copy(c.null, c.null[n:])]
		switch kinds[k] {
		case Float:
			c.f = c.f[:copy(c.f, c.f[n:])]
		case String:
			start := c.off[n-1]
			c.dat = c.dat[:copy(c.dat, c.dat[start:])]
			c.off = c.off[:copy(c.off, c.off[n:])]
			for i := range c.off {
				c.off[i] -= start
			}
		default:
			c.i = c.i[:copy(c.i, c.i[n:])]
		}
	}
	b.n = m
}

// merger k-way merges sorted runs by (customer id, time, line, run order).
// Each run's head row key is cached so heap comparisons are mostly one
// integer compare.
type merger struct {
	p     *tablePlan
	runs  []runSource
	cur   []*block
	pos   []int
	end   []int
	heads []headKey
	heap  []int // run indexes, a binary min-heap
	hasT  bool
	lastC []byte
}

// headKey is the sort key of a run's head row.
type headKey struct {
	pre  uint64 // the customer id's first 8 bytes, big-endian, zero-padded
	id   []byte
	t    int64
	line int64
}

func idPrefix(id []byte) uint64 {
	if len(id) >= 8 {
		return binary.BigEndian.Uint64(id)
	}
	var v uint64
	for _, c := range id {
		v = v<<8 | uint64(c)
	}
	return v << (8 * (8 - len(id)))
}

func (m *merger) key(b *block, r int) headKey {
	id := b.cols[m.p.custIdx].str(r)
	k := headKey{pre: idPrefix(id), id: id, line: b.line[r]}
	if m.hasT {
		k.t = rowTime(b, m.p.timeIdx, r)
	}
	return k
}

func cmpKeys(x, y *headKey) int {
	if x.pre != y.pre {
		if x.pre < y.pre {
			return -1
		}
		return 1
	}
	if len(x.id) > 8 || len(y.id) > 8 || len(x.id) != len(y.id) {
		if c := bytes.Compare(x.id, y.id); c != 0 {
			return c
		}
	}
	if x.t != y.t {
		if x.t < y.t {
			return -1
		}
		return 1
	}
	if x.line != y.line {
		if x.line < y.line {
			return -1
		}
		return 1
	}
	return 0
}

func newMerger(runs []runSource, p *tablePlan) (*merger, error) {
	m := &merger{p: p, runs: runs, cur: make([]*block, len(runs)), pos: make([]int, len(runs)), end: make([]int, len(runs)), heads: make([]headKey, len(runs)), hasT: p.timeIdx >= 0 && p.present[p.timeIdx]}
	for i, r := range runs {
		b, lo, hi, err := r.next()
		if errors.Is(err, io.EOF) {
			continue
		}
		if err != nil {
			return nil, err
		}
		m.cur[i], m.pos[i], m.end[i] = b, lo, hi
		m.heads[i] = m.key(b, lo)
		m.heap = append(m.heap, i)
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return m, nil
}

// less compares the head rows of runs a and b.
func (m *merger) less(a, b int) bool {
	if c := cmpKeys(&m.heads[a], &m.heads[b]); c != 0 {
		return c < 0
	}
	return a < b
}

func rowTime(b *block, k, r int) int64 {
	c := &b.cols[k]
	if c.null[r] {
		return math.MinInt64
	}
	return c.i[r]
}

func (m *merger) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		s := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			s = r
		}
		if !m.less(h[s], h[i]) {
			return
		}
		h[i], h[s] = h[s], h[i]
		i = s
	}
}

// advance moves run h[0] past its taken rows, loading its next block or
// dropping it at its end.
func (m *merger) advance() error {
	i := m.heap[0]
	if m.pos[i] >= m.end[i] {
		b, lo, hi, err := m.runs[i].next()
		if errors.Is(err, io.EOF) {
			m.cur[i] = nil
			last := len(m.heap) - 1
			m.heap[0] = m.heap[last]
			m.heap = m.heap[:last]
			if len(m.heap) > 0 {
				m.down(0)
			}
			return nil
		}
		if err != nil {
			return err
		}
		m.cur[i], m.pos[i], m.end[i] = b, lo, hi
	}
	m.heads[i] = m.key(m.cur[i], m.pos[i])
	m.down(0)
	return nil
}

// segment appends the next rows in merged order onto seg: at least minRows
// (unless the runs end first) and then up to the end of the last customer,
// so seg holds whole customers. The segment boundaries depend only on the
// merged row sequence, never on how the rows were split into runs. It
// returns false when the runs are exhausted and nothing was added.
func (m *merger) segment(seg *block, minRows int) (bool, error) {
	p := m.p
	ci := p.custIdx
	closing := false
	for len(m.heap) > 0 {
		i := m.heap[0]
		b, pos := m.cur[i], m.pos[i]
		if !closing && seg.n >= minRows {
			closing = true
			m.lastC = append(m.lastC[:0], seg.cols[ci].str(seg.n-1)...)
		}
		// take a range of run i's rows: they all stay at or before the
		// runner-up head, and (when closing) belong to the last customer
		end := pos + 1
		var lim int
		if closing {
			if !bytes.Equal(b.cols[ci].str(pos), m.lastC) {
				break
			}
			lim = m.end[i]
		} else {
			lim = min(m.end[i], pos+minRows-seg.n)
		}
		second := -1
		if len(m.heap) > 1 {
			second = m.heap[1]
			if len(m.heap) > 2 && m.less(m.heap[2], second) {
				second = m.heap[2]
			}
		}
		for end < lim {
			if closing && !bytes.Equal(b.cols[ci].str(end), m.lastC) {
				break
			}
			if second >= 0 {
				sk := &m.heads[second]
				id := b.cols[ci].str(end)
				if pre := idPrefix(id); pre > sk.pre {
					break
				} else if pre == sk.pre {
					k := m.key(b, end)
					if c := cmpKeys(&k, sk); c > 0 || c == 0 && i > second {
						break
					}
				}
			}
			end++
		}
		seg.appendRows(b, pos, end, p.kinds, p.present)
		m.pos[i] = end
		if err := m.advance(); err != nil {
			return false, err
		}
	}
	return seg.n > 0, nil
}

func (m *merger) close() {
	for _, r := range m.runs {
		r.close()
	}
}

// maxFanIn is the most runs merged at once; more are first merged into
// bigger runs, the earliest runs first (so run order, which breaks ties,
// is kept).
const maxFanIn = 64

// limitFanIn merges runs fanIn at a time into run files under dir until
// at most fanIn remain. tag keeps the files' names apart from those of
// other merges of the same shard that are open at the same time.
func limitFanIn(runs []runSource, fanIn int, p *tablePlan, dir string, shard int, tag string, progress func(string, ...any)) ([]runSource, error) {
	if len(runs) > fanIn {
		progress("extract %s: shard %d has %d sorted runs; merging them %d at a time", p.table, shard, len(runs), fanIn)
	}
	for n := 0; len(runs) > fanIn; n++ {
		group := runs[:fanIn]
		path := filepath.Join(dir, fmt.Sprintf("s%05d%s-m%06d.run", shard, tag, n))
		if err := mergeToFile(group, p, path); err != nil {
			for _, r := range runs[fanIn:] {
				r.close()
			}
			return nil, err
		}
		fr, err := openFileRun(path, p)
		if err != nil {
			for _, r := range runs[fanIn:] {
				r.close()
			}
			return nil, err
		}
		runs = append([]runSource{fr}, runs[fanIn:]...)
	}
	return runs, nil
}

// mergeToFile merges runs (closing them) into one run file.
func mergeToFile(runs []runSource, p *tablePlan, path string) error {
	m, err := newMerger(runs, p)
	if err != nil {
		for _, r := range runs {
			r.close()
		}
		return err
	}
	defer m.close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("spill file: %w", err)
	}
	w := bufio.NewWriterSize(f, spillBuf)
	b := newBlock(len(p.cols))
	var scratch []byte
	for {
		b.reset()
		more, err := m.segment(b, runBlockRows)
		if err != nil {
			f.Close()
			return err
		}
		if !more {
			break
		}
		b.writeTo(w, p.kinds, p.present, &scratch)
	}
	return finishSpill(w, f)
}

// finishSpill flushes a spill file's writer and closes the file.
func finishSpill(w *bufio.Writer, f *os.File) error {
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("spill file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("spill file: %w", err)
	}
	return nil
}
