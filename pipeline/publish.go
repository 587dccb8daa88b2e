package pipeline

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/retainlab/retain/stores"
)

// PublishOptions control one publish.
type PublishOptions struct {
	// Scores is the scores.parquet to publish (default: the newest
	// <data_dir>/runs/*/score/scores.parquet).
	Scores string
	// Rows, when set, are published instead of reading Scores (a run that
	// scored in the same process).
	Rows []stores.RiskRow
	// Progress receives one line per step.
	Progress func(format string, args ...any)
}

// PublishSummary is what Publish did (the `retain publish --json` object).
type PublishSummary struct {
	Scores    string                 `json:"scores"`
	RunID     string                 `json:"run_id"`
	AsOf      string                 `json:"as_of"`
	RiskRows  int                    `json:"risk_rows"`
	Stores    []stores.PublishResult `json:"stores"`
	Campaigns map[string]QueueCounts `json:"campaigns"`
	Seconds   float64                `json:"seconds"`
}

// QueueCounts counts one campaign's planned queue rows.
type QueueCounts struct {
	Treatment  int            `json:"treatment"`
	Control    int            `json:"control"`
	Suppressed map[string]int `json:"suppressed"`
}

// LatestScores returns the newest runs/*/score/scores.parquet under data_dir.
func LatestScores(cfg *Config) (string, error) {
	paths, _ := filepath.Glob(filepath.Join(cfg.DataDir, "runs", "*", "score", "scores.parquet"))
	if len(paths) == 0 {
		return "", &ConfigError{File: cfg.Path(), Msg: "publish: no scores yet under " + filepath.Join(cfg.DataDir, "runs") + ": run `retain score` first"}
	}
	sort.Slice(paths, func(a, b int) bool {
		ia, _ := os.Stat(paths[a])
		ib, _ := os.Stat(paths[b])
		return ia.ModTime().Before(ib.ModTime())
	})
	return paths[len(paths)-1], nil
}

// readOptedOut reads a CSV with a customer_id column.
func readOptedOut(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: "policy.opted_out_file: " + err.Error()}
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, &ConfigError{File: path, Msg: "policy.opted_out_file: no header line: " + err.Error()}
	}
	col := -1
	for i, h := range head {
		if strings.TrimSpace(strings.ToLower(h)) == "customer_id" {
			col = i
		}
	}
	if col < 0 {
		return nil, &ConfigError{File: path, Msg: "policy.opted_out_file: line 1 has no customer_id column"}
	}
	out := map[string]bool{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, &ConfigError{File: path, Msg: fmt.Sprintf("policy.opted_out_file: line %d: %v", line, err)}
		}
		if col < len(rec) && strings.TrimSpace(rec[col]) != "" {
			out[strings.TrimSpace(rec[col])] = true
		}
	}
}

