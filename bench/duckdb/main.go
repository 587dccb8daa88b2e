// Command duckdb-bench compares retain's feature build with DuckDB running
// the equivalent core-RFM SQL (count, sum, min/max time and the 30/90/180/365
// day windows per customer, records strictly before the cutoff) over the
// same snapshot Parquet files. It lives in its own module so the retain
// binary never links DuckDB.
//
//	go run . -snapshot DIR -as-of 2024-07-01 -threads 1,2
//	go run . -snapshot DIR -gen 1000000      # write a synthetic snapshot
//	go run . -inspect features.parquet       # how DuckDB reads our file
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/retainlab/retain/features"
)

func main() {
	snap := flag.String("snapshot", "", "snapshot directory (holding orders/part-*.parquet)")
	asOf := flag.String("as-of", "", "cutoff date YYYY-MM-DD")
	threads := flag.String("threads", "1,2", "thread counts to compare")
	reps := flag.Int("reps", 2, "repetitions per measurement (best is reported)")
	inspect := flag.String("inspect", "", "instead: read a retain features file with DuckDB and print what it sees (interop check)")
	gen := flag.Int("gen", 0, "instead: write a synthetic customers+orders snapshot of this many customers into -snapshot")
	ordersPer := flag.Float64("orders-per-customer", 20, "with -gen: about this many orders per customer")
	shards := flag.Int("shards", 8, "with -gen: shards")
	count := flag.Bool("count", false, "instead: print the snapshot's order rows")
	flag.Parse()
	if *count {
		n, err := orderRows(context.Background(), *snap)
		if err != nil {
			fail(err)
		}
		fmt.Println(n)
		return
	}
	if *gen > 0 {
		start := time.Now()
		n, err := generate(*snap, *gen, *ordersPer, *shards, 1)
		if err != nil {
			fail(err)
		}
		fmt.Printf("wrote %d customers, %d orders into %s in %.1fs\n", *gen, n, *snap, time.Since(start).Seconds())
		return
	}
	if *inspect != "" {
		if err := inspectFile(context.Background(), *inspect); err != nil {
			fail(err)
		}
		return
	}
	if *snap == "" || *asOf == "" {
		fmt.Fprintln(os.Stderr, "usage: duckdb-bench -snapshot DIR -as-of YYYY-MM-DD [-threads 1,2]")
		os.Exit(2)
	}
	D, err := time.Parse(time.DateOnly, *asOf)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	rows, err := orderRows(ctx, *snap)
	if err != nil {
		fail(err)
	}
	fmt.Printf("snapshot %s: %d order rows; cutoff %s\n", *snap, rows, *asOf)
	fmt.Printf("%-50s %7s %8s %12s %9s %14s\n", "engine", "threads", "wall s", "rows/s wall", "cpu s", "rows/cpu-s")
	row := func(name string, n int, wall, cpu float64) {
		fmt.Printf("%-50s %7d %8.3f %12.0f %9.3f %14.0f\n", name, n, wall, float64(rows)/wall, cpu, float64(rows)/cpu)
	}
	for _, ts := range strings.Split(*threads, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(ts))
		if err != nil {
			fail(err)
		}
		runtime.GOMAXPROCS(n)
		bestWall, bestCPU := math.Inf(1), math.Inf(1)
		var nf, nr int
		for r := 0; r < *reps; r++ {
			start, cpu0 := time.Now(), cpuSeconds()
			f, err := features.Build(ctx, *snap, features.Options{Cutoffs: []time.Time{D}, Workers: n})
			if err != nil {
				fail(err)
			}
			out := filepath.Join(os.TempDir(), "duckdb-bench-features.parquet")
			if err := features.WriteFile(ctx, out, f); err != nil {
				fail(err)
			}
			os.Remove(out)
			bestWall = math.Min(bestWall, time.Since(start).Seconds())
			bestCPU = math.Min(bestCPU, cpuSeconds()-cpu0)
			nf, nr = len(f.Names), f.Rows()
		}
		row(fmt.Sprintf("retain full set: %d features x %d rows, written", nf, nr), n, bestWall, bestCPU)
		bestWall, bestCPU = math.Inf(1), math.Inf(1)
		for r := 0; r < *reps; r++ {
			cpu0 := cpuSeconds()
			s, err := duck(ctx, *snap, D, n)
			if err != nil {
				fail(err)
			}
			bestWall = math.Min(bestWall, s)
			bestCPU = math.Min(bestCPU, cpuSeconds()-cpu0)
		}
		row("duckdb core RFM: 12 aggregates, in memory", n, bestWall, bestCPU)
	}
}

// cpuSeconds is this process's user+system CPU time (DuckDB's threads run
// in-process, so it covers them too): on a busy machine CPU time compares
// engines more fairly than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "duckdb-bench:", err)
	os.Exit(1)
}

func orderRows(ctx context.Context, snap string) (int64, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob(snap))).Scan(&n)
	return n, err
}

func glob(snap string) string { return filepath.Join(snap, "orders", "part-*.parquet") }

// duck runs the core-RFM query and returns its wall time in seconds.
func duck(ctx context.Context, snap string, D time.Time, threads int) (float64, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, fmt.Sprintf("SET threads TO %d", threads)); err != nil {
		return 0, err
	}
	d := fmt.Sprintf("TIMESTAMPTZ '%s'", D.UTC().Format("2006-01-02 15:04:05+00"))
	var win strings.Builder
	for _, w := range []int{30, 90, 180, 365} {
		fmt.Fprintf(&win, ", count(*) FILTER (WHERE ordered_at >= %s - INTERVAL %d DAY) AS frequency_%dd", d, w, w)
		fmt.Fprintf(&win, ", sum(amount) FILTER (WHERE ordered_at >= %s - INTERVAL %d DAY) AS monetary_%dd", d, w, w)
	}
	q := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE rfm AS
SELECT customer_id, count(*) AS frequency_lifetime, sum(amount) AS monetary_lifetime,
       min(ordered_at) AS first_order, max(ordered_at) AS last_order%s
FROM read_parquet('%s')
WHERE ordered_at < %s
GROUP BY customer_id`, win.String(), glob(snap), d)
	start := time.Now()
	if _, err := db.ExecContext(ctx, q); err != nil {
		return 0, fmt.Errorf("%w\n%s", err, q)
	}
	return time.Since(start).Seconds(), nil
}

// inspectFile reads a features file with DuckDB: rows, label mean, column
// types and the registry metadata, to check other tools read it as we mean.
func inspectFile(ctx context.Context, path string) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	var n int64
	var churn sql.NullFloat64
	var first string
	q := fmt.Sprintf("SELECT count(*), avg(churned), min(cutoff)::VARCHAR FROM read_parquet('%s')", path)
	if err := db.QueryRowContext(ctx, q).Scan(&n, &churn, &first); err != nil {
		return err
	}
	fmt.Printf("rows %d, mean churned %.4f, first cutoff %s\n", n, churn.Float64, first)
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('%s')) LIMIT 4", path))
	if err != nil {
		return err
	}
	for rows.Next() {
		var c, t string
		if err := rows.Scan(&c, &t); err != nil {
			return err
		}
		fmt.Printf("  %s %s\n", c, t)
	}
	rows.Close()
	var key, val string
	err = db.QueryRowContext(ctx, fmt.Sprintf("SELECT decode(key), decode(value) FROM parquet_kv_metadata('%s') WHERE decode(key) = 'retain.features.registry'", path)).Scan(&key, &val)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d bytes of JSON, starts %.80s…\n", key, len(val), val)
	return nil
}
