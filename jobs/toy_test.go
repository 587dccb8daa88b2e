package jobs

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/pipeline"
)

// The toy pipeline: small, deterministic stages shaped like the real ones
// (extract → features (per shard) → score (per shard) → publish), so the run
// machinery is tested without the numeric packages. RETAIN_TEST_CRASH=stage:k
// kills the process with SIGKILL when that stage reaches row k.

const toyCustomers = 600

// writeToyInput writes root/input.csv: customer id, orders, spend.
func writeToyInput(root string) error {
	r := rand.New(rand.NewPCG(7, 11))
	var b strings.Builder
	for i := 0; i < toyCustomers; i++ {
		fmt.Fprintf(&b, "c%05d,%d,%.2f\n", i, r.IntN(20), r.Float64()*500)
	}
	return os.WriteFile(filepath.Join(root, "input.csv"), []byte(b.String()), 0o644)
}

type toyCrash struct {
	stage string
	row   int
}

func crashFromEnv() toyCrash {
	v := os.Getenv("RETAIN_TEST_CRASH")
	st, k, ok := strings.Cut(v, ":")
	if !ok {
		return toyCrash{row: -1}
	}
	n, _ := strconv.Atoi(k)
	return toyCrash{stage: st, row: n}
}

func (c toyCrash) at(stage string, row int) {
	if c.stage == stage && c.row == row {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Hour)
	}
}

func readLines(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() != "" {
			out = append(out, strings.Split(sc.Text(), ","))
		}
	}
	return out, sc.Err()
}

// writeRows writes rows one by one (crash points between rows), unsynced:
// the executor fsyncs before publishing the folder.
func writeRows(path, stage string, rows [][]string, crash toyCrash, rowBase int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 64)
	for i, r := range rows {
		crash.at(stage, rowBase+i)
		fmt.Fprintln(w, strings.Join(r, ","))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func concatParts(parts []string, file, out, stage string, crash toyCrash) (pipeline.StageResult, error) {
	var all [][]string
	for _, p := range parts {
		rows, err := readLines(filepath.Join(p, file))
		if err != nil {
			return pipeline.StageResult{}, err
		}
		all = append(all, rows...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i][0] < all[j][0] })
	return pipeline.StageResult{Rows: int64(len(all))}, writeRows(filepath.Join(out, file), stage+"-merge", all, crash, 0)
}

