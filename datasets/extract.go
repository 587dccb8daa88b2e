package datasets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// ExtractConfig says what to extract where. Source paths must already be
// absolute (or relative to the working directory).
type ExtractConfig struct {
	DataDir        string
	Shards         int      // default 8
	MaxBadRowShare *float64 // nil means 0.01
	Sources        map[Table]Source
	// Force re-extracts even when the sources are unchanged.
	Force bool
	// Progress, when set, receives one line per step.
	Progress func(format string, args ...any)
	// MemoryBudget bounds the rows buffered in memory (default 600 MB):
	// half of it holds rows being read (spilled when full: rows out of
	// order into key-range buckets, rows in order as sorted runs), the
	// rest the rows kept in memory and the shards being written.
	MemoryBudget int64
	// fanIn is the most runs merged at once (tests; default maxFanIn).
	fanIn int
	// maxOpen is the most spill files a shard keeps open (tests; default
	// maxOpenSpills).
	maxOpen int
	// progressEvery is how often a long read or shard write says how far
	// it got (tests; default progressEvery).
	progressEvery time.Duration
}

// progressEvery is how often a long read or shard write reports progress.
const progressEvery = 5 * time.Second

// every calls report(elapsed) every cfg.progressEvery (default
// progressEvery) until the returned stop is called; nothing without a
// Progress function.
func (c *ExtractConfig) every(report func(elapsed time.Duration)) (stop func()) {
	if c.Progress == nil {
		return func() {}
	}
	d := c.progressEvery
	if d <= 0 {
		d = progressEvery
	}
	start := time.Now()
	t := time.NewTicker(d)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-t.C:
				report(time.Since(start))
			case <-done:
				return
			}
		}
	}()
	return func() {
		t.Stop()
		close(done)
		<-finished
	}
}

// ExtractSummary is what extract did: per table row accounting and where
// the snapshot is.
type ExtractSummary struct {
	Snapshot   string                  `json:"snapshot"`
	Quarantine string                  `json:"quarantine_dir"`
	Unchanged  bool                    `json:"unchanged"` // sources unchanged since the last extract: nothing written
	Shards     int                     `json:"shards"`
	Tables     map[Table]*TableSummary `json:"tables"`
	Seconds    float64                 `json:"seconds"`
}

// BadRowsError reports a table whose share of bad rows exceeds the limit.
type BadRowsError struct {
	Table      Table
	File       string
	Bad, Read  int64
	Max        float64
	First      qrow
	Quarantine string
}

func (e *BadRowsError) Error() string {
	return fmt.Sprintf("%s: %d of %d rows (%.1f%%) are bad, more than max_bad_row_share %g%%; first at line %d, column %q, value %q: %s (all bad rows are in %s)",
		e.File, e.Bad, e.Read, 100*float64(e.Bad)/float64(max(e.Read, 1)), 100*e.Max, e.First.line, e.First.column, e.First.value, e.First.reason, e.Quarantine)
}

// BadInput marks the error as bad input (exit status 2).
func (e *BadRowsError) BadInput() bool { return true }

// ExitCode is 2.
func (e *BadRowsError) ExitCode() int { return 2 }

func (c *ExtractConfig) progress(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(format, args...)
	}
}

// configHash identifies everything about the config that shapes the snapshot.
func configHash(cfg *ExtractConfig) string {
	b, _ := json.Marshal(struct {
		V       int
		Layout  int // 2: customers deduplicated by customer_id
		Shards  int
		Sources map[Table]Source
	}{SchemaVersion, 2, cfg.Shards, cfg.Sources})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// fingerprint identifies a source's content cheaply: size and modification
// time of files; row count and maximum watermark for SQL sources with a
// watermark; empty (always changed) for other SQL sources.
func fingerprint(ctx context.Context, src *Source) (string, error) {
	var parts []string
	switch src.Format {
	case "csv", "parquet":
		st, err := os.Stat(src.Path)
		if err != nil {
			return "", &InputError{File: src.Path, Msg: "cannot read source", Err: err}
		}
		parts = append(parts, src.Path, fmt.Sprint(st.Size()), fmt.Sprint(st.ModTime().UnixNano()))
	case "sqlite", "postgres":
		if src.Watermark == "" {
			return "", nil
		}
		n, w, err := sqlWatermark(ctx, src)
		if err != nil {
			return "", err
		}
		parts = append(parts, src.Format, src.Query, fmt.Sprint(n), w)
	}
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:12]), nil
}

