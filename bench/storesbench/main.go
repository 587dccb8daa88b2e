// Command storesbench measures the stores and the API on this machine:
//
//	storesbench publish -rows 1000000   publish 1M risk rows + their queue rows to Postgres (COPY) and SQLite
//	storesbench api -rows 100000 -rate 200 -seconds 20 -limit 1000
//	                                      p50/p99 of 1,000-row risk-list pages at a fixed request rate on loopback
//
// It creates its own Postgres schema (dropped at the end) and a temporary
// SQLite file; data is synthetic and deterministic.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the monitor connection
	"github.com/retainlab/retain/api"
	"github.com/retainlab/retain/stores"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: storesbench publish|api [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	rows := fs.Int("rows", 1000000, "risk rows")
	pg := fs.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "Postgres DSN (empty: skip Postgres)")
	rate := fs.Float64("rate", 200, "api: requests per second (open loop)")
	secs := fs.Float64("seconds", 20, "api: how long to send")
	limit := fs.Int("limit", 1000, "api: rows per page")
	only := fs.String("only", "", "postgres or sqlite (default both)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this process to the file")
	fs.Parse(os.Args[2:])
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "storesbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ctx := context.Background()
	var err error
	switch os.Args[1] {
	case "publish":
		err = benchPublish(ctx, *rows, *pg, *only)
	case "api":
		err = benchAPI(ctx, *rows, *pg, *only, *rate, *secs, *limit)
	default:
		err = fmt.Errorf("unknown benchmark %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "storesbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// riskRows makes n deterministic risk rows of one night.
func riskRows(n int, run string, asOf time.Time, shift float64) []stores.RiskRow {
	out := make([]stores.RiskRow, n)
	segs := []string{"champions", "loyal", "need_attention", "at_risk", "hibernating", "lost"}
	for i := range out {
		p := math.Mod(float64(i)*0.6180339887+shift, 1)
		tier := stores.TierLow
		if p >= 0.66 {
			tier = stores.TierHigh
		} else if p >= 0.33 {
			tier = stores.TierMedium
		}
		clv := 20 + float64((i*7919)%1000)
		var reasons []stores.Reason
		if tier != stores.TierLow {
			reasons = []stores.Reason{{Feature: "recency_days", Contribution: 0.8, Text: "no order for 95 days, 3× the usual gap"},
				{Feature: "tickets_90d", Contribution: 0.3, Text: "4 support tickets in the last 90 days"}}
		}
		out[i] = stores.RiskRow{CustomerID: fmt.Sprintf("C%08d", i), AsOf: asOf, ScoredAt: asOf.Add(2 * time.Hour), RunID: run,
			ModelVersion: "gbdt-bench", ChurnProbability: p, RiskTier: tier, ChurnPercentile: 100 * p, PAlive: 1 - p,
			ExpectedPurchases: 3 * (1 - p), PredictedCLV: clv, HistoricCLV: 2 * clv, ValueAtRisk: p * clv,
			ExpectedNextOrder: asOf.AddDate(0, 0, 1+i%90), Reasons: reasons, Segment: segs[i%len(segs)],
			ValueRiskCell: "high_value/" + tier + "_risk"}
	}
	return out
}

func policy() *stores.Policy {
	share := 0.1
	return &stores.Policy{Campaigns: []stores.Campaign{
		{Name: "save-offer", Tiers: []string{stores.TierHigh}, MinValueAtRisk: 50, DailyCapacity: 20000, CostPerContact: 2, ControlShare: &share},
		{Name: "win-back", Segments: []string{"at_risk", "hibernating"}, DailyCapacity: 10000, ControlShare: &share},
	}}
}

type target struct {
	name string
	db   *stores.DB
	// serverCPU is the CPU time of the Postgres backends serving db (nil on SQLite)
	serverCPU func() float64
}

func open(ctx context.Context, pg, only, dir string) ([]target, func(), error) {
	var out []target
	if pg != "" && (only == "" || only == "postgres") {
		app := fmt.Sprintf("storesbench_%d", os.Getpid())
		dsn, err := withAppName(pg, app)
		if err != nil {
			return nil, nil, err
		}
		db, err := stores.OpenPostgres(ctx, dsn, app)
		if err != nil {
			return nil, nil, err
		}
		mon, err := sql.Open("pgx", pg)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, target{"postgres", db, func() float64 { return backendCPU(mon, app) }})
	}
	if only == "" || only == "sqlite" {
		db, err := stores.OpenSQLite(ctx, filepath.Join(dir, "bench.db"))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, target{name: "sqlite", db: db})
	}
	return out, func() {
		for _, t := range out {
			t.db.DropSchema(context.Background())
			t.db.Close()
		}
	}, nil
}

