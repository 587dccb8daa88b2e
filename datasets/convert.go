package datasets

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// quarantine collects bad rows of one table into <data_dir>/quarantine/<table>.csv.
type quarantine struct {
	mu        sync.Mutex
	path, tmp string
	f         *os.File
	bw        *bufio.Writer
	w         *csv.Writer
	n         int64
	first     qrow // the bad row with the smallest line
}

type qrow struct {
	file   string
	line   int64
	column string
	value  string
	reason string
}

func newQuarantine(path string) (*quarantine, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("quarantine folder: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("quarantine file: %w", err)
	}
	bw := bufio.NewWriter(f)
	w := csv.NewWriter(bw)
	w.Write([]string{"file", "line", "column", "value", "reason"})
	return &quarantine{path: path, tmp: tmp, f: f, bw: bw, w: w}, nil
}

func (q *quarantine) add(file string, line int64, column, value, reason string) {
	q.mu.Lock()
	q.n++
	if q.first.line == 0 || line < q.first.line {
		q.first = qrow{file, line, column, value, reason}
	}
	if q.w != nil {
		q.w.Write([]string{file, strconv.FormatInt(line, 10), column, value, reason})
	}
	q.mu.Unlock()
}

func (q *quarantine) count() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// finish writes the file in place (fsync, rename) or removes it when empty.
func (q *quarantine) finish() error {
	q.w.Flush()
	if err := q.bw.Flush(); err != nil {
		q.f.Close()
		return fmt.Errorf("quarantine file: %w", err)
	}
	if q.n == 0 {
		q.f.Close()
		os.Remove(q.tmp)
		os.Remove(q.path)
		return nil
	}
	if err := q.f.Sync(); err != nil {
		q.f.Close()
		return fmt.Errorf("quarantine file: %w", err)
	}
	if err := q.f.Close(); err != nil {
		return fmt.Errorf("quarantine file: %w", err)
	}
	return os.Rename(q.tmp, q.path)
}

func (q *quarantine) abort() { q.f.Close(); os.Remove(q.tmp) }

// colPlan says where one canonical column comes from.
type colPlan struct {
	col     Column
	present bool
	slot    int   // plain source column slot, -1 for an expression
	ex      *expr // expression over slots
	name    string
	tf      *timeFormat
}

// firstSlot is the column's source slot, or its expression's first one.
func (cp *colPlan) firstSlot() int {
	if cp.ex != nil {
		for _, o := range cp.ex.prog {
			if o.op == 'c' {
				return o.slot
			}
		}
	}
	return cp.slot
}

type filterPlan struct {
	f    Filter
	slot int
	in   map[string]bool
}

// tablePlan is the resolved mapping of one source onto a canonical table.
type tablePlan struct {
	table   Table
	key     string // sources.<table>
	spec    TableSpec
	src     *Source
	display string
	loc     *time.Location
	layout  string // configured layout, "" = auto
	slots   []int
	names   []string // source column name per slot
	cols    []colPlan
	kinds   []Kind
	present []bool
	filters []filterPlan
	custIdx int
	timeIdx int
	tfMu    sync.Mutex
	shards  int
}

