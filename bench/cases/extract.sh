#!/usr/bin/env bash
# Extract benchmark (issue 2): 20M order lines of 1M customers, from CSV and
# from Parquet, into an 8-shard snapshot. Prints rows/s (source rows read per
# wall-clock second of `retain extract`), rows per CPU-second (user + sys;
# steadier on a shared machine) and peak RSS (/usr/bin/time -v).
# EXTRACT_SHARDS overrides the shard count (fewer shards = bigger shards).
# Targets: >= 2M rows/s from CSV, >= 10M rows/s from Parquet, peak RSS < 1 GB.
# Data: bench/cases/extractgen (deterministic, seed 1), cached in bench/out/extract.
# EXTRACT_ROWS / EXTRACT_CUSTOMERS override the size. EXTRACT_SORTED=1 uses
# a data set already sorted by (customer_id, ordered_at), like a sorted export.
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=${EXTRACT_ROWS:-20000000}
customers=${EXTRACT_CUSTOMERS:-1000000}
out=bench/out/extract
mkdir -p "$out"
go build -o "$out/retain" ./cmd/retain
go build -o "$out/extractgen" ./bench/cases/extractgen
sorted=${EXTRACT_SORTED:-}
tag=$rows${sorted:+-sorted}
csv="$out/orders-$tag.csv"
pq="$out/orders-$tag.parquet"
if [ ! -s "$csv" ] || [ ! -s "$pq" ]; then
  echo "generating $rows order lines for $customers customers…"
  "$out/extractgen" -rows "$rows" -customers "$customers" -seed 1 ${sorted:+-sorted} -csv "$csv.tmp" -parquet "$pq.tmp"
  mv "$csv.tmp" "$csv"; mv "$pq.tmp" "$pq"
fi
for fmt in csv parquet; do
  src=$csv; tf='    time_format: "2006-01-02 15:04:05"'
  [ "$fmt" = parquet ] && { src=$pq; tf=''; }
  cat > "$out/$fmt.yaml" <<YAML
data_dir: ./data-$fmt
shards: ${EXTRACT_SHARDS:-8}
sources:
  orders:
    format: $fmt
    path: $(basename "$src")
$tf
    columns:
      customer_id: customer_id
      order_id: order_id
      ordered_at: ordered_at
      amount: quantity * unit_price
      quantity: quantity
      product: product
      channel: channel
YAML
  rm -rf "$out/data-$fmt"
  /usr/bin/time -v "$out/retain" extract --config "$out/$fmt.yaml" --json >"$out/$fmt.json" 2>"$out/$fmt.time"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$out/$fmt.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/$fmt.time")
  user=$(awk -F': ' '/User time/ {print $2}' "$out/$fmt.time")
  sys=$(awk -F': ' '/System time/ {print $2}' "$out/$fmt.time")
  read_rows=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tables']['orders']['read'])" "$out/$fmt.json")
  awk -v f="$fmt" -v n="$read_rows" -v w="$wall" -v r="$rss" -v u="$user" -v s="$sys" 'BEGIN {
    printf "extract %-8s %d rows in %.1fs wall (%.1fs user, %.1fs sys): %.2fM rows/s, %.2fM rows per CPU-second, peak RSS %.0f MB\n", f, n, w, u, s, n/w/1e6, n/(u+s)/1e6, r/1024 }'
done
echo "(2-core machine; figures depend on what else runs)"
