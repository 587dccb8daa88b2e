package features

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/retainlab/retain/datasets"
)

const (
	dayUS   = int64(24 * time.Hour / time.Microsecond)
	weekUS  = 7 * dayUS
	monthUS = int64(30.4375 * float64(dayUS))
)

// Options control a build.
type Options struct {
	// Cutoffs are the as-of times D (at least one). Only records dated
	// strictly before D feed the features of cutoff D.
	Cutoffs []time.Time
	// Churn defines population and label (defaults: orders, 90d, no lookback).
	Churn ChurnConfig
	// Workers is how many shards are processed at once (default GOMAXPROCS).
	Workers int
	// Progress, when set, is called after each shard (from any goroutine,
	// serialised).
	Progress func(doneShards, totalShards int)
}

// Frame is a built (or read) features table in column-major form: X[j][i] is
// feature j of row i, NaN marks null. Rows are ordered by cutoff, then shard,
// then customer_id.
type Frame struct {
	Names    []string      // feature names, len(X)
	Registry []Def         // one per feature, same order
	IDs      []string      // customer_id per row
	Cutoffs  []time.Time   // cutoff per row (UTC)
	X        [][]float64   // column-major features
	Labels   []float64     // churned 0/1 per row, NaN when the horizon is not observable
	Horizon  time.Duration // churn horizon the labels use
	Kind     string        // churn kind (orders or subscriptions)
	// ObservedUntil is the latest record time of the label table: labels of a
	// cutoff D are known when D+horizon <= ObservedUntil.
	ObservedUntil time.Time
}

// Rows is the number of rows.
func (f *Frame) Rows() int { return len(f.IDs) }

// Column returns feature name's column, or nil.
func (f *Frame) Column(name string) []float64 {
	for j, n := range f.Names {
		if n == name {
			return f.X[j]
		}
	}
	return nil
}

// Categorical reports per feature whether it holds category codes.
func (f *Frame) Categorical() []bool {
	out := make([]bool, len(f.Registry))
	for j, d := range f.Registry {
		out[j] = d.Kind == Categorical
	}
	return out
}

// snapshotTables discovers which tables a snapshot holds and its shard count.
func snapshotTables(dir string) (present map[datasets.Table]bool, shards int, err error) {
	present = map[datasets.Table]bool{}
	for _, t := range datasets.Tables {
		parts, _ := filepath.Glob(filepath.Join(dir, string(t), "part-*.parquet"))
		if len(parts) == 0 {
			continue
		}
		present[t] = true
		if len(parts) > shards {
			shards = len(parts)
		}
	}
	if shards == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, 0, fmt.Errorf("features: no snapshot at %s (run retain extract first): %w", dir, err)
		}
		return nil, 0, fmt.Errorf("features: snapshot %s holds no table shards (run retain extract first)", dir)
	}
	return present, shards, nil
}

// layout is the column layout of the fixed features of one build.
type layout struct {
	groups  []group
	base    map[datasets.Table]int // first column of each present group
	profile int
	nFixed  int
	defs    []Def
	fams    [famN]family
	hasFam  [famN]bool
	// first column of each table's group, -1 when absent (base without
	// a map lookup per customer)
	ordBase, subBase, evBase, tkBase, svBase, cuBase int
}

func newLayout(present map[datasets.Table]bool) *layout {
	l := &layout{base: map[datasets.Table]int{}, fams: families()}
	for _, g := range groups() {
		if g.table != "" && !present[g.table] {
			continue
		}
		if g.table == "" {
			l.profile = l.nFixed
		} else {
			l.base[g.table] = l.nFixed
		}
		l.groups = append(l.groups, g)
		l.defs = append(l.defs, g.defs...)
		l.nFixed += len(g.defs)
	}
	for f := range l.fams {
		l.hasFam[f] = present[l.fams[f].table]
	}
	at := func(t datasets.Table) int {
		if b, ok := l.base[t]; ok {
			return b
		}
		return -1
	}
	l.ordBase, l.subBase, l.evBase = at(datasets.Orders), at(datasets.Subscriptions), at(datasets.Events)
	l.tkBase, l.svBase, l.cuBase = at(datasets.Tickets), at(datasets.Surveys), at(datasets.Customers)
	return l
}

