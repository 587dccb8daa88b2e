#!/usr/bin/env bash
# Feature build over the synthetic 20M-order / 1M-customer snapshot (the full
# feature set, written to Parquet), its speed in order rows/s and peak memory,
# then the same snapshot through DuckDB's core-RFM SQL, side by side
# (bench/duckdb is a separate module: the retain binary never links DuckDB).
#
#   FEATURES_BENCH_CUSTOMERS=1000000  customers (about 20 orders each)
#   FEATURES_BENCH_OUT=bench/out/features  where data and results go (reused)
#   FEATURES_BENCH_THREADS=1,2         thread counts
#   FEATURES_BENCH_DATA=direct         direct: bench/duckdb -gen writes the
#       snapshot straight in the canonical layout (customers + orders);
#       retain: `retain generate` (CSV) then `retain extract` (slower)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
CUSTOMERS=${FEATURES_BENCH_CUSTOMERS:-1000000}
OUT=${FEATURES_BENCH_OUT:-$ROOT/bench/out/features}
THREADS=${FEATURES_BENCH_THREADS:-1,2}
DATA=${FEATURES_BENCH_DATA:-direct}
AS_OF=2024-07-01
mkdir -p "$OUT"
go build -o "$OUT/retain" ./cmd/retain
(cd bench/duckdb && go build -o "$OUT/duckdb-bench" .)
CFG="$OUT/synth/retain.yaml"
SNAP="$OUT/synth/data/snapshot"
if [ ! -f "$OUT/synth/.done" ] || [ "$(cat "$OUT/synth/.done")" != "$DATA $CUSTOMERS" ]; then
  rm -rf "$OUT/synth"
  if [ "$DATA" = retain ]; then
    echo "retain generate: $CUSTOMERS customers (about 20 orders each) …"
    "$OUT/retain" generate --customers "$CUSTOMERS" --orders-per-customer 20 --format csv \
      --tables customers,orders --seed 1 --out "$OUT/synth" >/dev/null
    echo "retain extract …"
    "$OUT/retain" extract --config "$CFG" >/dev/null
    rm -f "$OUT/synth/orders.csv" "$OUT/synth/customers.csv" "$OUT/synth/truth.csv"
  else
    "$OUT/duckdb-bench" -snapshot "$SNAP" -gen "$CUSTOMERS"
    # features reads only the snapshot; the source is never opened
    printf 'data_dir: ./data\nsources:\n  orders:\n    format: csv\n    path: unused.csv\n    columns: {customer_id: c, ordered_at: t, amount: a}\n' >"$CFG"
  fi
  echo "$DATA $CUSTOMERS" > "$OUT/synth/.done"
fi
ROWS=$("$OUT/duckdb-bench" -snapshot "$SNAP" -count)
echo "snapshot: $ROWS order rows, $CUSTOMERS customers; cutoff $AS_OF; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"

for w in ${THREADS//,/ }; do
  /usr/bin/time -v "$OUT/retain" features --config "$CFG" --as-of "$AS_OF" --workers "$w" --json \
    --out "$OUT/features-$w.parquet" >"$OUT/features-$w.json" 2>"$OUT/features-$w.time"
  python3 - "$OUT/features-$w.json" "$OUT/features-$w.time" "$ROWS" "$w" <<'P'
import json, re, sys
j = json.load(open(sys.argv[1])); t = open(sys.argv[2]).read(); rows = int(sys.argv[3])
def field(name):
    return re.search(re.escape(name) + r":\s*(\S+)", t).group(1)
wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
rss = int(field("Maximum resident set size (kbytes)")) / 1024
print(f"retain features --workers {sys.argv[4]}: {j['customers']} customers x {j['features']} features, churn rate {j['churn_rate']:.4f}; "
      f"wall {secs:.2f}s = {rows/secs/1e6:.1f}M order rows/s; cpu {cpu:.2f}s = {rows/cpu/1e6:.1f}M rows per cpu-second; peak RSS {rss:.0f} MiB")
P
done

echo "side by side with DuckDB (in-process, best of 2):"
"$OUT/duckdb-bench" -snapshot "$SNAP" -as-of "$AS_OF" -threads "$THREADS"