// Publish is the publish stage: it writes the risk list to every configured
// store (Postgres, SQLite, Parquet + CSV files) and the intervention queue the
// policy makes to the SQL stores. Each SQL store publishes atomically and
// idempotently: the same list again changes nothing.
func Publish(ctx context.Context, cfg *Config, opts PublishOptions) (*PublishSummary, error) {
	start := time.Now()
	logf := func(format string, args ...any) {
		if opts.Progress != nil {
			opts.Progress(format, args...)
		}
	}
	s := &PublishSummary{Scores: opts.Scores, Campaigns: map[string]QueueCounts{}}
	// the list is checked and hashed once for every store and the files
	var list *stores.Prepared
	var err error
	if opts.Rows != nil {
		if len(opts.Rows) == 0 {
			return nil, &ConfigError{File: cfg.Path(), Msg: "publish: the risk list is empty"}
		}
		if list, err = stores.Prepare(opts.Rows); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
	} else {
		if s.Scores == "" {
			p, err := LatestScores(cfg)
			if err != nil {
				return nil, err
			}
			s.Scores = p
		}
		logf("publish: reading %s", s.Scores)
		if list, err = stores.ReadRiskList(s.Scores); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
	}
	rows := list.Rows
	if len(rows) == 0 {
		return nil, &ConfigError{File: cfg.Path(), Msg: "publish: the risk list is empty"}
	}
	s.RunID, s.AsOf, s.RiskRows = rows[0].RunID, rows[0].AsOf.Format(time.DateOnly), len(rows)
	sc := cfg.Stores.Resolved(cfg.DataDir)
	in := stores.PublishInput{Prepared: list, Policy: &cfg.Policy}
	if p := cfg.Policy.OptedOutFile; p != "" {
		if in.OptedOut, err = readOptedOut(cfg.Resolve(p)); err != nil {
			return nil, err
		}
	}
	// the dated files are written while the SQL stores publish; the current
	// files move to them only after every store has the list
	var files *stores.FileExport
	if sc.Files != "off" {
		files = stores.StartFileExport(ctx, sc.Files, list)
	}
	var queue []stores.QueueRow
	planned := false
	for _, kind := range sc.Databases() {
		db, err := sc.Open(ctx, kind)
		if err != nil {
			if files != nil {
				files.Abort()
			}
			return nil, fmt.Errorf("publish: %w", err)
		}
		logf("publish: %d risk rows to %s", len(rows), db)
		res, err := db.Publish(ctx, in)
		db.Close()
		if err != nil {
			if files != nil {
				files.Abort()
			}
			return nil, fmt.Errorf("publish: %w", err)
		}
		if res.Skipped {
			logf("publish: %s already holds this list; nothing changed", res.Store)
		} else {
			logf("publish: %s: %d queue rows planned, %d new (%.1fs)", res.Store, res.QueueRows, res.QueueInserted, res.Seconds)
		}
		if !planned && !res.Skipped {
			queue, planned = res.Queue, true
		}
		s.Stores = append(s.Stores, res)
	}
	if files != nil {
		if !planned && len(sc.Databases()) == 0 {
			queue = cfg.Policy.Plan(rows, s.RunID, rows[0].AsOf, time.Now().UTC(), in.OptedOut, nil)
		}
		res, err := files.Finish(queue)
		if err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		logf("publish: files in %s (%.1fs, written while the stores published)", sc.Files, res.Seconds)
		s.Stores = append(s.Stores, res)
	}
	for _, q := range queue {
		c := s.Campaigns[q.Campaign]
		if c.Suppressed == nil {
			c.Suppressed = map[string]int{}
		}
		switch {
		case q.Status == stores.StatusSuppressed:
			reason, _, _ := strings.Cut(q.SuppressionReason, ":")
			c.Suppressed[reason]++
		case q.Treatment == stores.Control:
			c.Control++
		default:
			c.Treatment++
		}
		s.Campaigns[q.Campaign] = c
	}
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}

// TopAtRisk returns the n customers with the most value at risk in the
// current risk list of the primary store (Postgres if configured, else
// SQLite): what the demo prints.
func TopAtRisk(ctx context.Context, cfg *Config, n int) ([]stores.RiskRecord, error) {
	db, err := cfg.Stores.Resolved(cfg.DataDir).OpenPrimary(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.TopAtRisk(ctx, n)
}

// ScorePublishTop scores at asOf (zero: the newest features), publishes the
// list to every configured store and returns the n customers with the most
// value at risk: the demo's last step.
func ScorePublishTop(ctx context.Context, cfg *Config, asOf time.Time, n int, progress func(string, ...any)) (*ScoreSummary, *PublishSummary, []stores.RiskRecord, error) {
	s, err := Score(ctx, cfg, ScoreOptions{AsOf: asOf, Progress: progress})
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := Publish(ctx, cfg, PublishOptions{Rows: s.Rows, Scores: s.Path, Progress: progress})
	if err != nil {
		return s, nil, nil, err
	}
	top, err := TopAtRisk(ctx, cfg, n)
	return s, p, top, err
}