// toyStages builds the toy stages reading root/input.csv and publishing to
// root/store (risk list file + SQLite queue with unique idempotency keys).
// calls, when set, gets one line per executed shard (to count executions).
func toyStages(root string, crash toyCrash, calls string) []pipeline.Stage {
	logCall := func(rc *pipeline.RunContext, stage string, shard int) {
		if calls == "" {
			return
		}
		f, err := os.OpenFile(calls, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s %s %d\n", rc.RunID, stage, shard)
			f.Close()
		}
	}
	return []pipeline.Stage{
		{Name: "extract", Version: "1",
			Inputs: func(ctx context.Context, rc *pipeline.RunContext) (string, error) {
				st, err := os.Stat(filepath.Join(root, "input.csv"))
				if err != nil {
					return "", err
				}
				return fmt.Sprint(st.Size(), st.ModTime().UnixNano()), nil
			},
			Run: func(ctx context.Context, rc *pipeline.RunContext, out string) (pipeline.StageResult, error) {
				rows, err := readLines(filepath.Join(root, "input.csv"))
				if err != nil {
					return pipeline.StageResult{}, err
				}
				shards := make([][][]string, rc.Shards)
				for _, r := range rows {
					s := datasets.ShardOf(r[0], rc.Shards)
					shards[s] = append(shards[s], r)
				}
				base := 0
				for s, rs := range shards {
					if err := writeRows(filepath.Join(out, fmt.Sprintf("shard-%d.csv", s)), "extract", rs, crash, base); err != nil {
						return pipeline.StageResult{}, err
					}
					base += len(rs)
				}
				return pipeline.StageResult{Rows: int64(len(rows))}, nil
			}},
		{Name: "features", Version: "1",
			RunShard: func(ctx context.Context, rc *pipeline.RunContext, shard int, out string) (pipeline.StageResult, error) {
				logCall(rc, "features", shard)
				rows, err := readLines(filepath.Join(rc.StageDir("extract"), fmt.Sprintf("shard-%d.csv", shard)))
				if err != nil {
					return pipeline.StageResult{}, err
				}
				var fr [][]string
				for _, r := range rows {
					n, _ := strconv.Atoi(r[1])
					spend, _ := strconv.ParseFloat(r[2], 64)
					days := float64(rc.AsOf.YearDay()%30) + float64(n)
					fr = append(fr, []string{r[0], strconv.Itoa(n), strconv.FormatFloat(spend/float64(n+1), 'g', 10, 64), strconv.FormatFloat(days, 'g', 10, 64)})
				}
				return pipeline.StageResult{Rows: int64(len(fr))}, writeRows(filepath.Join(out, "features.csv"), "features", fr, crash, shard*1000)
			},
			Merge: func(ctx context.Context, rc *pipeline.RunContext, parts []string, out string) (pipeline.StageResult, error) {
				return concatParts(parts, "features.csv", out, "features", crash)
			}},
		{Name: "score", Version: "1",
			// Prepare computes what needs every customer (like the real
			// stage's percentiles and CLV fit): the largest average spend.
			Prepare: func(ctx context.Context, rc *pipeline.RunContext, out string) (pipeline.StageResult, error) {
				rows, err := readLines(filepath.Join(rc.StageDir("features"), "features.csv"))
				if err != nil {
					return pipeline.StageResult{}, err
				}
				top := 0.0
				for _, r := range rows {
					avg, _ := strconv.ParseFloat(r[2], 64)
					top = max(top, avg)
				}
				return pipeline.StageResult{Rows: int64(len(rows))},
					writeRows(filepath.Join(out, "scale.csv"), "score-prep", [][]string{{strconv.FormatFloat(top, 'g', -1, 64)}}, crash, 0)
			},
			RunShard: func(ctx context.Context, rc *pipeline.RunContext, shard int, out string) (pipeline.StageResult, error) {
				logCall(rc, "score", shard)
				rows, err := readLines(filepath.Join(rc.PartDir("features", shard), "features.csv"))
				if err != nil {
					return pipeline.StageResult{}, err
				}
				scale, err := readLines(filepath.Join(rc.PrepDir("score"), "scale.csv"))
				if err != nil {
					return pipeline.StageResult{}, err
				}
				top, _ := strconv.ParseFloat(scale[0][0], 64)
				var sr [][]string
				for _, r := range rows {
					n, _ := strconv.ParseFloat(r[1], 64)
					avg, _ := strconv.ParseFloat(r[2], 64)
					days, _ := strconv.ParseFloat(r[3], 64)
					p := 1 / (1 + mathExp(0.3*n-2*avg/top+0.02*days-1))
					sr = append(sr, []string{r[0], strconv.FormatFloat(p, 'f', 6, 64)})
				}
				return pipeline.StageResult{Rows: int64(len(sr))}, writeRows(filepath.Join(out, "scores.csv"), "score", sr, crash, shard*1000)
			},
			Merge: func(ctx context.Context, rc *pipeline.RunContext, parts []string, out string) (pipeline.StageResult, error) {
				return concatParts(parts, "scores.csv", out, "score", crash)
			}},
		{Name: "publish", Version: "1",
			Run: func(ctx context.Context, rc *pipeline.RunContext, out string) (pipeline.StageResult, error) {
				rows, err := readLines(filepath.Join(rc.StageDir("score"), "scores.csv"))
				if err != nil {
					return pipeline.StageResult{}, err
				}
				store := filepath.Join(root, "store")
				db, err := openToyQueue(store)
				if err != nil {
					return pipeline.StageResult{}, err
				}
				defer db.Close()
				var risk strings.Builder
				queued := 0
				for i, r := range rows {
					crash.at("publish", i)
					fmt.Fprintf(&risk, "%s,%s,%s,%s\n", r[0], rc.AsOf.Format("2006-01-02"), rc.RunID, r[1])
					if p, _ := strconv.ParseFloat(r[1], 64); p > 0.5 {
						key := r[0] + "|winback|" + rc.AsOf.Format("2006-01-02")
						if _, err := db.ExecContext(ctx, `INSERT INTO queue (idempotency_key, customer_id, run_id) VALUES (?, ?, ?)
							ON CONFLICT (idempotency_key) DO NOTHING`, key, r[0], rc.RunID); err != nil {
							return pipeline.StageResult{}, err
						}
						queued++
					}
				}
				if err := pipeline.WriteFileAtomic(filepath.Join(store, "risk_current.csv"), []byte(risk.String())); err != nil {
					return pipeline.StageResult{}, err
				}
				if err := os.WriteFile(filepath.Join(out, "published.txt"), []byte(fmt.Sprintf("%d rows, %d queued\n", len(rows), queued)), 0o644); err != nil {
					return pipeline.StageResult{}, err
				}
				return pipeline.StageResult{Rows: int64(len(rows))}, nil
			}},
	}
}

func openToyQueue(store string) (*sql.DB, error) {
	if err := os.MkdirAll(store, 0o755); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(store, "queue.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, customer_id TEXT, run_id TEXT)`); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func toyPlans(root string, shards int, crash toyCrash, calls string) PlanFunc {
	return func(_ context.Context, asOf time.Time, kind string) (*pipeline.Plan, error) {
		fp := "toy00001"
		return &pipeline.Plan{RunID: pipeline.RunID(asOf, fp, kind), AsOf: asOf, Kind: kind, ConfigFP: fp,
			Shards: shards, Stages: toyStages(root, crash, calls)}, nil
	}
}

func mathExp(x float64) float64 { return math.Exp(x) }