// Build computes the features of every eligible customer at every cutoff
// from the snapshot in dir (datasets' snapshot layout). Shards are processed
// in parallel, each in one sequential pass over its (customer, time)-sorted
// rows; memory is bounded by the shards in flight plus the output.
func Build(ctx context.Context, dir string, opts Options) (*Frame, error) {
	if len(opts.Cutoffs) == 0 {
		return nil, badConfigf("features: at least one cutoff (as-of date) is required")
	}
	if err := opts.Churn.Validate(); err != nil {
		return nil, err
	}
	present, shards, err := snapshotTables(dir)
	if err != nil {
		return nil, err
	}
	kind := opts.Churn.KindOrDefault()
	labelTable := datasets.Orders
	if kind == KindSubscriptions {
		labelTable = datasets.Subscriptions
	}
	if !present[labelTable] {
		return nil, badConfigf("features: churn.kind %s needs the %s table, which snapshot %s does not hold", kind, labelTable, dir)
	}
	cut := make([]int64, len(opts.Cutoffs))
	for i, c := range opts.Cutoffs {
		cut[i] = c.UTC().UnixMicro()
	}
	sort.Slice(cut, func(a, b int) bool { return cut[a] < cut[b] })
	for i := 1; i < len(cut); i++ {
		if cut[i] == cut[i-1] {
			return nil, badConfigf("features: cutoff %s given twice", time.UnixMicro(cut[i]).UTC().Format(time.DateOnly))
		}
	}
	lay := newLayout(present)
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	spec := buildSpec{
		dir: dir, present: present, lay: lay, cutoffs: cut, kind: kind,
		horizon:  int64(opts.Churn.HorizonDuration() / time.Microsecond),
		lookback: int64(opts.Churn.LookbackDuration() / time.Microsecond),
	}
	// The label table's customers bound the rows a shard can give (one per
	// customer and cutoff): read their ids first, so the frame's columns are
	// allocated once and every shard writes its rows straight into its
	// reserved range of them (assemble closes the gaps).
	pre := make([]*labelIDs, shards)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for s := 0; s < shards; s++ {
		g.Go(func() error {
			var err error
			pre[s], err = readLabelIDs(gctx, &spec, labelTable, s)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	dst := newFrameDst(lay.nFixed, len(cut), pre)
	outs := make([]*shardOut, shards)
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(workers)
	var mu sync.Mutex
	done := 0
	pool := make(chan *worker, workers)
	for s := 0; s < shards; s++ {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			o, err := buildShard(gctx, &spec, s, pool, pre[s], dst)
			pre[s] = nil
			if err != nil {
				return err
			}
			outs[s] = o
			if opts.Progress != nil {
				mu.Lock()
				done++
				opts.Progress(done, shards)
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	f := assemble(&spec, outs, dst, workers, opts.Churn.HorizonDuration())
	// The workers' column buffers (hundreds of MB on a large snapshot) are
	// garbage now: collect them, so writing the file reuses their memory
	// instead of growing the heap into fresh pages.
	pool, outs, dst = nil, nil, nil
	runtime.GC()
	return f, nil
}

// labelIDs are the customer ids and runs of one shard of the label table
// (nil when the shard has no such file), and per cutoff how many of its
// customers can be eligible there.
type labelIDs struct {
	ids  strCol
	runs []int32
	// perCut[k] bounds the shard's rows at cutoff k: with several cutoffs,
	// the customers with a record dated before it (eligibility needs one),
	// else all customers.
	perCut []int
}

func (p *labelIDs) customers() int {
	if p == nil || len(p.runs) == 0 {
		return 0
	}
	return len(p.runs) - 1
}

func readLabelIDs(ctx context.Context, spec *buildSpec, t datasets.Table, s int) (*labelIDs, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := datasets.ShardPath(spec.dir, t, s)
	if _, err := os.Stat(p); err != nil {
		return nil, nil // a shard with no rows of this table
	}
	r, err := openShard(p, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := &labelIDs{}
	if out.ids, out.runs, err = r.idRuns("customer_id", out.ids, out.runs); err != nil {
		return nil, err
	}
	out.perCut = make([]int, len(spec.cutoffs))
	if len(spec.cutoffs) == 1 {
		out.perCut[0] = out.customers()
		return out, nil
	}
	// Several cutoffs: an early one may see few customers, so reserve only
	// those with a record before it (the time column is read once more by
	// the build).
	ts, err := r.times(datasets.Specs[t].TimeCol, nil)
	if err != nil {
		return nil, err
	}
	if len(ts) != r.rows || int(out.runs[len(out.runs)-1]) != r.rows {
		return nil, fmt.Errorf("features: %s: columns have %d and %d rows, the file %d", r.path, len(ts), out.runs[len(out.runs)-1], r.rows)
	}
	for k := 0; k+1 < len(out.runs); k++ {
		first := int64(noTime)
		for _, x := range ts[out.runs[k]:out.runs[k+1]] {
			first = min(first, x)
		}
		for c, D := range spec.cutoffs {
			if first < D {
				out.perCut[c]++
			}
		}
	}
	return out, nil
}

// frameDst is the frame's fixed columns, ids and labels, allocated before
// the shards run: rows of cutoff k and shard s go from start[k][s] on, at
// most bound[k][s] of them (cutoff-major, then shard order).
type frameDst struct {
	start  [][]int
	bound  [][]int
	x      [][]float64
	ids    []string
	labels []float64
}

func newFrameDst(nFixed, cutoffs int, pre []*labelIDs) *frameDst {
	d := &frameDst{start: make([][]int, cutoffs), bound: make([][]int, cutoffs)}
	n := 0
	for k := range cutoffs {
		d.start[k] = make([]int, len(pre))
		d.bound[k] = make([]int, len(pre))
		for s, p := range pre {
			d.start[k][s] = n
			if p != nil {
				d.bound[k][s] = p.perCut[k]
			}
			n += d.bound[k][s]
		}
	}
	d.x = make([][]float64, nFixed)
	for j := range d.x {
		d.x[j] = make([]float64, n)
	}
	d.ids = make([]string, n)
	// Write the ids' fresh pages now: the GC scans this array while the
	// shards fill it, and a page it reads first is mapped to the shared
	// zero page, so the shard's later write takes a second fault that
	// flushes the TLB of every CPU (do_wp_page in the profile).
	clear(d.ids)
	d.labels = make([]float64, n)
	return d
}

type buildSpec struct {
	dir      string
	present  map[datasets.Table]bool
	lay      *layout
	cutoffs  []int64
	kind     string
	horizon  int64
	lookback int64
}

// block is the output of one shard for one cutoff besides its rows in the
// frameDst.
type block struct {
	n   int           // rows
	fam [][][]float64 // per family: per (local category × sub) column
}

// shardOut is one shard's output.
type shardOut struct {
	blocks   []block
	catNames [][]string // per fixed column: local category names (nil for numeric)
	famNames [famN][]string
	maxTime  int64 // latest record time of the label table in this shard
}

// tableCols holds one table's columns of a shard.
type tableCols struct {
	n    int
	ids  strCol
	runs []int32 // run starts per customer, plus n
	// ids holds one id per run (ids.bytes(k) is run k's customer)
	t []int64 // the table's time column
	// lastMax is the latest time among the runs' last rows (nulls left
	// out); math.MinInt64 when there is none. Not for customers.
	lastMax int64
}

func (tc *tableCols) load(ctx context.Context, r *shardReader, t datasets.Table, pre *labelIDs) error {
	var err error
	tc.n = r.rows
	if pre != nil {
		tc.ids, tc.runs = pre.ids, pre.runs
	} else if tc.ids, tc.runs, err = r.idRuns("customer_id", tc.ids, tc.runs); err != nil {
		return err
	}
	if tc.t, err = r.times(datasets.Specs[t].TimeCol, tc.t); err != nil {
		return err
	}
	if len(tc.t) != tc.n || int(tc.runs[len(tc.runs)-1]) != tc.n {
		return fmt.Errorf("features: %s: columns have %d and %d rows, the file %d", r.path, len(tc.t), tc.runs[len(tc.runs)-1], tc.n)
	}
	tc.lastMax = math.MinInt64
	if t == datasets.Customers {
		return nil
	}
	for k := 0; k+1 < len(tc.runs); k++ {
		prev := int64(math.MinInt64)
		for _, x := range tc.t[tc.runs[k]:tc.runs[k+1]] {
			if x < prev {
				return badConfigf("features: %s is not sorted by (customer_id, %s) for customer %q: re-run retain extract", r.path, datasets.Specs[t].TimeCol, tc.ids.bytes(k))
			}
			prev = x
		}
		// prev is the run's last time (runs are never empty)
		if prev != noTime && prev > tc.lastMax {
			tc.lastMax = prev
		}
	}
	return nil
}

func (tc *tableCols) nRuns() int { return len(tc.runs) - 1 }

func (tc *tableCols) base() *tableCols { return tc }

type ordersCols struct {
	tableCols
	amount, qty, discount      []float64
	lines                      []float64
	returned                   []int8
	product, category, channel []int32
}

type eventsCols struct {
	tableCols
	typ []int32
}

type ticketsCols struct {
	tableCols
	closed   []int64
	priority []int32
}

type surveysCols struct {
	tableCols
	nps, csat, ces []float64
}

type subsCols struct {
	tableCols
	ended          []int64
	plan           []int32
	mrr, failedPay []float64
}

type customersCols struct {
	tableCols
	country, segment, acq, gender []int32
	birthYear                     []float64
}

// worker holds one shard's columns, interners and scratch space.
type worker struct {
	spec *buildSpec
	ord  *ordersCols
	ev   *eventsCols
	tk   *ticketsCols
	sv   *surveysCols
	sub  *subsCols
	cu   *customersCols

	products, categories, channels, eventTypes, plans, priorities *interner
	countries, segments, acqs, genders                            *interner
	urgent                                                        []bool

	gen                  uint32
	seenProd, seenCat    []uint32
	seenChan             []uint32
	chanCount            []int32
	touchedCh            []int32 // orders' channels of the customer (scratch)
	evSeen               []uint32
	evCount30, evCount90 []float64
	row                  []float64
	famRow               [famN][]float64

	// pre holds the ids and runs of the shard's preTable (the label table),
	// read before the build.
	pre      *labelIDs
	preTable datasets.Table
	// alloc recycles the page readers' buffers across column chunks.
	alloc *recycler

	// keep holds the column buffers of the previous shard for reuse.
	keep struct {
		ord *ordersCols
		ev  *eventsCols
		tk  *ticketsCols
		sv  *surveysCols
		sub *subsCols
		cu  *customersCols
	}
}

func (w *worker) open(t datasets.Table, s int) (*shardReader, error) {
	if !w.spec.present[t] {
		return nil, nil
	}
	p := datasets.ShardPath(w.spec.dir, t, s)
	if _, err := os.Stat(p); err != nil {
		return nil, nil // a shard with no rows of this table
	}
	if w.alloc == nil {
		w.alloc = &recycler{}
	}
	return openShard(p, w.alloc)
}

// colLoader reads the columns of one table's shard file, stopping at the
// first error.
type colLoader struct {
	ctx context.Context
	r   *shardReader
	err error
}

// check turns a column that read a different number of values than the
// file has rows into an error.
func (c *colLoader) check(name string, n int) {
	if c.err == nil && n != c.r.rows {
		c.err = fmt.Errorf("features: %s: column %s has %d values, the file %d rows", c.r.path, name, n, c.r.rows)
	}
}

func (c *colLoader) floats(name string, dst *[]float64) {
	if c.err == nil {
		*dst, c.err = c.r.floats(name, *dst)
		c.check(name, len(*dst))
	}
}

func (c *colLoader) times(name string, dst *[]int64) {
	if c.err == nil {
		*dst, c.err = c.r.times(name, *dst)
		c.check(name, len(*dst))
	}
}

func (c *colLoader) codes(name string, in *interner, dst *[]int32) {
	if c.err == nil {
		*dst, c.err = c.r.codes(c.ctx, name, in, *dst)
		c.check(name, len(*dst))
	}
}

func (c *colLoader) bools(name string, dst *[]int8) {
	if c.err == nil {
		*dst, c.err = c.r.bools(c.ctx, name, *dst)
		c.check(name, len(*dst))
	}
}

// loadTable reads shard s of table t into *keep (allocated on first use and
// reused for later shards): ids, runs and the time column, then the table's
// own columns through cols. It returns nil when the shard has no such file.
func loadTable[T any, PT interface {
	*T
	base() *tableCols
}](ctx context.Context, w *worker, t datasets.Table, s int, keep *PT, cols func(PT, *colLoader)) (PT, error) {
	r, err := w.open(t, s)
	if err != nil || r == nil {
		return nil, err
	}
	defer r.Close()
	if *keep == nil {
		*keep = new(T)
	}
	x := *keep
	var pre *labelIDs
	if t == w.preTable {
		pre = w.pre
	}
	if err := x.base().load(ctx, r, t, pre); err != nil {
		return nil, err
	}
	c := &colLoader{ctx: ctx, r: r}
	cols(x, c)
	if c.err != nil {
		return nil, c.err
	}
	return x, nil
}

func (w *worker) load(ctx context.Context, s int) error {
	w.products, w.categories, w.channels = newInterner(), newInterner(), newInterner()
	w.eventTypes, w.plans, w.priorities = newInterner(), newInterner(), newInterner()
	w.countries, w.segments, w.acqs, w.genders = newInterner(), newInterner(), newInterner(), newInterner()
	var err error
	if w.ord, err = loadTable(ctx, w, datasets.Orders, s, &w.keep.ord, func(o *ordersCols, c *colLoader) {
		c.floats("amount", &o.amount)
		c.floats("quantity", &o.qty)
		c.floats("lines", &o.lines)
		c.floats("discount", &o.discount)
		c.bools("returned", &o.returned)
		c.codes("product", w.products, &o.product)
		c.codes("category", w.categories, &o.category)
		c.codes("channel", w.channels, &o.channel)
	}); err != nil {
		return err
	}
	if w.ev, err = loadTable(ctx, w, datasets.Events, s, &w.keep.ev, func(e *eventsCols, c *colLoader) {
		c.codes("event_type", w.eventTypes, &e.typ)
	}); err != nil {
		return err
	}
	if w.tk, err = loadTable(ctx, w, datasets.Tickets, s, &w.keep.tk, func(tk *ticketsCols, c *colLoader) {
		c.times("closed_at", &tk.closed)
		c.codes("priority", w.priorities, &tk.priority)
	}); err != nil {
		return err
	}
	if w.sv, err = loadTable(ctx, w, datasets.Surveys, s, &w.keep.sv, func(sv *surveysCols, c *colLoader) {
		c.floats("nps", &sv.nps)
		c.floats("csat", &sv.csat)
		c.floats("ces", &sv.ces)
	}); err != nil {
		return err
	}
	if w.sub, err = loadTable(ctx, w, datasets.Subscriptions, s, &w.keep.sub, func(sb *subsCols, c *colLoader) {
		c.times("ended_at", &sb.ended)
		c.codes("plan", w.plans, &sb.plan)
		c.floats("mrr", &sb.mrr)
		c.floats("failed_payments", &sb.failedPay)
	}); err != nil {
		return err
	}
	if w.cu, err = loadTable(ctx, w, datasets.Customers, s, &w.keep.cu, func(cu *customersCols, c *colLoader) {
		c.codes("country", w.countries, &cu.country)
		c.codes("segment", w.segments, &cu.segment)
		c.codes("acquisition_channel", w.acqs, &cu.acq)
		c.codes("gender", w.genders, &cu.gender)
		c.floats("birth_year", &cu.birthYear)
	}); err != nil {
		return err
	}
	w.seenProd = make([]uint32, len(w.products.names))
	w.seenCat = make([]uint32, len(w.categories.names))
	w.seenChan = make([]uint32, len(w.channels.names))
	w.chanCount = make([]int32, len(w.channels.names))
	w.evSeen = make([]uint32, len(w.eventTypes.names))
	w.evCount30 = make([]float64, len(w.eventTypes.names))
	w.evCount90 = make([]float64, len(w.eventTypes.names))
	w.urgent = make([]bool, len(w.priorities.names))
	for i, p := range w.priorities.names {
		p = strings.ToLower(strings.TrimSpace(p))
		w.urgent[i] = p == "high" || p == "urgent" || p == "critical"
	}
	return nil
}

func buildShard(ctx context.Context, spec *buildSpec, s int, pool chan *worker, pre *labelIDs, dst *frameDst) (*shardOut, error) {
	var w *worker
	select {
	case w = <-pool:
	default:
		w = &worker{spec: spec}
	}
	defer func() {
		select {
		case pool <- w:
		default:
		}
	}()
	w.pre, w.preTable = pre, datasets.Orders
	if spec.kind == KindSubscriptions {
		w.preTable = datasets.Subscriptions
	}
	err := w.load(ctx, s)
	w.pre = nil
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lay := spec.lay
	out := &shardOut{blocks: make([]block, len(spec.cutoffs)), catNames: make([][]string, lay.nFixed), maxTime: math.MinInt64}
	if b, ok := lay.base[datasets.Orders]; ok {
		out.catNames[b+oMainChannel] = w.channels.names
		out.famNames[famChannels] = w.channels.names
	}
	if b, ok := lay.base[datasets.Subscriptions]; ok {
		out.catNames[b+bPlan] = w.plans.names
	}
	if b, ok := lay.base[datasets.Customers]; ok {
		out.catNames[b+cCountry] = w.countries.names
		out.catNames[b+cSegment] = w.segments.names
		out.catNames[b+cAcqChannel] = w.acqs.names
		out.catNames[b+cGender] = w.genders.names
	}
	if lay.hasFam[famEvents] {
		out.famNames[famEvents] = w.eventTypes.names
	}
	famWidth := [famN]int{}
	for f := range famWidth {
		famWidth[f] = len(out.famNames[f]) * len(lay.fams[f].subs)
		w.famRow[f] = make([]float64, famWidth[f])
	}
	// Rows: at most dst.bound[k][s] per cutoff.
	for k := range out.blocks {
		b := &out.blocks[k]
		for f := range famWidth {
			b.fam = append(b.fam, make([][]float64, famWidth[f]))
			for j := range b.fam[f] {
				b.fam[f][j] = make([]float64, 0, dst.bound[k][s])
			}
		}
	}
	// Latest record time of the label table.
	if spec.kind == KindSubscriptions {
		if w.sub != nil {
			for i, t := range w.sub.t {
				if t != noTime && t > out.maxTime {
					out.maxTime = t
				}
				if e := w.sub.ended[i]; e != noTime && e > out.maxTime {
					out.maxTime = e
				}
			}
		}
	} else if w.ord != nil {
		// the last order of each customer, found while loading
		out.maxTime = w.ord.lastMax
	}
	// Rows go through a small row-major block per cutoff (it stays in L1)
	// and move into the frame's columns a block at a time: column by
	// column, sequential stores, instead of one store into each of the
	// nFixed columns per row.
	nf := lay.nFixed
	pend := make([]rowBlock, len(spec.cutoffs))
	for k := range pend {
		pend[k] = rowBlock{buf: make([]float64, rowBlockRows*nf), at: dst.start[k][s]}
	}

	// Merge the customer runs of every table (all sorted by customer_id).
	var tabs []*tableCols
	var cur []int
	idx := map[datasets.Table]int{}
	add := func(t datasets.Table, tc *tableCols) {
		idx[t] = len(tabs)
		tabs = append(tabs, tc)
		cur = append(cur, 0)
	}
	if w.ord != nil {
		add(datasets.Orders, &w.ord.tableCols)
	}
	if w.ev != nil {
		add(datasets.Events, &w.ev.tableCols)
	}
	if w.tk != nil {
		add(datasets.Tickets, &w.tk.tableCols)
	}
	if w.sv != nil {
		add(datasets.Surveys, &w.sv.tableCols)
	}
	if w.sub != nil {
		add(datasets.Subscriptions, &w.sub.tableCols)
	}
	if w.cu != nil {
		add(datasets.Customers, &w.cu.tableCols)
	}
	lo := make([]int, len(tabs))
	hi := make([]int, len(tabs))
	ti := func(t datasets.Table) int {
		if i, ok := idx[t]; ok {
			return i
		}
		return -1
	}
	iOrd, iEv, iTk, iSv, iSub, iCu := ti(datasets.Orders), ti(datasets.Events), ti(datasets.Tickets), ti(datasets.Surveys), ti(datasets.Subscriptions), ti(datasets.Customers)
	// Every row's customer is in the label table (eligibility needs a
	// record of it): its id is a substring of one string holding the
	// label table's ids of the shard, not an allocation per row.
	iLab := iOrd
	if spec.kind == KindSubscriptions {
		iLab = iSub
	}
	var labIDs string
	var labOffs []int32
	if iLab >= 0 {
		labIDs, labOffs = string(tabs[iLab].ids.data), tabs[iLab].ids.offs
	}
	nCust := 0
	for {
		minT := -1
		var minID []byte
		for t, tc := range tabs {
			if cur[t] >= tc.nRuns() {
				continue
			}
			id := tc.ids.bytes(cur[t])
			if minT < 0 || bytes.Compare(id, minID) < 0 {
				minT, minID = t, id
			}
		}
		if minT < 0 {
			break
		}
		labK := -1
		for t, tc := range tabs {
			lo[t], hi[t] = 0, 0
			if cur[t] < tc.nRuns() && bytes.Equal(tc.ids.bytes(cur[t]), minID) {
				lo[t], hi[t] = int(tc.runs[cur[t]]), int(tc.runs[cur[t]+1])
				if t == iLab {
					labK = cur[t]
				}
				cur[t]++
			}
		}
		nCust++
		if nCust&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		var id string
		for k, D := range spec.cutoffs {
			pb := &pend[k]
			w.row = pb.buf[pb.n*nf : (pb.n+1)*nf : (pb.n+1)*nf]
			ok, label := w.customer(D, iOrd, iEv, iTk, iSv, iSub, iCu, lo, hi)
			if !ok {
				continue
			}
			if id == "" {
				if labK >= 0 {
					id = labIDs[labOffs[labK]:labOffs[labK+1]]
				} else {
					id = string(minID)
				}
			}
			b := &out.blocks[k]
			if b.n == dst.bound[k][s] {
				return nil, fmt.Errorf("features: shard %d has more eligible customers at cutoff %d than the %d its label table allows", s, k, dst.bound[k][s])
			}
			at := dst.start[k][s] + b.n
			b.n++
			dst.ids[at] = id
			dst.labels[at] = label
			if pb.n++; pb.n == rowBlockRows {
				pb.flush(dst.x, nf)
			}
			for f := range b.fam {
				for j, v := range w.famRow[f] {
					b.fam[f][j] = append(b.fam[f][j], v)
				}
			}
		}
	}
	for k := range pend {
		pend[k].flush(dst.x, nf)
	}
	return out, nil
}

// rowBlockRows is the rows of a rowBlock.
const rowBlockRows = 64

// rowBlock holds the next rows of one cutoff, row-major (nFixed values
// per row), before they move into the frame's columns from row at on.
type rowBlock struct {
	buf []float64
	n   int
	at  int
}

// flush moves the block's rows into the columns x and empties it. Not
// inlined: inside buildShard its loop counters lived on the stack.
//
//go:noinline
func (b *rowBlock) flush(x [][]float64, nf int) {
	if b.n == 0 {
		return
	}
	for j, col := range x[:nf] {
		col = col[b.at : b.at+b.n]
		for r := range col {
			col[r] = b.buf[r*nf+j]
		}
	}
	b.at += b.n
	b.n = 0
}

func nan() float64 { return math.NaN() }

func days(us int64) float64 { return float64(us) / float64(dayUS) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// customer fills w.row and w.famRow for one customer at cutoff D and reports
// whether the customer is eligible, and the raw label (0/1).
func (w *worker) customer(D int64, iOrd, iEv, iTk, iSv, iSub, iCu int, lo, hi []int) (bool, float64) {
	spec, lay := w.spec, w.spec.lay
	row := w.row
	for j := range row {
		row[j] = math.NaN()
	}
	first := int64(noTime)
	var label float64
	eligible := false
	if b := lay.ordBase; b >= 0 {
		l, h := 0, 0
		if iOrd >= 0 {
			l, h = lo[iOrd], hi[iOrd]
		}
		ok, lab, f := w.orders(D, l, h, row[b:])
		if spec.kind == KindOrders {
			eligible, label = ok, lab
		}
		first = min(first, f)
	}
	if spec.kind == KindSubscriptions {
		if iSub < 0 {
			return false, 0
		}
		var f int64
		eligible, label, f = w.subsLabel(D, lo[iSub], hi[iSub])
		first = min(first, f)
	}
	if !eligible {
		return false, 0
	}
	if iSub >= 0 {
		f := w.subscriptions(D, lo[iSub], hi[iSub], row[lay.subBase:])
		first = min(first, f)
	} else if b := lay.subBase; b >= 0 {
		w.subscriptions(D, 0, 0, row[b:])
	}
	if b := lay.evBase; b >= 0 {
		l, h := 0, 0
		if iEv >= 0 {
			l, h = lo[iEv], hi[iEv]
		}
		w.events(D, l, h, row[b:])
	}
	if b := lay.tkBase; b >= 0 {
		l, h := 0, 0
		if iTk >= 0 {
			l, h = lo[iTk], hi[iTk]
		}
		w.tickets(D, l, h, row[b:])
	}
	if b := lay.svBase; b >= 0 {
		l, h := 0, 0
		if iSv >= 0 {
			l, h = lo[iSv], hi[iSv]
		}
		w.surveys(D, l, h, row[b:])
	}
	if b := lay.cuBase; b >= 0 {
		l, h := 0, 0
		if iCu >= 0 {
			l, h = lo[iCu], hi[iCu]
		}
		first = min(first, w.customerAttrs(D, l, h, row[b:]))
	}
	if first != noTime {
		row[lay.profile+pTenure] = days(D - first)
	}
	return true, label
}

// orders computes the order features of rows [a, b) at cutoff D into row
// and the channel-share family; it returns eligibility (non-contractual),
// the raw label and the first order time.
//
// The customer's rows are sorted by time, so the rows inside each window
// ending at D are a suffix of the rows before D: the window counts are
// index differences and each window sum is one loop over its suffix, in
// row order (the same additions in the same order as ordersRowwise, so
// the same bits). The rest is split into short loops with few
// accumulators each, so they stay in registers.
func (w *worker) orders(D int64, a, b int, row []float64) (eligible bool, label float64, first int64) {
	o := w.ord
	ts := o.t[a:b]
	e := 0 // rows before D
	for e < len(ts) && ts[e] < D {
		e++
	}
	if e > 0 && D-ts[0] <= 0 {
		// The oldest order's age overflows int64 (absurd timestamps):
		// ages are not monotone, take the row-by-row kernel.
		return w.ordersRowwise(D, a, b, row)
	}
	fam := w.famRow[famChannels]
	for j := range fam {
		fam[j] = math.NaN()
	}
	// Label: any order in [D, D+horizon)?
	label = 1
	if e < len(ts) && ts[e] < D+w.spec.horizon {
		label = 0
	}
	if e == 0 {
		for k := range 4 {
			row[oFreq30+k], row[oMon30+k] = 0, 0
		}
		row[oFreqLife], row[oMonLife] = 0, 0
		return false, label, noTime
	}
	const w30, w90, w180, w365, w360 = 30 * dayUS, 90 * dayUS, 180 * dayUS, 365 * dayUS, 360 * dayUS
	ts = ts[:e]
	amts := o.amount[a : a+e]
	// First row inside each window (age = D - t <= window), walking back
	// from the newest order.
	i := e
	for i > 0 && D-ts[i-1] <= w30 {
		i--
	}
	i30 := i
	for i > 0 && D-ts[i-1] <= w90 {
		i--
	}
	i90 := i
	for i > 0 && D-ts[i-1] <= w180 {
		i--
	}
	i180 := i
	for i > 0 && D-ts[i-1] <= w360 {
		i--
	}
	i360 := i
	for i > 0 && D-ts[i-1] <= w365 {
		i--
	}
	i365 := i
	cnt := [4]float64{float64(e - i30), float64(e - i90), float64(e - i180), float64(e - i365)}
	mon := [4]float64{sumAmounts(amts[i30:]), sumAmounts(amts[i90:]), sumAmounts(amts[i180:]), sumAmounts(amts[i365:])}
	cntLife, monLife := float64(e), sumAmounts(amts)
	p90c, p90m := float64(i90-i180), sumAmounts(amts[i180:i90])
	c180, p180c := cnt[2], float64(i180-i360)
	first, last := ts[0], ts[e-1]

	// Order days: the value of the repeat days.
	var repSum float64
	curDay := floorDiv(first, dayUS)
	nDays := 1.0
	daySum := amts[0]
	if daySum != daySum {
		daySum = 0
	}
	for k := 1; k < e; k++ {
		amt := amts[k]
		if amt != amt {
			amt = 0
		}
		if day := floorDiv(ts[k], dayUS); day != curDay {
			if nDays > 1 {
				repSum += daySum
			}
			curDay, daySum = day, amt
			nDays++
		} else {
			daySum += amt
		}
	}
	if nDays > 1 {
		repSum += daySum
	}

	// Products, categories, channels and returns, and the gaps between
	// orders (running mean and variance: a chain of dependent divisions,
	// which the integer work beside it overlaps).
	var gN, gMean, gM2, gLast float64
	w.gen++
	gen := w.gen
	var nProd, nCat, retKnown, retN, chKnown, nCh int
	var anyProd, anyCat bool
	var retV float64
	lastCh := int32(-1)
	touchedCh := w.touchedCh[:0]
	prods, cats, chans, rets := o.product[a:a+e], o.category[a:a+e], o.channel[a:a+e], o.returned[a:a+e]
	amts = amts[:e]
	seenProd, seenCat, seenChan, chanCount := w.seenProd, w.seenCat, w.seenChan, w.chanCount
	for k := range e {
		if k > 0 {
			g := days(ts[k] - ts[k-1])
			gN++
			d := g - gMean
			gMean += d / gN
			gM2 += d * (g - gMean)
			gLast = g
		}
		if c := prods[k]; c >= 0 {
			anyProd = true
			if seenProd[c] != gen {
				seenProd[c] = gen
				nProd++
			}
		}
		if c := cats[k]; c >= 0 {
			anyCat = true
			if seenCat[c] != gen {
				seenCat[c] = gen
				nCat++
			}
		}
		if r := rets[k]; r >= 0 {
			retKnown++
			if r == 1 {
				retN++
				amt := amts[k]
				if amt != amt {
					amt = 0
				}
				retV += amt
			}
		}
		if c := chans[k]; c >= 0 {
			chKnown++
			if seenChan[c] != gen {
				seenChan[c] = gen
				chanCount[c] = 0
				touchedCh = append(touchedCh, c)
				nCh++
			}
			chanCount[c]++
			lastCh = c
		}
	}
	w.touchedCh = touchedCh

	// Discounts, quantities and lines.
	discs, qtys, lines := o.discount[a:a+e], o.qty[a:a+e], o.lines[a:a+e]
	var discKnown, discN, qN, prN, lN, iplN int
	var discSum, discAmt, qSum, prSum, lSum, iplSum float64
	for k, amt := range amts {
		known := amt == amt
		if !known {
			amt = 0
		}
		if d := discs[k]; d == d {
			discKnown++
			discSum += d
			discAmt += amt
			if d > 0 {
				discN++
			}
		}
		q, l := qtys[k], lines[k]
		if q == q {
			qN++
			qSum += q
			if q > 0 && known {
				prN++
				prSum += amt / q
			}
		}
		if l == l {
			lN++
			lSum += l
			if q == q && l > 0 {
				iplN++
				iplSum += q / l
			}
		}
	}
	firstLines := math.NaN()
	if l := lines[0]; l == l {
		firstLines = l
	}
	lastLines, lastQ := lines[e-1], qtys[e-1]

	st := orderStats{first: first, last: last, cnt: cnt, mon: mon, cntLife: cntLife, monLife: monLife,
		gN: gN, gMean: gMean, gM2: gM2, gLast: gLast, p90c: p90c, p90m: p90m, c180: c180, p180c: p180c,
		anyProd: anyProd, anyCat: anyCat, nProd: float64(nProd), nCat: float64(nCat),
		retKnown: float64(retKnown), retN: float64(retN), retV: retV,
		discKnown: float64(discKnown), discN: float64(discN), discSum: discSum, discAmt: discAmt,
		qN: float64(qN), qSum: qSum, lN: float64(lN), lSum: lSum, iplN: float64(iplN), iplSum: iplSum, prN: float64(prN), prSum: prSum,
		firstLines: firstLines, lastLines: lastLines, lastQ: lastQ,
		chKnown: float64(chKnown), nCh: float64(nCh), lastCh: lastCh, touchedCh: touchedCh, nDays: nDays, repSum: repSum}
	return w.writeOrders(D, &st, row, fam), label, first
}

// orderStats is one customer's orders before the cutoff as both order
// kernels (orders, ordersRowwise) sum them up; writeOrders turns them into
// the row's order features.
type orderStats struct {
	first, last                        int64
	cnt, mon                           [4]float64 // 30, 90, 180, 365 days
	cntLife, monLife                   float64
	gN, gMean, gM2, gLast              float64 // gaps between orders (days)
	p90c, p90m, c180, p180c            float64 // trend windows
	anyProd, anyCat                    bool
	nProd, nCat                        float64
	retKnown, retN, retV               float64
	discKnown, discN, discSum, discAmt float64
	qN, qSum, lN, lSum                 float64
	iplN, iplSum, prN, prSum           float64
	firstLines, lastLines, lastQ       float64
	chKnown, nCh                       float64
	lastCh                             int32
	touchedCh                          []int32
	nDays, repSum                      float64 // order days; value of the repeat ones
}

// writeOrders sets the order features of row (and the channel family fam)
// from st and reports whether the customer is eligible (its last order
// within the lookback).
func (w *worker) writeOrders(D int64, st *orderStats, row, fam []float64) bool {
	first, last := st.first, st.last
	cnt, mon := st.cnt, st.mon
	row[oRecency] = days(D - last)
	for k := range cnt {
		row[oFreq30+k] = cnt[k]
		row[oMon30+k] = mon[k]
	}
	row[oFreqLife] = st.cntLife
	row[oMonLife] = st.monLife
	row[oFirstOrderDays] = days(D - first)
	row[oAOVLife] = st.monLife / st.cntLife
	if cnt[1] > 0 {
		row[oAOV90] = mon[1] / cnt[1]
	}
	if cnt[3] > 0 {
		row[oAOV365] = mon[3] / cnt[3]
	}
	if st.gN >= 1 {
		row[oGapMean] = st.gMean
		row[oGapLast] = st.gLast
		if st.gMean > 0 {
			row[oOverdue] = days(D-last) / st.gMean
		}
	}
	if st.gN >= 2 {
		row[oGapStd] = math.Sqrt(st.gM2 / (st.gN - 1))
	}
	row[oTrendFreq90] = cnt[1] - st.p90c
	row[oTrendMon90] = mon[1] - st.p90m
	if st.p180c > 0 {
		row[oTrendFreqRatio180] = st.c180 / st.p180c
	}
	if st.anyProd {
		row[oDistinctProducts] = st.nProd
	}
	if st.anyCat {
		row[oDistinctCategories] = st.nCat
	}
	if st.retKnown > 0 {
		row[oReturnsCount] = st.retN
		row[oReturnsValue] = st.retV
		row[oReturnsShare] = st.retN / st.retKnown
	}
	if st.discKnown > 0 {
		if st.discSum+st.discAmt != 0 {
			row[oDiscountShare] = st.discSum / (st.discSum + st.discAmt)
		}
		row[oDiscountedShare] = st.discN / st.discKnown
	}
	if st.qN > 0 {
		row[oQuantityMean] = st.qSum / st.qN
	}
	if st.lN > 0 {
		row[oLinesMean] = st.lSum / st.lN
		row[oLinesLife] = st.lSum
	}
	if st.iplN > 0 {
		row[oItemsPerLineMean] = st.iplSum / st.iplN
	}
	if st.prN > 0 {
		row[oItemPriceMean] = st.prSum / st.prN
	}
	row[oFirstOrderLines] = st.firstLines
	row[oLastOrderLines] = st.lastLines
	row[oLastOrderQuantity] = st.lastQ
	if st.chKnown > 0 {
		row[oDistinctChannels] = st.nCh
		best := st.lastCh
		names := w.channels.names
		for _, c := range st.touchedCh {
			if n, bn := w.chanCount[c], w.chanCount[best]; n > bn || (n == bn && names[c] < names[best]) {
				best = c
			}
		}
		row[oMainChannel] = float64(best)
		row[oMainChannelShare] = float64(w.chanCount[best]) / st.chKnown
		for c := range names {
			fam[c] = 0
		}
		for _, c := range st.touchedCh {
			fam[c] = float64(w.chanCount[c]) / st.chKnown
		}
	}
	row[oCLVFrequency] = st.nDays - 1
	row[oCLVRecency] = float64(last-first) / float64(weekUS)
	row[oCLVT] = float64(D-first) / float64(weekUS)
	if st.nDays > 1 {
		row[oCLVMonetary] = st.repSum / (st.nDays - 1)
	}
	return w.spec.lookback == 0 || last >= D-w.spec.lookback
}

// sumAmounts adds the amounts in order, a null (NaN) as 0.
func sumAmounts(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		if x != x {
			x = 0
		}
		s += x
	}
	return s
}

// ordersRowwise is orders in one pass per row with every accumulator
// updated row by row: the reference the split kernel above must match bit
// for bit (TestOrdersKernelMatchesRowwise), and the path for orders whose
// age overflows int64.
func (w *worker) ordersRowwise(D int64, a, b int, row []float64) (eligible bool, label float64, first int64) {
	o := w.ord
	fam := w.famRow[famChannels]
	for j := range fam {
		fam[j] = math.NaN()
	}
	const w30, w90, w180, w365, w360 = 30 * dayUS, 90 * dayUS, 180 * dayUS, 365 * dayUS, 360 * dayUS
	var (
		cnt               [4]float64
		mon               [4]float64
		cntLife, monLife  float64
		p90c, p90m, p180c float64
		c180              float64
		last, prevT       int64
		gN                float64
		gMean, gM2, gLast float64
		curDay            int64
		nDays             float64
		daySum, repSum    float64
		nProd, nCat       float64
		anyProd, anyCat   bool
		retKnown, retN    float64
		retV              float64
		discKnown, discN  float64
		discSum, discAmt  float64
		qN, qSum          float64
		lN, lSum          float64 // orders with a line count, their lines
		iplN, iplSum      float64 // orders with quantity and lines: Σ quantity/lines
		prN, prSum        float64 // orders with quantity > 0: Σ amount/quantity
		firstLines        = math.NaN()
		lastLines, lastQ  float64
		chKnown, nCh      float64
		lastCh            int32 = -1
		touchedCh         []int32
	)
	first = noTime
	w.gen++
	gen := w.gen
	i := a
	for ; i < b; i++ {
		t := o.t[i]
		if t >= D {
			break
		}
		age := D - t
		amt := o.amount[i]
		if amt != amt {
			amt = 0
		}
		cntLife++
		monLife += amt
		if age <= w365 {
			cnt[3]++
			mon[3] += amt
			if age <= w180 {
				cnt[2]++
				mon[2] += amt
				c180++
				if age <= w90 {
					cnt[1]++
					mon[1] += amt
					if age <= w30 {
						cnt[0]++
						mon[0] += amt
					}
				} else {
					p90c++
					p90m += amt
				}
			}
		}
		if age > w180 && age <= w360 {
			p180c++
		}
		day := floorDiv(t, dayUS)
		if cntLife == 1 {
			first = t
			curDay, nDays, daySum = day, 1, amt
		} else {
			g := days(t - prevT)
			gN++
			d := g - gMean
			gMean += d / gN
			gM2 += d * (g - gMean)
			gLast = g
			if day != curDay {
				if nDays > 1 {
					repSum += daySum
				}
				curDay, daySum = day, amt
				nDays++
			} else {
				daySum += amt
			}
		}
		prevT, last = t, t
		if c := o.product[i]; c >= 0 {
			anyProd = true
			if w.seenProd[c] != gen {
				w.seenProd[c] = gen
				nProd++
			}
		}
		if c := o.category[i]; c >= 0 {
			anyCat = true
			if w.seenCat[c] != gen {
				w.seenCat[c] = gen
				nCat++
			}
		}
		if r := o.returned[i]; r >= 0 {
			retKnown++
			if r == 1 {
				retN++
				retV += amt
			}
		}
		if d := o.discount[i]; d == d {
			discKnown++
			discSum += d
			discAmt += amt
			if d > 0 {
				discN++
			}
		}
		q, l := o.qty[i], o.lines[i]
		if q == q {
			qN++
			qSum += q
			if q > 0 && o.amount[i] == o.amount[i] {
				prN++
				prSum += amt / q
			}
		}
		if l == l {
			lN++
			lSum += l
			if cntLife == 1 {
				firstLines = l
			}
			if q == q && l > 0 {
				iplN++
				iplSum += q / l
			}
		}
		lastLines, lastQ = l, q
		if c := o.channel[i]; c >= 0 {
			chKnown++
			if w.seenChan[c] != gen {
				w.seenChan[c] = gen
				w.chanCount[c] = 0
				touchedCh = append(touchedCh, c)
				nCh++
			}
			w.chanCount[c]++
			lastCh = c
		}
	}
	// Label: any order in [D, D+horizon)?
	label = 1
	if i < b && o.t[i] < D+w.spec.horizon {
		label = 0
	}
	if cntLife == 0 {
		for k := range cnt {
			row[oFreq30+k], row[oMon30+k] = 0, 0
		}
		row[oFreqLife], row[oMonLife] = 0, 0
		return false, label, noTime
	}
	if nDays > 1 {
		repSum += daySum
	}
	st := orderStats{first: first, last: last, cnt: cnt, mon: mon, cntLife: cntLife, monLife: monLife,
		gN: gN, gMean: gMean, gM2: gM2, gLast: gLast, p90c: p90c, p90m: p90m, c180: c180, p180c: p180c,
		anyProd: anyProd, anyCat: anyCat, nProd: nProd, nCat: nCat, retKnown: retKnown, retN: retN, retV: retV,
		discKnown: discKnown, discN: discN, discSum: discSum, discAmt: discAmt,
		qN: qN, qSum: qSum, lN: lN, lSum: lSum, iplN: iplN, iplSum: iplSum, prN: prN, prSum: prSum,
		firstLines: firstLines, lastLines: lastLines, lastQ: lastQ,
		chKnown: chKnown, nCh: nCh, lastCh: lastCh, touchedCh: touchedCh, nDays: nDays, repSum: repSum}
	return w.writeOrders(D, &st, row, fam), label, first
}

// subsLabel decides contractual eligibility (a subscription active at D) and
// the label (no subscription active at D+horizon).
func (w *worker) subsLabel(D int64, a, b int) (eligible bool, label float64, first int64) {
	s := w.sub
	first = noTime
	H := D + w.spec.horizon
	activeLater := false
	for i := a; i < b; i++ {
		st, en := s.t[i], s.ended[i]
		if st < D {
			first = min(first, st)
			if en >= D {
				eligible = true
			}
		}
		if st < H && en >= H {
			activeLater = true
		}
	}
	if !activeLater {
		label = 1
	}
	return eligible, label, first
}

func (w *worker) subscriptions(D int64, a, b int, row []float64) (first int64) {
	s := w.sub
	first = noTime
	var cnt, ended, down, up, months, fp float64
	fpKnown := false
	active := false
	activeStart := int64(noTime)
	lastEnd := int64(math.MinInt64)
	prevMRR := math.NaN()
	plan, mrr := int32(-1), math.NaN()
	for i := a; i < b; i++ {
		st := s.t[i]
		if st >= D {
			break
		}
		first = min(first, st)
		cnt++
		en := s.ended[i]
		if en >= D { // running at D (its end, if any, is in the future)
			active = true
			activeStart = min(activeStart, st)
			months += float64(D-st) / float64(monthUS)
		} else {
			ended++
			months += float64(max(en-st, 0)) / float64(monthUS)
			lastEnd = max(lastEnd, en)
			if f := s.failedPay[i]; f == f {
				fp += f
				fpKnown = true
			}
		}
		m := s.mrr[i]
		if m == m && prevMRR == prevMRR {
			if m < prevMRR {
				down++
			} else if m > prevMRR {
				up++
			}
		}
		if m == m {
			prevMRR = m
		}
		plan, mrr = s.plan[i], m
	}
	if cnt == 0 {
		row[bActive], row[bCount], row[bMonthsActive] = 0, 0, 0
		row[bDowngrades], row[bUpgrades], row[bEnded] = 0, 0, 0
		return first
	}
	row[bActive] = 0
	if active {
		row[bActive] = 1
		row[bCurrentMonths] = float64(D-activeStart) / float64(monthUS)
	} else if lastEnd != math.MinInt64 {
		row[bDaysSinceEnd] = days(D - lastEnd)
	}
	if plan >= 0 {
		row[bPlan] = float64(plan)
	}
	row[bMRR] = mrr
	row[bMonthsActive] = months
	row[bCount] = cnt
	row[bDowngrades] = down
	row[bUpgrades] = up
	if fpKnown {
		row[bFailedPayments] = fp
	} else if ended > 0 {
		row[bFailedPayments] = math.NaN()
	}
	row[bEnded] = ended
	return first
}

func (w *worker) events(D int64, a, b int, row []float64) {
	e := w.ev
	const w30, w60, w90 = 30 * dayUS, 60 * dayUS, 90 * dayUS
	var n30, n90, nLife, p30, active30 float64
	last := int64(noTime)
	lastDay := int64(math.MinInt64)
	w.gen++
	gen := w.gen
	var touched []int32
	for i := a; i < b; i++ {
		t := e.t[i]
		if t >= D {
			break
		}
		age := D - t
		nLife++
		last = t
		c := e.typ[i]
		if c >= 0 && w.evSeen[c] != gen {
			w.evSeen[c] = gen
			w.evCount30[c], w.evCount90[c] = 0, 0
			touched = append(touched, c)
		}
		if age <= w90 {
			n90++
			if c >= 0 {
				w.evCount90[c]++
			}
			if age <= w30 {
				n30++
				if c >= 0 {
					w.evCount30[c]++
				}
				if d := floorDiv(t, dayUS); d != lastDay {
					active30++
					lastDay = d
				}
			}
		}
		if age > w30 && age <= w60 {
			p30++
		}
	}
	row[eN30], row[eN90], row[eNLife] = n30, n90, nLife
	if last != noTime {
		row[eDaysSince] = days(D - last)
	}
	row[eTrend30] = n30 - p30
	row[eActiveDays30] = active30
	fam := w.famRow[famEvents]
	for j := range fam {
		fam[j] = 0
	}
	for _, c := range touched {
		fam[2*int(c)] = w.evCount30[c]
		fam[2*int(c)+1] = w.evCount90[c]
	}
}

func (w *worker) tickets(D int64, a, b int, row []float64) {
	tk := w.tk
	const w30, w90, w120 = 30 * dayUS, 90 * dayUS, 120 * dayUS
	var n30, n90, nLife, open, urgent, prior, resN, resSum float64
	last := int64(noTime)
	for i := a; i < b; i++ {
		t := tk.t[i]
		if t >= D {
			break
		}
		age := D - t
		nLife++
		last = t
		if age <= w90 {
			n90++
			if age <= w30 {
				n30++
			}
		}
		if age > w30 && age <= w120 {
			prior++
		}
		if c := tk.closed[i]; c >= D {
			open++
			if p := tk.priority[i]; p >= 0 && w.urgent[p] {
				urgent++
			}
		} else {
			resN++
			resSum += days(max(c-t, 0))
		}
	}
	row[tN30], row[tN90], row[tNLife] = n30, n90, nLife
	row[tOpen], row[tOpenUrgent] = open, urgent
	row[tSpike] = n30 - prior/3
	if last != noTime {
		row[tDaysSince] = days(D - last)
	}
	if resN > 0 {
		row[tResolutionMean] = resSum / resN
	}
}

func (w *worker) surveys(D int64, a, b int, row []float64) {
	sv := w.sv
	lastN, prevN := math.NaN(), math.NaN()
	lastC, prevC := math.NaN(), math.NaN()
	lastE, prevE := math.NaN(), math.NaN()
	var n float64
	last := int64(noTime)
	for i := a; i < b; i++ {
		t := sv.t[i]
		if t >= D {
			break
		}
		n++
		last = t
		if v := sv.nps[i]; v == v {
			prevN, lastN = lastN, v
		}
		if v := sv.csat[i]; v == v {
			prevC, lastC = lastC, v
		}
		if v := sv.ces[i]; v == v {
			prevE, lastE = lastE, v
		}
	}
	row[sNPS], row[sNPSChange] = lastN, lastN-prevN
	row[sCSAT], row[sCSATChange] = lastC, lastC-prevC
	row[sCES], row[sCESChange] = lastE, lastE-prevE
	row[sCount] = n
	if last != noTime {
		row[sDaysSince] = days(D - last)
	}
}

// customerAttrs fills the customers-table attributes; a customer row dated
// (signed_up_at) at or after D is not visible at D.
func (w *worker) customerAttrs(D int64, a, b int, row []float64) (first int64) {
	if a == b {
		return noTime
	}
	cu := w.cu
	i := b - 1
	su := cu.t[i]
	if su != noTime && su >= D {
		return noTime
	}
	first = noTime
	if su != noTime {
		first = su
		row[cSignupDays] = days(D - su)
	}
	code := func(c int32) float64 {
		if c < 0 {
			return math.NaN()
		}
		return float64(c)
	}
	row[cCountry] = code(cu.country[i])
	row[cSegment] = code(cu.segment[i])
	row[cAcqChannel] = code(cu.acq[i])
	row[cGender] = code(cu.gender[i])
	if y := cu.birthYear[i]; y == y {
		row[cAge] = float64(time.UnixMicro(D).UTC().Year()) - y
	}
	return first
}