func planTable(t Table, src *Source, display string, srcCols []string, shards int) (*tablePlan, error) {
	spec := Specs[t]
	p := &tablePlan{table: t, key: "sources." + string(t), spec: spec, src: src, display: display, shards: shards, timeIdx: -1}
	p.loc = time.UTC
	if src.TimeZone != "" {
		loc, err := time.LoadLocation(src.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("%s.time_zone: %w", p.key, err)
		}
		p.loc = loc
	}
	p.layout, _ = timeLayout(src.TimeFormat)
	slotOf := map[int]int{}
	slot := func(name, key string) (int, error) {
		ci := findColumn(srcCols, name)
		if ci < 0 {
			return 0, &InputError{File: display, Column: name, Msg: fmt.Sprintf("mapped by %s but not in the source (columns: %s)", key, strings.Join(srcCols, ", "))}
		}
		if s, ok := slotOf[ci]; ok {
			return s, nil
		}
		slotOf[ci] = len(p.slots)
		p.slots = append(p.slots, ci)
		p.names = append(p.names, srcCols[ci])
		return len(p.slots) - 1, nil
	}
	for i, c := range spec.Columns {
		cp := colPlan{col: c, slot: -1}
		p.kinds = append(p.kinds, c.Kind)
		if c.Name == "customer_id" {
			p.custIdx = i
		}
		if c.Name == spec.TimeCol {
			p.timeIdx = i
		}
		v := strings.TrimSpace(src.Columns[c.Name])
		if v != "" {
			cp.present = true
			key := p.key + ".columns." + c.Name
			if isExpr(v) {
				ex, err := parseExpr(v)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", key, err)
				}
				for k := range ex.prog {
					if ex.prog[k].op == 'c' {
						s, err := slot(ex.prog[k].col, key)
						if err != nil {
							return nil, err
						}
						ex.prog[k].slot = s
					}
				}
				cp.ex = ex
				cp.name = v
			} else {
				v = strings.Trim(v, "`")
				s, err := slot(v, key)
				if err != nil {
					return nil, err
				}
				cp.slot = s
				cp.name = p.names[s]
			}
		}
		p.cols = append(p.cols, cp)
		p.present = append(p.present, cp.present)
	}
	for i, f := range src.Filters {
		name := f.Column
		if findColumn(srcCols, name) < 0 {
			if m, ok := src.Columns[name]; ok && !isExpr(m) {
				name = m
			}
		}
		s, err := slot(name, fmt.Sprintf("%s.filters[%d].column", p.key, i))
		if err != nil {
			return nil, err
		}
		fp := filterPlan{f: f, slot: s}
		if len(f.In) > 0 {
			fp.in = map[string]bool{}
			for _, v := range f.In {
				fp.in[v] = true
			}
		}
		p.filters = append(p.filters, fp)
	}
	return p, nil
}

// findColumn resolves a mapped name: exact, then case-insensitive, then a
// 1-based position ("3" or "$3").
func findColumn(cols []string, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	for i, c := range cols {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(name, "$")); err == nil && n >= 1 && n <= len(cols) {
		return n - 1
	}
	return -1
}

// timeFormatFor returns column k's parser, recognising the format from the
// batch's values on first use.
func (p *tablePlan) timeFormatFor(k int, b *rawBatch, keep []bool) (*timeFormat, error) {
	p.tfMu.Lock()
	defer p.tfMu.Unlock()
	cp := &p.cols[k]
	if cp.tf != nil {
		return cp.tf, nil
	}
	rc := &b.cols[cp.slot]
	var sample [][]byte
	for r := 0; r < b.n && len(sample) < 1000; r++ {
		if keep[r] && !rc.isNull(r) {
			sample = append(sample, rc.text(r))
		}
	}
	if len(sample) == 0 {
		return nil, nil
	}
	if p.layout == "" {
		tf, ok := detectTimeFormat(sample, p.loc)
		if !ok {
			return nil, &InputError{File: p.display, Column: cp.name, Msg: fmt.Sprintf("cannot recognise the date format of values like %q; set %s.time_format (e.g. \"2006-01-02 15:04:05\" or \"%%d/%%m/%%Y\")", sample[0], p.key)}
		}
		cp.tf = tf
		return tf, nil
	}
	tf := newTimeFormat(p.layout, p.loc)
	ok := 0
	for _, v := range sample {
		if _, good := tf.parse(v); good {
			ok++
		}
	}
	if ok == 0 {
		return nil, &InputError{File: p.display, Column: cp.name, Msg: fmt.Sprintf("no value parses with %s.time_format %q (e.g. %q)", p.key, p.src.TimeFormat, sample[0])}
	}
	cp.tf = tf
	return tf, nil
}

// converter turns raw batches into canonical rows and partitions them into
// per-shard spill files. One per worker.
type converter struct {
	p        *tablePlan
	q        *quarantine
	spill    *spiller
	worker   int
	keep     []bool
	tmp      *block
	read     int64
	kept     int64
	bad      int64
	filtered []int64
	vals     []float64
	stack    []float64
	shard    []int32  // per row of a batch: its shard, -1 when not kept
	bufs     []*block // kept rows not yet spilled, per shard
	scratch  runScratch
	seen     *atomic.Int64 // rows read by all converters (progress)
}

func newConverter(p *tablePlan, q *quarantine, sp *spiller, worker int) *converter {
	c := &converter{p: p, q: q, spill: sp, worker: worker, tmp: newBlock(len(p.cols)), filtered: make([]int64, len(p.filters)),
		vals: make([]float64, len(p.slots))}
	for s := 0; s < p.shards; s++ {
		c.bufs = append(c.bufs, newBlock(len(p.cols)))
	}
	return c
}

