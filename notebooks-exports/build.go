package reports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/models/clv"
)

// readColumns reads the named columns of a Parquet file (absent ones are
// skipped) as one Arrow table.
func readColumns(ctx context.Context, path string, names []string) (arrow.Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rdr, err := file.NewParquetReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{Parallel: true, BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	schema := rdr.MetaData().Schema
	var idx []int
	for _, n := range names {
		if i := schema.ColumnIndexByName(n); i >= 0 {
			idx = append(idx, i)
		}
	}
	rr, err := fr.GetRecordReader(ctx, idx, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer rr.Release()
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for rr.Next() {
		r := rr.RecordBatch()
		r.Retain()
		recs = append(recs, r)
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return array.NewTableFromRecords(rr.Schema(), recs), nil
}

func colIndex(t arrow.Table, name string) int {
	for i, f := range t.Schema().Fields() {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// floatCol returns a column as []float64 with NaN for nulls (nil when absent).
func floatCol(t arrow.Table, name string) []float64 {
	i := colIndex(t, name)
	if i < 0 {
		return nil
	}
	out := make([]float64, 0, t.NumRows())
	for _, ch := range t.Column(i).Data().Chunks() {
		switch a := ch.(type) {
		case *array.Float64:
			for k := 0; k < a.Len(); k++ {
				if a.IsNull(k) {
					out = append(out, math.NaN())
				} else {
					out = append(out, a.Value(k))
				}
			}
		default:
			for k := 0; k < ch.Len(); k++ {
				out = append(out, math.NaN())
			}
		}
	}
	return out
}

// stringCol returns a column as strings ("" for nulls; nil when absent).
func stringCol(t arrow.Table, name string) []string {
	i := colIndex(t, name)
	if i < 0 {
		return nil
	}
	out := make([]string, 0, t.NumRows())
	for _, ch := range t.Column(i).Data().Chunks() {
		for k := 0; k < ch.Len(); k++ {
			if ch.IsNull(k) {
				out = append(out, "")
				continue
			}
			out = append(out, ch.ValueStr(k))
		}
	}
	return out
}

// ReadScores reads the columns of scores.parquet the retention report shows.
func ReadScores(ctx context.Context, path string) (*ScoreColumns, error) {
	t, err := readColumns(ctx, path, []string{"churn_probability", "predicted_clv", "historic_clv", "value_at_risk", "p_alive", "risk_tier", "segment"})
	if err != nil {
		return nil, fmt.Errorf("read scores: %w", err)
	}
	defer t.Release()
	return &ScoreColumns{
		ChurnProbability: floatCol(t, "churn_probability"),
		PredictedCLV:     floatCol(t, "predicted_clv"),
		HistoricCLV:      floatCol(t, "historic_clv"),
		ValueAtRisk:      floatCol(t, "value_at_risk"),
		PAlive:           floatCol(t, "p_alive"),
		Tier:             stringCol(t, "risk_tier"),
		Segment:          stringCol(t, "segment"),
	}, nil
}

// SnapshotHistory is what the retention report takes from a snapshot's
// orders: monthly cohorts and the BG/NBD calibration/holdout check.
type SnapshotHistory struct {
	Cohorts *CohortTable
	Holdout []HoldoutRow
	// HoldoutNote says how the holdout check was made (or why it was not).
	HoldoutNote string
}

// maxHoldoutBucket groups calibration frequencies at or above it.
const maxHoldoutBucket = 7

// FromSnapshot streams the orders of a snapshot once, shard by shard (rows
// are sorted by customer and time, so memory is one shard's columns plus one
// row per customer for the holdout check), for orders strictly before asOf.
// The holdout check fits BG/NBD (weeks) on purchases before asOf − holdout
// and compares predicted with actual repeat purchase days in the holdout.
func FromSnapshot(ctx context.Context, snapshotDir string, asOf time.Time, holdout time.Duration) (*SnapshotHistory, error) {
	snap, err := datasets.OpenSnapshot(snapshotDir)
	if err != nil {
		return nil, err
	}
	files := snap.Files[datasets.Orders]
	if len(files) == 0 {
		return nil, fmt.Errorf("snapshot %s has no orders", snapshotDir)
	}
	var minT, maxT time.Time
	if tm, ok := snap.Manifest.Tables[datasets.Orders]; ok && tm.MinTime != nil && tm.MaxTime != nil {
		minT, maxT = *tm.MinTime, *tm.MaxTime
	}
	if maxT.IsZero() || maxT.After(asOf) {
		maxT = asOf
	}
	if minT.IsZero() {
		minT = asOf.AddDate(-2, 0, 0)
	}
	coh := NewCohorts(minT, maxT.Add(-time.Microsecond))
	calEnd := asOf.Add(-holdout)
	calEndDay := calEnd.Unix() / 86400
	var freq, rec, T, hold []float64
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := readColumns(ctx, path, []string{"customer_id", "ordered_at"})
		if err != nil {
			return nil, err
		}
		ids := stringCol(t, "customer_id")
		ti := colIndex(t, "ordered_at")
		var times []int64
		for _, ch := range t.Column(ti).Data().Chunks() {
			a := ch.(*array.Timestamp)
			for k := 0; k < a.Len(); k++ {
				times = append(times, int64(a.Value(k)))
			}
		}
		t.Release()
		// one customer at a time: distinct purchase days before and after calEnd
		for i := 0; i < len(ids); {
			j := i
			firstDay, lastCalDay := int64(math.MinInt64), int64(math.MinInt64)
			calDays, holdDays := 0, 0
			prevDay := int64(math.MinInt64)
			for ; j < len(ids) && ids[j] == ids[i]; j++ {
				ts := time.UnixMicro(times[j]).UTC()
				if !ts.Before(asOf) {
					continue
				}
				coh.Add(ids[i], ts)
				day := times[j] / 86400e6
				if day == prevDay {
					continue
				}
				prevDay = day
				if ts.Before(calEnd) {
					if firstDay == math.MinInt64 {
						firstDay = day
					}
					calDays++
					lastCalDay = day
				} else if firstDay != math.MinInt64 {
					holdDays++
				}
			}
			if firstDay != math.MinInt64 {
				freq = append(freq, float64(calDays-1))
				rec = append(rec, float64(lastCalDay-firstDay)/7)
				T = append(T, float64(calEndDay-firstDay)/7)
				hold = append(hold, float64(holdDays))
			}
			i = j
		}
	}
	h := &SnapshotHistory{Cohorts: coh.Table()}
	if len(freq) < 50 {
		h.HoldoutNote = fmt.Sprintf("too few customers (%d) before %s for a holdout check", len(freq), calEnd.Format(time.DateOnly))
		return h, nil
	}
	m, rep, err := clv.FitBGNBD(ctx, freq, rec, T, nil, nil)
	if err != nil {
		h.HoldoutNote = "BG/NBD did not fit: " + err.Error()
		return h, nil
	}
	weeks := holdout.Hours() / 24 / 7
	rows := make([]HoldoutRow, maxHoldoutBucket+1)
	for i := range rows {
		rows[i].Frequency = i
	}
	for i := range freq {
		b := int(freq[i])
		if b > maxHoldoutBucket {
			b = maxHoldoutBucket
		}
		rows[b].Customers++
		rows[b].Actual += hold[i]
		rows[b].Predicted += m.ExpectedPurchases(weeks, freq[i], rec[i], T[i])
	}
	out := rows[:0]
	for _, r := range rows {
		if r.Customers > 0 {
			r.Actual /= float64(r.Customers)
			r.Predicted /= float64(r.Customers)
			out = append(out, r)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Frequency < out[b].Frequency })
	h.Holdout = out
	h.HoldoutNote = fmt.Sprintf("BG/NBD (r %.3f, α %.3f, a %.3f, b %.3f; log-likelihood %.1f) fitted on %d customers' purchases before %s; holdout %s to %s (%.1f weeks); the last bucket is %d or more.",
		m.R, m.Alpha, m.A, m.B, rep.LogLikelihood, len(freq), calEnd.Format(time.DateOnly), calEnd.Format(time.DateOnly), asOf.Format(time.DateOnly), weeks, maxHoldoutBucket)
	return h, nil
}

// ScoresAsOf returns the as-of date of a scores file (its first row's as_of).
func ScoresAsOf(ctx context.Context, path string) (time.Time, error) {
	t, err := readColumns(ctx, path, []string{"as_of"})
	if err != nil {
		return time.Time{}, err
	}
	defer t.Release()
	i := colIndex(t, "as_of")
	if i < 0 || t.NumRows() == 0 {
		return time.Time{}, fmt.Errorf("%s: no as_of column or no rows", path)
	}
	ch := t.Column(i).Data().Chunk(0)
	switch a := ch.(type) {
	case *array.Date32:
		return a.Value(0).ToTime().UTC(), nil
	case *array.Timestamp:
		return time.UnixMicro(int64(a.Value(0))).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%s: as_of has type %s", path, ch.DataType())
}
