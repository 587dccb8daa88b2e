package stores

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
)

// RiskRecordParquet is the Parquet row of scores.parquet and of the risk list
// exports: DESIGN.md's risk list row, reasons as a JSON list, unknown numbers null.
type RiskRecordParquet struct {
	CustomerID        string    `parquet:"customer_id,dict"`
	AsOf              int32     `parquet:"as_of,date"` // days since 1970-01-01
	ScoredAt          time.Time `parquet:"scored_at,timestamp(microsecond)"`
	RunID             string    `parquet:"run_id,dict"`
	ModelVersion      string    `parquet:"model_version,dict"`
	ChurnProbability  float64   `parquet:"churn_probability"`
	RiskTier          string    `parquet:"risk_tier,dict"`
	ChurnPercentile   float64   `parquet:"churn_percentile"`
	PAlive            *float64  `parquet:"p_alive,optional"`
	ExpectedPurchases *float64  `parquet:"expected_purchases,optional"`
	PredictedCLV      *float64  `parquet:"predicted_clv,optional"`
	HistoricCLV       *float64  `parquet:"historic_clv,optional"`
	ValueAtRisk       *float64  `parquet:"value_at_risk,optional"`
	ExpectedNextOrder *int32    `parquet:"expected_next_order_date,optional,date"`
	Reasons           string    `parquet:"reasons"`
	Segment           string    `parquet:"segment,dict"`
	ValueRiskCell     string    `parquet:"value_risk_cell,dict"`
	ControlGroup      bool      `parquet:"control_group"`
	RowHash           string    `parquet:"row_hash"`
}

func epochDays(t time.Time) int32 {
	return int32(t.UTC().Truncate(24*time.Hour).Unix() / 86400)
}

func fromEpochDays(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func optF(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func fromOpt(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func toParquet(r *RiskRow, dst *RiskRecordParquet) {
	*dst = RiskRecordParquet{r.CustomerID, epochDays(r.AsOf), r.ScoredAt.UTC(), r.RunID, r.ModelVersion,
		r.ChurnProbability, r.RiskTier, r.ChurnPercentile, optF(r.PAlive), optF(r.ExpectedPurchases),
		optF(r.PredictedCLV), optF(r.HistoricCLV), optF(r.ValueAtRisk), nil, r.ReasonsJSON(), r.Segment,
		r.ValueRiskCell, r.ControlGroup, r.Hash()}
	if !r.ExpectedNextOrder.IsZero() {
		d := epochDays(r.ExpectedNextOrder)
		dst.ExpectedNextOrder = &d
	}
}

// WriteAtomic writes path through a temporary file in the same folder,
// fsyncs it and renames it into place: readers see the old file or the new one.
func WriteAtomic(path string, write func(w io.Writer) error) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// WriteRiskParquet writes the rows as Parquet (zstd) atomically, with the
// given key-value metadata.
func WriteRiskParquet(ctx context.Context, path string, rows []RiskRow, meta map[string]string) error {
	return WriteAtomic(path, func(w io.Writer) error {
		opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd)}
		for k, v := range meta {
			opts = append(opts, parquet.KeyValueMetadata(k, v))
		}
		pw := parquet.NewGenericWriter[RiskRecordParquet](w, opts...)
		buf := make([]RiskRecordParquet, 0, 4096)
		for lo := 0; lo < len(rows); lo += 4096 {
			if err := ctx.Err(); err != nil {
				return err
			}
			buf = buf[:min(4096, len(rows)-lo)]
			for i := range buf {
				toParquet(&rows[lo+i], &buf[i])
			}
			if _, err := pw.Write(buf); err != nil {
				return err
			}
		}
		return pw.Close()
	})
}

// ReadRiskParquet reads a scores.parquet (or risk export) back into rows.
func ReadRiskParquet(path string) (rows []RiskRow, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = badInput("%s: not a risk list Parquet file: %v", path, p)
		}
	}()
	recs, err := parquet.ReadFile[RiskRecordParquet](path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	rows = make([]RiskRow, len(recs))
	for i := range recs {
		p := &recs[i]
		r := &rows[i]
		*r = RiskRow{CustomerID: p.CustomerID, AsOf: fromEpochDays(p.AsOf), ScoredAt: p.ScoredAt.UTC(), RunID: p.RunID,
			ModelVersion: p.ModelVersion, ChurnProbability: p.ChurnProbability, RiskTier: p.RiskTier,
			ChurnPercentile: p.ChurnPercentile, PAlive: fromOpt(p.PAlive), ExpectedPurchases: fromOpt(p.ExpectedPurchases),
			PredictedCLV: fromOpt(p.PredictedCLV), HistoricCLV: fromOpt(p.HistoricCLV), ValueAtRisk: fromOpt(p.ValueAtRisk),
			Segment: p.Segment, ValueRiskCell: p.ValueRiskCell, ControlGroup: p.ControlGroup}
		if p.ExpectedNextOrder != nil {
			r.ExpectedNextOrder = fromEpochDays(*p.ExpectedNextOrder)
		}
		if p.Reasons != "" && p.Reasons != "[]" {
			if err := json.Unmarshal([]byte(p.Reasons), &r.Reasons); err != nil {
				return nil, badInput("%s: row %d (customer %s), column reasons: %v", path, i+1, p.CustomerID, err)
			}
		}
	}
	return rows, nil
}