// Extract reads every configured source into a sharded Parquet snapshot
// under <DataDir>/snapshot, quarantining bad rows under <DataDir>/quarantine.
// Unchanged sources (same fingerprints and config) make it a no-op.
func Extract(ctx context.Context, cfg ExtractConfig) (*ExtractSummary, error) {
	start := time.Now()
	if cfg.Shards <= 0 {
		cfg.Shards = 8
	}
	maxBad := 0.01
	if cfg.MaxBadRowShare != nil {
		maxBad = *cfg.MaxBadRowShare
	}
	if cfg.MemoryBudget <= 0 {
		cfg.MemoryBudget = 600 << 20
	}
	if len(cfg.Sources) == 0 {
		return nil, &InputError{Msg: "sources: no table configured"}
	}
	// a soft memory limit makes the collector keep the heap near the live
	// set (one or two shards) instead of letting it double
	if lim := debug.SetMemoryLimit(-1); lim > cfg.MemoryBudget+(300<<20) {
		debug.SetMemoryLimit(cfg.MemoryBudget + (300 << 20))
		defer debug.SetMemoryLimit(lim)
	}
	snap := SnapshotDir(cfg.DataDir)
	qdir := filepath.Join(cfg.DataDir, "quarantine")
	sum := &ExtractSummary{Snapshot: snap, Quarantine: qdir, Shards: cfg.Shards, Tables: map[Table]*TableSummary{}}
	tables := make([]Table, 0, len(cfg.Sources))
	for _, t := range Tables {
		if _, ok := cfg.Sources[t]; ok {
			tables = append(tables, t)
		}
	}
	for t := range cfg.Sources {
		if _, ok := Specs[t]; !ok {
			return nil, &InputError{Msg: fmt.Sprintf("sources.%s: unknown table", t)}
		}
	}
	fps := map[Table]string{}
	for _, t := range tables {
		src := cfg.Sources[t]
		fp, err := fingerprint(ctx, &src)
		if err != nil {
			return nil, fmt.Errorf("sources.%s: %w", t, err)
		}
		fps[t] = fp
	}
	hash := configHash(&cfg)
	var prev *Snapshot
	if !cfg.Force {
		if old, err := OpenSnapshot(snap); err == nil && old.Manifest.ConfigHash == hash {
			prev = old
		}
		if old := prev; old != nil && len(old.Manifest.Tables) == len(tables) {
			same := true
			for _, t := range tables {
				ts, ok := old.Manifest.Tables[t]
				if !ok || fps[t] == "" || ts.Fingerprint != fps[t] {
					same = false
				}
			}
			if same {
				sum.Unchanged = true
				sum.Tables = old.Manifest.Tables
				sum.Seconds = time.Since(start).Seconds()
				cfg.progress("extract: sources unchanged since %s; snapshot %s is current (nothing to do)", old.Manifest.CreatedAt.Format(time.RFC3339), snap)
				return sum, nil
			}
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	tmp, err := os.MkdirTemp(cfg.DataDir, "snapshot.tmp-")
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, t := range tables {
		src := cfg.Sources[t]
		var inc *incremental
		if prev != nil && src.Watermark != "" && !rollsUp(t, &src) {
			if pt := prev.Manifest.Tables[t]; pt != nil && pt.Watermark != "" {
				inc = &incremental{after: pt.Watermark, files: prev.Files[t]}
			}
		}
		ts, err := extractTable(ctx, &cfg, t, &src, tmp, qdir, maxBad, inc)
		if err != nil {
			return nil, err
		}
		ts.Fingerprint = fps[t]
		sum.Tables[t] = ts
	}
	m := &Manifest{SchemaVersion: SchemaVersion, Shards: cfg.Shards, CreatedAt: time.Now().UTC().Truncate(time.Second), ConfigHash: hash, Tables: sum.Tables}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	os.RemoveAll(filepath.Join(tmp, "spill"))
	if err := writeFileAtomic(filepath.Join(tmp, "manifest.json"), mb); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	syncDir(tmp)
	// swap the new snapshot into place
	old := snap + ".old"
	os.RemoveAll(old)
	if _, err := os.Stat(snap); err == nil {
		if err := os.Rename(snap, old); err != nil {
			return nil, fmt.Errorf("replacing snapshot: %w", err)
		}
	}
	if err := os.Rename(tmp, snap); err != nil {
		return nil, fmt.Errorf("replacing snapshot: %w", err)
	}
	syncDir(cfg.DataDir)
	os.RemoveAll(old)
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

// incremental is a watermark extract: only rows beyond after are read and
// merged with the previous snapshot's shard files.
type incremental struct {
	after string
	files []string
}

// rollsUp reports whether a table's lines are rolled up into orders.
func rollsUp(t Table, src *Source) bool {
	return t == Orders && strings.TrimSpace(src.Columns["order_id"]) != "" && (src.RollUp == nil || *src.RollUp)
}

func openSource(ctx context.Context, src *Source, display string, q *quarantine, after string) (sourceReader, error) {
	switch src.Format {
	case "csv":
		return openCSV(src.Path, display, src, q)
	case "parquet":
		return openParquet(ctx, src.Path, display)
	case "sqlite":
		return openSQLite(ctx, src, display, after)
	case "postgres":
		return openPostgres(ctx, src, display, after)
	}
	return nil, &InputError{Msg: fmt.Sprintf("unknown format %q", src.Format)}
}

func sourceDisplay(src *Source) string {
	switch src.Format {
	case "csv", "parquet":
		return src.Path
	case "sqlite":
		if src.Path != "" {
			return src.Path
		}
		return src.DSN
	}
	return "postgres query"
}

func extractTable(ctx context.Context, cfg *ExtractConfig, t Table, src *Source, tmp, qdir string, maxBad float64, inc *incremental) (*TableSummary, error) {
	start := time.Now()
	display := sourceDisplay(src)
	after := ""
	if inc != nil {
		after = inc.after
		cfg.progress("extract %s: reading rows of %s (%s) with %s > %s (incremental)", t, display, src.Format, src.Watermark, after)
	} else {
		cfg.progress("extract %s: reading %s (%s)", t, display, src.Format)
	}
	q, err := newQuarantine(filepath.Join(qdir, string(t)+".csv"))
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			q.finish()
		}
	}()
	rd, err := openSource(ctx, src, display, q, after)
	if err != nil {
		return nil, fmt.Errorf("sources.%s: %w", t, err)
	}
	defer rd.close()
	p, err := planTable(t, src, display, rd.columns(), cfg.Shards)
	if err != nil {
		return nil, fmt.Errorf("sources.%s: %w", t, err)
	}
	// each converter buffers rows per shard up to its share of half the
	// budget, then spills them (the other half is for writing shards)
	runBytes := max(cfg.MemoryBudget/int64(4*rd.workers()), 64<<10)
	fanIn := cfg.fanIn
	if fanIn < 2 {
		fanIn = maxFanIn
	}
	// a bucket of unsorted rows is sorted in memory when it is under a
	// sixteenth of the budget (two shards are written at a time)
	sp, err := newSpiller(filepath.Join(tmp, "spill", string(t)), cfg.Shards, runBytes, max(cfg.MemoryBudget/16, 64<<10), fanIn, cfg.progress)
	if err != nil {
		return nil, err
	}
	sp.maxOpen = maxOpenSpills
	if cfg.maxOpen > 0 {
		sp.maxOpen = cfg.maxOpen
	}
	convs := make([]*converter, rd.workers())
	var seen atomic.Int64
	for w := range convs {
		convs[w] = newConverter(p, q, sp, w)
		convs[w].seen = &seen
	}
	// a long read says how far it got
	var total int64
	if tr, ok := rd.(interface{ rows() int64 }); ok {
		total = tr.rows()
	}
	stopProgress := cfg.every(func(el time.Duration) {
		n := seen.Load()
		if total > 0 {
			cfg.progress("extract %s: read %d of %d rows so far (%.0f%%), %.1fM rows/s", t, n, total, 100*float64(n)/float64(total), float64(n)/el.Seconds()/1e6)
			return
		}
		cfg.progress("extract %s: read %d rows so far, %.1fM rows/s", t, n, float64(n)/el.Seconds()/1e6)
	})
	var wm *watermarkTracker
	if wr, ok := rd.(interface{ watermark() *watermarkTracker }); ok {
		wm = wr.watermark()
	}
	err = rd.run(ctx, p.slots, func(w int, b *rawBatch) error { return convs[w].convert(b) })
	stopProgress()
	if err == nil {
		// sort the rows left in memory into runs, one converter per core
		var fg errgroup.Group
		for _, c := range convs {
			fg.Go(c.flush)
		}
		err = fg.Wait()
	}
	if err != nil {
		return nil, fmt.Errorf("sources.%s: %w", t, err)
	}
	ts := &TableSummary{Format: src.Format, Source: display, Filtered: map[string]int64{}, Currency: src.Currency, ShardRows: make([]int64, cfg.Shards)}
	var bad int64
	for _, c := range convs {
		ts.Read += c.read
		ts.Kept += c.kept
		bad += c.bad
		for i, n := range c.filtered {
			ts.Filtered[p.filters[i].f.Name] += n
		}
	}
	for _, f := range p.filters {
		ts.Filtered[f.f.Name] += 0
	}
	ts.Quarantined = q.count()
	ts.Read += ts.Quarantined - bad // rows rejected by the reader before conversion
	if p.timeIdx >= 0 && p.cols[p.timeIdx].tf != nil {
		ts.TimeFormat = p.cols[p.timeIdx].tf.name
	}
	if wm != nil {
		ts.Watermark = wm.last
		if wm.kind == 0 && inc != nil {
			ts.Watermark = inc.after // no new rows
		}
	}
	var prevFiles []string
	if inc != nil {
		ts.Incremental = true
		prevFiles = inc.files
	}
	if ts.Quarantined > 0 {
		ts.Quarantine = q.path
	}
	ok = true
	if err := q.finish(); err != nil {
		return nil, err
	}
	if ts.Read > 0 && float64(ts.Quarantined) > maxBad*float64(ts.Read) {
		return nil, &BadRowsError{Table: t, File: display, Bad: ts.Quarantined, Read: ts.Read, Max: maxBad, First: q.first, Quarantine: q.path}
	}
	cfg.progress("extract %s: read %d rows in %.1fs; writing %d shards", t, ts.Read, time.Since(start).Seconds(), cfg.Shards)
	if runs, buckets := sp.spilled(); runs+buckets > 0 {
		cfg.progress("extract %s: rows over the memory budget went to %d spill files (%d in key-range buckets, %d sorted runs)", t, runs+buckets, buckets, runs)
	}
	rollUp := rollsUp(t, src)
	ts.RolledUp = rollUp
	if err := writeShards(ctx, cfg, p, sp, tmp, rollUp, ts, prevFiles); err != nil {
		return nil, err
	}
	ts.Seconds = time.Since(start).Seconds()
	filtered := make([]string, 0, len(ts.Filtered))
	for k, v := range ts.Filtered {
		filtered = append(filtered, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(filtered)
	rules := ""
	if len(filtered) > 0 {
		rules = " (" + strings.Join(filtered, ", ") + ")"
	}
	dups := ""
	if ts.Duplicates > 0 {
		dups = fmt.Sprintf(" (%d repeated customer_id rows folded, latest wins)", ts.Duplicates)
	}
	cfg.progress("extract %s: read %d, filtered %d%s, quarantined %d, kept %d → %d rows%s in %.1fs",
		t, ts.Read, sumMap(ts.Filtered), rules, ts.Quarantined, ts.Kept, ts.Rows, dups, ts.Seconds)
	return ts, nil
}

func sumMap(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

func indexOf(spec TableSpec, name string) int {
	for i, c := range spec.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// writeShards merges and writes every shard, two at a time.
func writeShards(ctx context.Context, cfg *ExtractConfig, p *tablePlan, sp *spiller, tmp string, rollUp bool, ts *TableSummary, prevFiles []string) error {
	minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
	var mu sync.Mutex
	var written atomic.Int64
	defer cfg.every(func(el time.Duration) {
		cfg.progress("extract %s: %d of %d shards written", p.table, written.Load(), cfg.Shards)
	})()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for s := 0; s < cfg.Shards; s++ {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			prev := ""
			if prevFiles != nil {
				prev = prevFiles[s]
			}
			runs, err := sp.runs(ctx, s, p, prev)
			if err != nil {
				return err
			}
			if runs, err = limitFanIn(runs, sp.fanIn, p, sp.dir, s, "", cfg.progress); err != nil {
				return err
			}
			res, err := writeShard(ShardPath(tmp, p.table, s), runs, p, rollUp)
			if err != nil {
				return err
			}
			written.Add(1)
			mu.Lock()
			ts.ShardRows[s] = res.rows
			ts.Rows += res.rows
			ts.Duplicates += res.dups
			if res.rows > 0 && res.minT <= res.maxT {
				minT, maxT = min(minT, res.minT), max(maxT, res.maxT)
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if minT <= maxT {
		a, b := time.UnixMicro(minT).UTC(), time.UnixMicro(maxT).UTC()
		ts.MinTime, ts.MaxTime = &a, &b
	}
	return nil
}