func benchPublish(ctx context.Context, n int, pg, only string) error {
	dir, err := os.MkdirTemp("", "storesbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ts, closeAll, err := open(ctx, pg, only, dir)
	if err != nil {
		return err
	}
	defer closeAll()
	night1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	lists := [][]stores.RiskRow{riskRows(n, "bench-1", night1, 0), riskRows(n, "bench-2", night1.AddDate(0, 0, 1), 0.05)}
	fmt.Printf("publish: %d risk rows per night; load average %s\n", n, loadavg())
	for _, t := range ts {
		for night, rows := range lists {
			srv0 := math.NaN()
			if t.serverCPU != nil {
				srv0 = t.serverCPU()
			}
			start, cpu0 := time.Now(), cpuSeconds()
			res, err := t.db.Publish(ctx, stores.PublishInput{Risk: rows, Policy: policy()})
			if err != nil {
				return err
			}
			wall, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
			srv := ""
			if t.serverCPU != nil {
				srv = fmt.Sprintf(" + %.2f s CPU in the Postgres backend", t.serverCPU()-srv0)
			}
			fmt.Printf("  %-9s night %d: %7d risk rows + %7d queue rows in %6.2f s wall; %.2f s CPU in this process%s; load %s\n", t.name, night+1,
				res.RiskRows, res.QueueInserted, wall, cpu, srv, loadavg())
			for _, st := range res.Steps {
				fmt.Printf("      %-32s %6.2f s\n", st.Name, st.Seconds)
			}
		}
		start := time.Now()
		res, err := t.db.Publish(ctx, stores.PublishInput{Risk: lists[1], Policy: policy()})
		if err != nil {
			return err
		}
		fmt.Printf("  %-9s same night again: skipped=%v in %.2f s\n", t.name, res.Skipped, time.Since(start).Seconds())
	}
	return nil
}

func withAppName(dsn, app string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("-pg: %w", err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// backendCPU is the user + system CPU time of the Postgres backends whose
// application_name is app (the server runs on this machine). Background
// processes (WAL writer, checkpointer) are not counted.
func backendCPU(mon *sql.DB, app string) float64 {
	rs, err := mon.Query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err != nil {
		return math.NaN()
	}
	defer rs.Close()
	tick := 100.0 // USER_HZ
	total := 0.0
	for rs.Next() {
		var pid int
		if rs.Scan(&pid) != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// fields after the parenthesised command: state is field 3, utime 14, stime 15
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			s, _ := strconv.ParseFloat(f[12], 64)
			total += (u + s) / tick
		}
	}
	return total
}

// cpuSeconds is the user + system CPU time this process has used (the
// SQLite engine runs in it; Postgres work runs in the server).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if len(b) > 14 {
		return string(b[:14])
	}
	return string(b)
}

func benchAPI(ctx context.Context, n int, pg, only string, rate, secs float64, limit int) error {
	dir, err := os.MkdirTemp("", "storesbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ts, closeAll, err := open(ctx, pg, only, dir)
	if err != nil {
		return err
	}
	defer closeAll()
	fmt.Printf("api: %d-row pages of a %d-row list at %.0f req/s for %.0f s on loopback; load average %s\n", limit, n, rate, secs, loadavg())
	for _, t := range ts {
		if _, err := t.db.Publish(ctx, stores.PublishInput{Risk: riskRows(n, "bench-1", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 0)}); err != nil {
			return err
		}
		tok, _, err := t.db.CreateToken(ctx, "bench", []string{stores.ScopeRead})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: api.New(t.db, api.Options{})}
		go srv.Serve(ln)
		cpu0 := cpuSeconds()
		lat, errs := load(ln.Addr().String(), tok, rate, secs, limit)
		cpu := cpuSeconds() - cpu0
		srv.Shutdown(ctx)
		slices.Sort(lat)
		q := func(p float64) float64 {
			if len(lat) == 0 {
				return math.NaN()
			}
			return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() * 1000
		}
		fmt.Printf("  %-9s %5d requests, %d errors: p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms; CPU %.1f ms/request (server + load generator)\n",
			t.name, len(lat), errs, q(0.5), q(0.9), q(0.99), q(1), 1000*cpu/float64(max(len(lat), 1)))
	}
	return nil
}

// load sends requests at a fixed rate (open loop: a slow response does not
// delay the next send), each the next page of a cursor walk.
func load(addr, tok string, rate, secs float64, limit int) ([]time.Duration, int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	total := int(rate * secs)
	interval := time.Duration(float64(time.Second) / rate)
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	cursors := make(chan string, 64) // walks in progress
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		cur := ""
		select {
		case cur = <-cursors:
		default:
		}
		wg.Go(func() {
			url := fmt.Sprintf("http://%s/v1/risk-list?limit=%d", addr, limit)
			if cur != "" {
				url += "&cursor=" + cur
			}
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			t0 := time.Now()
			res, err := client.Do(req)
			// the generator only reads the body and picks the cursor out of its
			// tail: decoding 1,000 rows would cost it more than the server
			next := ""
			ok := err == nil && res.StatusCode == 200
			if err == nil {
				body, rerr := io.ReadAll(res.Body)
				res.Body.Close()
				ok = ok && rerr == nil && bytes.HasSuffix(body, []byte("}\n")) && bytes.HasPrefix(body, []byte(`{"rows":[{`))
				if i := bytes.LastIndex(body, []byte(`"next_cursor":"`)); ok && i >= 0 {
					rest := body[i+len(`"next_cursor":"`):]
					if j := bytes.IndexByte(rest, '"'); j > 0 {
						next = string(rest[:j])
					}
				}
			}
			d := time.Since(t0)
			mu.Lock()
			lat = append(lat, d)
			if !ok {
				errs++
			}
			mu.Unlock()
			if next != "" {
				select {
				case cursors <- next:
				default:
				}
			}
		})
	}
	wg.Wait()
	return lat, errs
}