func fmtF(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// RiskCSVHeader is the header of the CSV risk list export.
var RiskCSVHeader = append(append([]string{}, riskCols...), "updated_at")

// WriteRiskCSV writes the rows as CSV (for CRM imports) atomically; unknown
// numbers and dates are empty, reasons a JSON list.
func WriteRiskCSV(ctx context.Context, path string, rows []RiskRow) error {
	return WriteAtomic(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(RiskCSVHeader[:len(riskCols)]); err != nil {
			return err
		}
		rec := make([]string, len(riskCols))
		for i := range rows {
			if i%65536 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			r := &rows[i]
			rec = append(rec[:0], r.CustomerID, dateString(r.AsOf), r.ScoredAt.UTC().Format(time.RFC3339), r.RunID, r.ModelVersion,
				fmtF(r.ChurnProbability), r.RiskTier, fmtF(r.ChurnPercentile), fmtF(r.PAlive), fmtF(r.ExpectedPurchases),
				fmtF(r.PredictedCLV), fmtF(r.HistoricCLV), fmtF(r.ValueAtRisk), dateString(r.ExpectedNextOrder),
				r.ReasonsJSON(), r.Segment, r.ValueRiskCell, strconv.FormatBool(r.ControlGroup), r.Hash())
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// WriteQueueCSV writes queue rows as CSV atomically.
func WriteQueueCSV(ctx context.Context, path string, rows []QueueRow) error {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	return WriteAtomic(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"idempotency_key", "run_id", "customer_id", "campaign", "as_of", "priority", "status",
			"suppression_reason", "treatment", "not_before", "expires_at"}); err != nil {
			return err
		}
		for i := range rows {
			if i%65536 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			q := &rows[i]
			if err := cw.Write([]string{q.IdempotencyKey, q.RunID, q.CustomerID, q.Campaign, dateString(q.AsOf),
				fmtF(q.Priority), q.Status, q.SuppressionReason, q.Treatment, ts(q.NotBefore), ts(q.ExpiresAt)}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// ExportFiles writes the file store: risk-<as-of>.parquet and .csv, the same
// list as risk_current.parquet and .csv (replaced atomically), and the
// night's queue plan as queue-<as-of>.csv.
func ExportFiles(ctx context.Context, dir string, rows []RiskRow, queue []QueueRow) (PublishResult, error) {
	start := time.Now()
	res := PublishResult{Store: "files:" + dir, RiskRows: len(rows), QueueRows: len(queue)}
	m, err := checkList(rows)
	if err != nil {
		return res, err
	}
	day := dateString(m.asOf)
	meta := map[string]string{"retain.run_id": m.runID, "retain.as_of": day, "retain.model_version": m.modelVersion, "retain.content_hash": m.hash}
	pq, cs := filepath.Join(dir, "risk-"+day+".parquet"), filepath.Join(dir, "risk-"+day+".csv")
	if err := WriteRiskParquet(ctx, pq, rows, meta); err != nil {
		return res, err
	}
	if err := WriteRiskCSV(ctx, cs, rows); err != nil {
		return res, err
	}
	for src, dst := range map[string]string{pq: "risk_current.parquet", cs: "risk_current.csv"} {
		if err := linkAtomic(src, filepath.Join(dir, dst)); err != nil {
			return res, err
		}
	}
	if len(queue) > 0 {
		if err := WriteQueueCSV(ctx, filepath.Join(dir, "queue-"+day+".csv"), queue); err != nil {
			return res, err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// linkAtomic makes dst a hard link of src via a temporary name and rename
// (falls back to a copy when links are not supported).
func linkAtomic(src, dst string) error {
	tmp := dst + ".tmp-link"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		return WriteAtomic(dst, func(w io.Writer) error {
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		})
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}
