package pipeline

import (
	"context"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/retainlab/retain/stores"
)

// scoreCols is a risk list without reasons, column by column (the sharded
// score stage's prep file): a few flat slices instead of a million row
// structs, so it is written, read and kept cheaply. Tiers, segments and
// value × risk cells are codes into their dictionaries.
type scoreCols struct {
	AsOf, ScoredAt      time.Time
	RunID, ModelVersion string

	IDs                                             []string
	Prob, Pct, PAlive, Expected, CLV, Historic, VaR []float64
	NextOrder                                       []int32 // days since 1970-01-01; noDate when unknown
	Tier, Segment, Cell                             []uint16
	Tiers, Segments, Cells                          []string
	Control                                         []bool
}

const noDate = math.MinInt32

// Tier codes of scoreCols.Tier (scoreCols.Tiers in this order).
const (
	tierHigh uint16 = iota
	tierMedium
	tierLow
)

// newScoreCols allocates the columns of n rows, numbers unknown (NaN);
// the caller sets IDs.
func newScoreCols(n int, meta ScoreMeta, model string) *scoreCols {
	c := &scoreCols{AsOf: meta.AsOf, ScoredAt: meta.ScoredAt, RunID: meta.RunID, ModelVersion: model,
		Prob: make([]float64, n), Pct: make([]float64, n), PAlive: make([]float64, n),
		Expected: make([]float64, n), CLV: make([]float64, n), Historic: make([]float64, n), VaR: make([]float64, n),
		NextOrder: make([]int32, n), Tier: make([]uint16, n), Segment: make([]uint16, n), Cell: make([]uint16, n),
		Tiers: []string{stores.TierHigh, stores.TierMedium, stores.TierLow}, Control: make([]bool, n)}
	for i := range n {
		c.PAlive[i], c.Expected[i], c.CLV[i], c.Historic[i], c.VaR[i] = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
		c.NextOrder[i] = noDate
	}
	return c
}

// toExplain lists the rows that get reasons: those in the configured tiers
// and those a campaign of the policy may queue (its tiers, segments and
// minimums; cool-downs, opt-outs and capacity only remove customers at
// publish time), so every queued customer has reasons whatever the tiers.
func (c *scoreCols) toExplain(sc ScoreConfig, policy *stores.Policy) []int {
	if sc.Reasons == 0 {
		return nil
	}
	var idx []int
	var r stores.RiskRow
	for i, t := range c.Tier {
		if slices.Contains(sc.ReasonsFor, c.Tiers[t]) {
			idx = append(idx, i)
			continue
		}
		if policy == nil || len(policy.Campaigns) == 0 {
			continue
		}
		c.row(i, &r)
		if queueable(policy, &r) {
			idx = append(idx, i)
		}
	}
	return idx
}

// queueable reports whether a campaign of the policy may queue row r.
func queueable(policy *stores.Policy, r *stores.RiskRow) bool {
	for k := range policy.Campaigns {
		if policy.Campaigns[k].Eligible(r) {
			return true
		}
	}
	return false
}

// epochDay is t's UTC date as days since 1970-01-01 (the Parquet date).
func epochDay(t time.Time) int32 { return int32(t.UTC().Truncate(24*time.Hour).Unix() / 86400) }

// row fills r with row i, without reasons.
func (c *scoreCols) row(i int, r *stores.RiskRow) {
	*r = stores.RiskRow{CustomerID: c.IDs[i], AsOf: c.AsOf, ScoredAt: c.ScoredAt, RunID: c.RunID, ModelVersion: c.ModelVersion,
		ChurnProbability: c.Prob[i], RiskTier: c.Tiers[c.Tier[i]], ChurnPercentile: c.Pct[i], PAlive: c.PAlive[i],
		ExpectedPurchases: c.Expected[i], PredictedCLV: c.CLV[i], HistoricCLV: c.Historic[i], ValueAtRisk: c.VaR[i],
		Segment: c.Segments[c.Segment[i]], ValueRiskCell: c.Cells[c.Cell[i]], ControlGroup: c.Control[i]}
	if d := c.NextOrder[i]; d != noDate {
		r.ExpectedNextOrder = time.Unix(int64(d)*86400, 0).UTC()
	}
}