func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func parseFloatRaw(rc *rawCol, r int) (v float64, null bool, ok bool) {
	switch rc.kind {
	case rawText:
		t := trimSpace(rc.text(r))
		if len(t) == 0 {
			return 0, true, true
		}
		if f, ok := parseDecimalFast(t); ok {
			return f, false, true
		}
		f, err := strconv.ParseFloat(bstr(t), 64)
		if err != nil {
			return 0, false, false
		}
		return f, false, true
	case rawFloat:
		return rc.f[r], rc.null[r], true
	default:
		return float64(rc.i[r]), rc.null[r], true
	}
}

// exactPow10 are the powers of ten a float64 holds exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseDecimalFast parses plain decimals ("-12.50", "3") of at most 15
// digits: the digits are an exact float64 and so is the power of ten, so
// one division gives the correctly rounded value, the same as
// strconv.ParseFloat. Anything else (exponents, more digits, "inf") is
// left to strconv (ok false).
func parseDecimalFast(b []byte) (float64, bool) {
	i, neg := 0, false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	var m uint64
	digits, frac := 0, -1
	for ; i < len(b); i++ {
		c := b[i]
		if c >= '0' && c <= '9' {
			m = m*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
			continue
		}
		if c == '.' && frac < 0 {
			frac = 0
			continue
		}
		return 0, false
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(m)
	if frac > 0 {
		f /= exactPow10[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

func (c *converter) reject(b *rawBatch, r int, slot int, reason string) {
	c.keep[r] = false
	c.bad++
	name, val := "", ""
	if slot >= 0 {
		name, val = c.p.names[slot], b.cols[slot].display(r)
	}
	c.q.add(c.p.display, b.line[r], name, val, reason)
}

func (c *converter) convert(b *rawBatch) error {
	p := c.p
	n := b.n
	c.read += int64(n)
	if c.seen != nil {
		c.seen.Add(int64(n))
	}
	if cap(c.keep) < n {
		c.keep = make([]bool, n)
	}
	c.keep = c.keep[:n]
	for r := range c.keep {
		c.keep[r] = true
	}
	// filters, in order; a row counts for the first rule it matches
	for fi := range p.filters {
		fp := &p.filters[fi]
		rc := &b.cols[fp.slot]
		for r := 0; r < n; r++ {
			if !c.keep[r] {
				continue
			}
			hit := false
			switch {
			case fp.f.Empty:
				hit = rc.isNull(r)
			case fp.f.StartsWith != "":
				hit = strings.HasPrefix(rawString(rc, r), fp.f.StartsWith)
			case fp.in != nil:
				hit = fp.in[rawString(rc, r)]
			default:
				v, null, ok := parseFloatRaw(rc, r)
				if ok && !null {
					f := fp.f
					hit = f.LT != nil && v < *f.LT || f.LE != nil && v <= *f.LE || f.GT != nil && v > *f.GT || f.GE != nil && v >= *f.GE
				}
			}
			if hit {
				c.keep[r] = false
				c.filtered[fi]++
			}
		}
	}
	t := c.tmp
	t.reset()
	t.line = append(t.line, b.line...)
	t.n = n
	for k := range p.cols {
		cp := &p.cols[k]
		if !cp.present {
			continue
		}
		d := &t.cols[k]
		d.null = append(d.null[:0], make([]bool, n)...)
		req := cp.col.Required
		switch cp.col.Kind {
		case String:
			rc := &b.cols[cp.slot]
			for r := 0; r < n; r++ {
				if c.keep[r] {
					switch rc.kind {
					case rawText:
						d.dat = appendShort(d.dat, trimSpace(rc.text(r)))
					case rawFloat:
						if !rc.null[r] {
							d.dat = strconv.AppendFloat(d.dat, rc.f[r], 'f', -1, 64)
						}
					default:
						if !rc.null[r] {
							d.dat = strconv.AppendInt(d.dat, rc.i[r], 10)
						}
					}
					if s := uint32(0); len(d.off) > 0 {
						s = d.off[len(d.off)-1]
						d.null[r] = uint32(len(d.dat)) == s
					} else {
						d.null[r] = len(d.dat) == 0
					}
					if d.null[r] && req {
						c.reject(b, r, cp.slot, "required value is empty")
					}
				}
				d.off = append(d.off, uint32(len(d.dat)))
			}
		case Float, Int:
			if cp.col.Kind == Float {
				d.f = append(d.f, make([]float64, n)...)
			} else {
				d.i = append(d.i, make([]int64, n)...)
			}
			for r := 0; r < n; r++ {
				if !c.keep[r] {
					continue
				}
				var v float64
				null := false
				if cp.ex != nil {
					for _, o := range cp.ex.prog {
						if o.op != 'c' {
							continue
						}
						x, nl, ok := parseFloatRaw(&b.cols[o.slot], r)
						if !ok {
							c.reject(b, r, o.slot, "not a number")
							break
						}
						null = null || nl
						c.vals[o.slot] = x
					}
					if !c.keep[r] {
						continue
					}
					if !null {
						v = cp.ex.eval(c.vals, c.stack)
					}
				} else {
					x, nl, ok := parseFloatRaw(&b.cols[cp.slot], r)
					if !ok {
						c.reject(b, r, cp.slot, "not a number")
						continue
					}
					v, null = x, nl
				}
				if null {
					if req {
						c.reject(b, r, cp.firstSlot(), "required value is empty")
					}
					d.null[r] = true
					continue
				}
				if math.IsNaN(v) || math.IsInf(v, 0) {
					c.reject(b, r, cp.slot, "not a finite number")
					continue
				}
				if cp.col.Kind == Float {
					d.f[r] = v
				} else {
					if v != math.Trunc(v) {
						c.reject(b, r, cp.slot, "not a whole number")
						continue
					}
					d.i[r] = int64(v)
				}
			}
		case Bool:
			d.i = append(d.i, make([]int64, n)...)
			rc := &b.cols[cp.slot]
			for r := 0; r < n; r++ {
				if !c.keep[r] {
					continue
				}
				if rc.kind != rawText {
					d.null[r] = rc.null[r]
					if rc.kind == rawFloat {
						d.i[r] = b2i(rc.f[r] != 0)
					} else {
						d.i[r] = b2i(rc.i[r] != 0)
					}
					continue
				}
				switch strings.ToLower(bstr(trimSpace(rc.text(r)))) {
				case "":
					d.null[r] = true
				case "1", "true", "t", "yes", "y":
					d.i[r] = 1
				case "0", "false", "f", "no", "n":
				default:
					c.reject(b, r, cp.slot, "not a boolean (true/false, 1/0, yes/no)")
				}
			}
		case Time:
			d.i = append(d.i, make([]int64, n)...)
			rc := &b.cols[cp.slot]
			var tf *timeFormat
			if rc.kind == rawText {
				var err error
				if tf, err = p.timeFormatFor(k, b, c.keep); err != nil {
					return err
				}
			}
			for r := 0; r < n; r++ {
				if !c.keep[r] {
					continue
				}
				if rc.isNull(r) {
					if req {
						c.reject(b, r, cp.slot, "required value is empty")
					}
					d.null[r] = true
					continue
				}
				switch rc.kind {
				case rawTime:
					d.i[r] = rc.i[r]
				case rawText:
					v, ok := tf.parse(rc.text(r))
					if !ok {
						c.reject(b, r, cp.slot, "not a date/time in format "+tf.name)
						continue
					}
					d.i[r] = v
				case rawInt:
					d.i[r] = rc.i[r] * 1e6 // unix seconds
				default:
					d.i[r] = int64(rc.f[r] * 1e6)
				}
			}
		}
	}
	// partition the kept rows by shard, column by column; sort and spill
	// them as runs when they reach the converter's share of the budget
	ids := &t.cols[p.custIdx]
	c.shard = resize(c.shard, n)
	for r := 0; r < n; r++ {
		if c.keep[r] {
			c.shard[r] = int32(shardOfBytes(ids.str(r), p.shards))
			c.kept++
		} else {
			c.shard[r] = -1
		}
	}
	for lo := 0; lo < n; lo += scatterRows {
		scatter(t, c.shard, lo, min(lo+scatterRows, n), c.bufs, p.kinds, p.present)
		total := int64(0)
		for _, sb := range c.bufs {
			total += sb.bytes()
		}
		if total < c.spill.runBytes {
			continue
		}
		for s, sb := range c.bufs {
			if sb.n == 0 {
				continue
			}
			if err := c.spill.spill(s, sb, c.bufs, p, &c.scratch); err != nil {
				return err
			}
			sb.reset()
		}
	}
	return nil
}

// scatterRows is how many rows of a batch are partitioned before the
// buffered bytes are checked against the budget.
const scatterRows = 4096

// scatter appends each row r (lo <= r < hi) of t with shard[r] >= 0 onto
// bufs[shard[r]].
func scatter(t *block, shard []int32, lo, hi int, bufs []*block, kinds []Kind, present []bool) {
	shard = shard[:hi]
	for r := lo; r < hi; r++ {
		if s := shard[r]; s >= 0 {
			b := bufs[s]
			b.line = append(b.line, t.line[r])
			b.n++
		}
	}
	for k, ok := range present {
		if !ok {
			continue
		}
		src := &t.cols[k]
		for r := lo; r < hi; r++ {
			if s := shard[r]; s >= 0 {
				d := &bufs[s].cols[k]
				d.null = append(d.null, src.null[r])
			}
		}
		switch kinds[k] {
		case Float:
			for r := lo; r < hi; r++ {
				if s := shard[r]; s >= 0 {
					d := &bufs[s].cols[k]
					d.f = append(d.f, src.f[r])
				}
			}
		case String:
			a := uint32(0)
			if lo > 0 {
				a = src.off[lo-1]
			}
			for r := lo; r < hi; r++ {
				e := src.off[r]
				if s := shard[r]; s >= 0 {
					d := &bufs[s].cols[k]
					d.dat = appendShort(d.dat, src.dat[a:e])
					d.off = append(d.off, uint32(len(d.dat)))
				}
				a = e
			}
		default:
			for r := lo; r < hi; r++ {
				if s := shard[r]; s >= 0 {
					d := &bufs[s].cols[k]
					d.i = append(d.i, src.i[r])
				}
			}
		}
	}
}

// flush keeps the rows still buffered in memory.
func (c *converter) flush() error {
	for s, sb := range c.bufs {
		if sb.n > 0 {
			c.spill.keep(s, sb, c.p)
		}
		c.bufs[s] = nil
	}
	c.scratch = runScratch{}
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func rawString(rc *rawCol, r int) string {
	if rc.kind == rawText {
		return bstr(trimSpace(rc.text(r)))
	}
	return rc.display(r)
}

// shardOfBytes is ShardOf over bytes, without allocating.
func shardOfBytes(id []byte, shards int) int {
	h := uint64(14695981039346656037)
	for _, c := range id {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return int(h % uint64(shards))
}

// spiller collects one table's runs per shard: sorted run files (rows
// that came in order) and bucketed spill files (rows that did not, see
// buckets.go) spilled while reading, and the rows left in memory at the
// end.
type spiller struct {
	dir         string
	shards      int
	runBytes    int64 // a converter spills its rows at this size
	bucketLimit int64 // the largest bucket sorted in one piece (spill-encoded bytes)
	mu          sync.Mutex
	files       [][]string     // per shard, sorted run files
	mem         [][]memRun     // per shard, sorted in-memory runs
	split       []*splitters   // per shard, bucket splitters (nil before the first bucketed spill)
	bfiles      [][]bucketFile // per shard, bucketed spill files
	bmem        [][]bucketMem  // per shard, bucketed rows kept in memory
	rows        []int64        // per shard
	seq         int
	fanIn       int // runs merged at once
	maxOpen     int // spill files a bucket run keeps open
	progress    func(string, ...any)
}

func newSpiller(dir string, shards int, runBytes, bucketLimit int64, fanIn int, progress func(string, ...any)) (*spiller, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("spill folder: %w", err)
	}
	return &spiller{dir: dir, shards: shards, runBytes: runBytes, bucketLimit: bucketLimit, fanIn: fanIn, progress: progress,
		files: make([][]string, shards), mem: make([][]memRun, shards), split: make([]*splitters, shards),
		bfiles: make([][]bucketFile, shards), bmem: make([][]bucketMem, shards), rows: make([]int64, shards)}, nil
}

// runScratch is one converter's reusable space for spilling runs.
type runScratch struct {
	sorted       *block
	pos, perm    []int32
	keys, keys2  []radixKey
	enc          []byte // spill encoding scratch
	bkt          []uint8
	starts, next []int32
	tl           []timeLine
	w            *bufio.Writer // spill-file writer
}

// spill writes b (rows of one shard): as a sorted run file when its rows
// come in (customer, time, line) order or nearly so (sorted first), else
// grouped into the shard's buckets. The first bucketed spill picks every
// shard's splitters, each from the rows of that shard in all (the
// converter's buffers, one per shard).
func (s *spiller) spill(shard int, b *block, all []*block, p *tablePlan, sc *runScratch) error {
	d := descents(b, p, mostlySorted(b.n))
	if d > mostlySorted(b.n) {
		s.mu.Lock()
		if s.split[shard] == nil {
			for i, sb := range all {
				if s.split[i] == nil {
					s.split[i] = pickSplitters(sb, p, bucketsPerShard)
				}
			}
		}
		sp := s.split[shard]
		s.mu.Unlock()
		perm, starts := bucketPerm(b, p, sp, sc)
		return s.writeBucketFile(shard, b, perm, starts, p, sc)
	}
	s.mu.Lock()
	s.seq++
	path := filepath.Join(s.dir, fmt.Sprintf("s%05d-r%06d.run", shard, s.seq))
	s.files[shard] = append(s.files[shard], path)
	s.rows[shard] += int64(b.n)
	s.mu.Unlock()
	return writeSortedRun(path, b, d == 0, p, sc)
}

// writeBucketFile writes a new bucketed spill file of shard's rows: b's
// rows in perm order, bucket j at positions starts[j]..starts[j+1].
func (s *spiller) writeBucketFile(shard int, b *block, perm, starts []int32, p *tablePlan, sc *runScratch) error {
	s.mu.Lock()
	s.seq++
	path := filepath.Join(s.dir, fmt.Sprintf("s%05d-r%06d.bkt", shard, s.seq))
	i := len(s.bfiles[shard]) // creation order, which breaks ties
	s.bfiles[shard] = append(s.bfiles[shard], bucketFile{path: path})
	s.rows[shard] += int64(b.n)
	s.mu.Unlock()
	bf, err := writeBuckets(path, b, perm, starts, p, sc)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.bfiles[shard][i] = bf
	s.mu.Unlock()
	return nil
}

// keep keeps b (rows of one shard, given up by the caller) in memory:
// grouped by bucket when the shard has spilled buckets, else sorted into an
// in-memory run.
func (s *spiller) keep(shard int, b *block, p *tablePlan) {
	s.mu.Lock()
	sp := s.split[shard]
	s.mu.Unlock()
	if sp != nil && descents(b, p, mostlySorted(b.n)) > mostlySorted(b.n) {
		sc := &runScratch{}
		perm, starts := bucketPerm(b, p, sp, sc)
		sb := newBlock(len(p.cols))
		scatterSorted(b, perm, p, sb, nil)
		s.mu.Lock()
		s.bmem[shard] = append(s.bmem[shard], bucketMem{b: sb, start: starts})
		s.rows[shard] += int64(sb.n)
		s.mu.Unlock()
		return
	}
	perm, inOrder := sortRun(b, p, &runScratch{})
	sb := b // the converter gives b up
	if !inOrder {
		sb = newBlock(len(p.cols))
		scatterSorted(b, perm, p, sb, nil)
	}
	s.mu.Lock()
	s.mem[shard] = append(s.mem[shard], memRun{b: sb, lo: 0, hi: sb.n})
	s.rows[shard] += int64(sb.n)
	s.mu.Unlock()
}

// spilled counts the spill files: sorted runs and bucketed spills.
func (s *spiller) spilled() (runs, buckets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.files {
		runs += len(s.files[i])
		buckets += len(s.bfiles[i])
	}
	return runs, buckets
}

// runs opens shard s's runs: the previous snapshot's file first (when
// given), then the run files in creation order, then the in-memory ones.
func (s *spiller) runs(ctx context.Context, shard int, p *tablePlan, prev string) ([]runSource, error) {
	var out []runSource
	fail := func(err error) ([]runSource, error) {
		for _, r := range out {
			r.close()
		}
		return nil, err
	}
	if prev != "" {
		r, err := openParquetRun(ctx, prev, p)
		if err != nil {
			return fail(err)
		}
		out = append(out, r)
	}
	for _, f := range s.files[shard] {
		r, err := openFileRun(f, p)
		if err != nil {
			return fail(err)
		}
		out = append(out, r)
	}
	s.mu.Lock()
	bfiles, bmem, sp := s.bfiles[shard], s.bmem[shard], s.split[shard]
	s.bfiles[shard], s.bmem[shard] = nil, nil
	s.mu.Unlock()
	if len(bfiles) > 0 || len(bmem) > 0 {
		br, err := newBucketRun(p, sp.buckets(), bfiles, bmem, s.bucketLimit, s.fanIn, s.maxOpen, s.progress, s.dir, shard)
		if err != nil {
			return fail(err)
		}
		out = append(out, br)
	}
	s.mu.Lock()
	for _, m := range s.mem[shard] {
		out = append(out, &m)
	}
	s.mem[shard] = nil
	s.mu.Unlock()
	return out, nil
}
