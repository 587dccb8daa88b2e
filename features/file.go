package features

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/klauspost/compress/s2"
)

// FileName is the features file of a set of cutoffs inside <data_dir>/features:
// features-2011-09-09.parquet, or features-<first>_<last>.parquet.
func FileName(cutoffs []time.Time) string {
	if len(cutoffs) == 0 {
		return "features.parquet"
	}
	lo, hi := cutoffs[0], cutoffs[0]
	for _, c := range cutoffs {
		if c.Before(lo) {
			lo = c
		}
		if c.After(hi) {
			hi = c
		}
	}
	if lo.Equal(hi) {
		return "features-" + lo.UTC().Format(time.DateOnly) + ".parquet"
	}
	return "features-" + lo.UTC().Format(time.DateOnly) + "_" + hi.UTC().Format(time.DateOnly) + ".parquet"
}

// writeRowGroup is the row-group size of features files.
const writeRowGroup = 1 << 18

// WriteFile writes the frame as Parquet atomically (temporary name, fsync,
// rename): customer_id, cutoff, the features (float64, null for NaN),
// churned (float64, null when unknown); the registry goes into the key-value
// metadata under RegistryKey. Column chunks are encoded and compressed in
// parallel (GOMAXPROCS, see pqwrite.go).
func WriteFile(ctx context.Context, path string, f *Frame) (err error) {
	reg, err := json.Marshal(f.Registry)
	if err != nil {
		return fmt.Errorf("features: encoding registry: %w", err)
	}
	cutSet := map[int64]bool{}
	var cuts []string
	prev := int64(math.MinInt64)
	for _, c := range f.Cutoffs {
		// rows come grouped by cutoff: look up only where it changes
		us := c.UnixMicro()
		if us != prev && !cutSet[us] {
			cutSet[us] = true
			cuts = append(cuts, c.UTC().Format(time.RFC3339))
		}
		prev = us
	}
	// Snappy (read everywhere) where it pays; no page statistics (nobody
	// filters a features file by value ranges). Per column, from a sample:
	// dictionary encoding for few distinct values (counts, codes, shares;
	// the cutoff and the label), uncompressed (Snappy gains little on
	// bit-packed indices); no compression either where Snappy would not
	// save 40% (times, means, most sums).
	cols := []pqColumn{{name: "customer_id", kind: pqIDs, snappy: true}, {name: "cutoff", kind: pqCutoff, dict: true}}
	// The codecs' samples are looked at in parallel (~0.3 ms a column).
	codecs := make([]int, len(f.X))
	var wg sync.WaitGroup
	next := make(chan int, len(f.X))
	for j := range f.X {
		next <- j
	}
	close(next)
	for range min(runtime.GOMAXPROCS(0), len(f.X)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				codecs[j] = columnCodec(f.X[j])
			}
		}()
	}
	wg.Wait()
	for j, col := range f.X {
		c := pqColumn{name: f.Names[j], kind: pqFloat, floats: col}
		switch codecs[j] {
		case useDict:
			c.dict = true
		case useSnappy:
			c.snappy = true
		}
		cols = append(cols, c)
	}
	cols = append(cols, pqColumn{name: "churned", kind: pqFloat, floats: f.Labels, dict: true})
	kv := [][2]string{{RegistryKey, string(reg)}, {CutoffsKey, strings.Join(cuts, ",")},
		{HorizonKey, fmt.Sprintf("%dd", int64(f.Horizon/Day))}, {KindKey, f.Kind}, {ObservedKey, f.ObservedUntil.UTC().Format(time.RFC3339)}}

	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// Written with O_DIRECT where the filesystem has it: the file's 200 MB
	// (20M orders) then take no page-cache pages to allocate and fill, and
	// replacing the file later has none to free.
	var dw *directWriter
	if setDirect(tmp) {
		dw = newDirectWriter(tmp, runtime.GOMAXPROCS(0))
	}
	if err := writeParquet(ctx, tmp, dw, f, cols, kv, runtime.GOMAXPROCS(0)); err != nil {
		return fmt.Errorf("features: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("features: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

const (
	useSnappy = iota
	useDict
	useRaw
)

// columnCodec picks a column's encoding from its first values (at most
// codecSample of them, nulls skipped): dictionary when they hold at most
// dictMaxDistinct distinct values, no compression when Snappy shrinks them
// by less than 40%, else Snappy. The choice changes the file's size and
// the CPU spent writing it, never a value.
func columnCodec(col []float64) int {
	const codecSample, dictMaxDistinct = 8192, 1024
	distinct := make(map[uint64]struct{}, dictMaxDistinct+1)
	raw := make([]byte, 0, 8*codecSample)
	for _, v := range col {
		if v != v {
			continue
		}
		b := math.Float64bits(v)
		if len(distinct) <= dictMaxDistinct {
			distinct[b] = struct{}{}
		}
		raw = binary.LittleEndian.AppendUint64(raw, b)
		if len(raw) == cap(raw) {
			break
		}
	}
	if len(raw) == 0 {
		return useSnappy
	}
	if len(distinct) <= dictMaxDistinct {
		return useDict
	}
	if z := s2.EncodeSnappy(nil, raw); len(z)*5 > len(raw)*3 {
		return useRaw
	}
	return useSnappy
}

// ObservedKey records the latest record time of the label table.
const ObservedKey = "retain.features.observed_until"

// ReadFile reads a features file written by WriteFile into a Frame.
func ReadFile(path string) (fr *Frame, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("features: reading %s: %v", path, p)
		}
	}()
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	pf, err := file.NewParquetReader(fh)
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("features: reading %s: %w", path, err)
	}
	defer pf.Close()
	kv := pf.MetaData().KeyValueMetadata()
	regJSON := kv.FindValue(RegistryKey)
	if regJSON == nil {
		return nil, fmt.Errorf("features: %s has no %s metadata: not a retain features file", path, RegistryKey)
	}
	f := &Frame{}
	if err := json.Unmarshal([]byte(*regJSON), &f.Registry); err != nil {
		return nil, fmt.Errorf("features: %s: bad registry metadata: %w", path, err)
	}
	if v := kv.FindValue(HorizonKey); v != nil {
		f.Horizon, _ = ParseDuration(*v)
	}
	if v := kv.FindValue(KindKey); v != nil {
		f.Kind = *v
	}
	if v := kv.FindValue(ObservedKey); v != nil {
		f.ObservedUntil, _ = time.Parse(time.RFC3339, *v)
	}
	// Column by column: the ids through Arrow, the rest with the page
	// decoder straight into the frame's slices, so reading holds the frame
	// and one column's pages, not a whole Arrow table besides the frame.
	r := &shardReader{pf: pf, path: path, rows: int(pf.NumRows()), rgs: make([]int, pf.NumRowGroups())}
	for i := range r.rgs {
		r.rgs[i] = i
	}
	n := r.rows
	for _, name := range []string{"customer_id", "cutoff", "churned"} {
		if !r.has(name) {
			return nil, fmt.Errorf("features: %s lacks customer_id, cutoff or churned", path)
		}
	}
	ids, err := readStrings(pf, path, "customer_id")
	if err != nil {
		return nil, err
	}
	f.IDs = ids
	micros, err := r.times("cutoff", nil)
	if err != nil {
		return nil, err
	}
	f.Cutoffs = make([]time.Time, len(micros))
	for i, v := range micros {
		f.Cutoffs[i] = time.UnixMicro(v).UTC()
	}
	floats := func(name string) ([]float64, error) {
		v, err := r.floats(name, make([]float64, 0, n))
		if err != nil {
			return nil, err
		}
		if len(v) != n {
			return nil, fmt.Errorf("features: %s: column %s has %d values, the file %d rows", path, name, len(v), n)
		}
		return v, nil
	}
	for _, d := range f.Registry {
		if !r.has(d.Name) {
			return nil, fmt.Errorf("features: %s: registry lists %s but the file has no such column", path, d.Name)
		}
		v, err := floats(d.Name)
		if err != nil {
			return nil, err
		}
		f.Names = append(f.Names, d.Name)
		f.X = append(f.X, v)
	}
	if f.Labels, err = floats("churned"); err != nil {
		return nil, err
	}
	if len(f.IDs) != n || len(f.Cutoffs) != n {
		return nil, fmt.Errorf("features: %s: %d ids and %d cutoffs in %d rows", path, len(f.IDs), len(f.Cutoffs), n)
	}
	return f, nil
}

// readStrings reads a utf8 column of the file through Arrow.
func readStrings(pf *file.Reader, path, name string) ([]string, error) {
	i := pf.MetaData().Schema.ColumnIndexByName(name)
	rd, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.NewGoAllocator())
	if err != nil {
		return nil, fmt.Errorf("features: reading %s: %w", path, err)
	}
	rgs := make([]int, pf.NumRowGroups())
	for k := range rgs {
		rgs[k] = k
	}
	tbl, err := rd.ReadRowGroups(context.Background(), []int{i}, rgs)
	if err != nil {
		return nil, fmt.Errorf("features: reading %s: %w", path, err)
	}
	defer tbl.Release()
	out := make([]string, 0, tbl.NumRows())
	for _, c := range tbl.Column(0).Data().Chunks() {
		s, ok := c.(*array.String)
		if !ok {
			return nil, fmt.Errorf("features: %s: %s is %s, want utf8", path, name, c.DataType())
		}
		for k := 0; k < s.Len(); k++ {
			out = append(out, s.Value(k))
		}
	}
	return out, nil
}