// summarize is summarizeScores over the columns (Rows stays nil).
func (c *scoreCols) summarize(out, runID string, asOf time.Time, model string) *ScoreSummary {
	s := &ScoreSummary{Path: out, RunID: runID, AsOf: asOf.Format(time.DateOnly), ModelVersion: model, Customers: len(c.IDs),
		Tiers: map[string]int{}, Segments: map[string]int{}}
	tiers, segs := make([]int, len(c.Tiers)), make([]int, len(c.Segments))
	for i := range c.IDs {
		tiers[c.Tier[i]]++
		segs[c.Segment[i]]++
		if !math.IsNaN(c.PAlive[i]) {
			s.CLV = true
		}
		if v := c.VaR[i]; !math.IsNaN(v) {
			s.ValueAtRisk += v
		}
	}
	for k, n := range tiers {
		if n > 0 {
			s.Tiers[c.Tiers[k]] += n
		}
	}
	for k, n := range segs {
		if n > 0 {
			s.Segments[c.Segments[k]] += n
		}
	}
	return s
}

// writeParquet writes the risk list as stores.WriteRiskParquet does (same
// records, batches, options and bytes), with each row's reasons JSON and
// hash given, streaming from the columns: one goroutine fills the next
// batch of records while the writer encodes the last.
func (c *scoreCols) writeParquet(ctx context.Context, path string, reasons, hashes []string, meta map[string]string) error {
	const batch = 4096
	return stores.WriteAtomic(path, func(w io.Writer) error {
		pw := parquet.NewGenericWriter[stores.RiskRecordParquet](w, stores.RiskWriterOptions(meta)...)
		n := len(c.IDs)
		asOf, scoredAt := epochDay(c.AsOf), c.ScoredAt.UTC()
		opt := func(v []float64, i int) *float64 {
			if math.IsNaN(v[i]) || math.IsInf(v[i], 0) {
				return nil
			}
			return &v[i]
		}
		fill := func(lo int, buf []stores.RiskRecordParquet, days []int32) {
			for k := range buf {
				i := lo + k
				buf[k] = stores.RiskRecordParquet{CustomerID: c.IDs[i], AsOf: asOf, ScoredAt: scoredAt, RunID: c.RunID,
					ModelVersion: c.ModelVersion, ChurnProbability: c.Prob[i], RiskTier: c.Tiers[c.Tier[i]],
					ChurnPercentile: c.Pct[i], PAlive: opt(c.PAlive, i), ExpectedPurchases: opt(c.Expected, i),
					PredictedCLV: opt(c.CLV, i), HistoricCLV: opt(c.Historic, i), ValueAtRisk: opt(c.VaR, i),
					Reasons: reasons[i], Segment: c.Segments[c.Segment[i]], ValueRiskCell: c.Cells[c.Cell[i]],
					ControlGroup: c.Control[i], RowHash: hashes[i]}
				if d := c.NextOrder[i]; d != noDate {
					days[k] = d
					buf[k].ExpectedNextOrder = &days[k]
				}
			}
		}
		type job struct {
			lo   int
			buf  []stores.RiskRecordParquet
			days []int32
		}
		// Two batches in turn: filled by the producer, written here.
		free, full := make(chan job, 2), make(chan job, 2)
		for range 2 {
			free <- job{buf: make([]stores.RiskRecordParquet, batch), days: make([]int32, batch)}
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(full)
			for lo := 0; lo < n; lo += batch {
				var j job
				select {
				case j = <-free:
				case <-stop:
					return
				}
				j.lo, j.buf = lo, j.buf[:min(batch, n-lo)]
				fill(lo, j.buf, j.days)
				full <- j
			}
		})
		defer wg.Wait()
		defer close(stop)
		for j := range full {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := pw.Write(j.buf); err != nil {
				return err
			}
			clear(j.buf) // drop the references to the strings
			free <- j
		}
		return pw.Close()
	})
}

// parallelChunks calls fn on about equal row ranges of [0, n) on workers
// goroutines (GOMAXPROCS when workers ≤ 0) and waits.
func parallelChunks(n, workers int, fn func(lo, hi int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if n == 0 {
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() { fn(lo, min(n, lo+chunk)) })
	}
	wg.Wait()
}
