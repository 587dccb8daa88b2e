#!/usr/bin/env bash
# The synthetic benchmark set other benchmarks read: 1M customers, about 20M
# orders (BG/NBD defaults r=0.9 a=0.8 b=4 with alpha solved by
# --orders-per-customer 20; Gamma-Gamma spend; all six tables) as CSV and as
# Parquet (zstd), each with its retain.yaml and ground truth:
#
#   bench/out/synth-1m-csv/retain.yaml       (orders.csv, events.csv, …)
#   bench/out/synth-1m-parquet/retain.yaml   (orders.parquet, …)
#
# Skipped when already there with the same settings (call it first, it is
# cheap then). Prints time, throughput and peak RSS of each generation.
#   SYNTH_BENCH_CUSTOMERS=1000000   customers
#   SYNTH_BENCH_OUT=bench/out       parent folder
#   SYNTH_BENCH_FORMATS="csv parquet"
set -euo pipefail
cd "$(dirname "$0")/../.."
CUSTOMERS=${SYNTH_BENCH_CUSTOMERS:-1000000}
OUT=${SYNTH_BENCH_OUT:-bench/out}
FORMATS=${SYNTH_BENCH_FORMATS:-csv parquet}
SEED=1
mkdir -p "$OUT"
TAG=$(( CUSTOMERS / 1000000 ))m
[ "$CUSTOMERS" -ge 1000000 ] || TAG=$(( CUSTOMERS / 1000 ))k
for fmt in $FORMATS; do
  dir="$OUT/synth-$TAG-$fmt"
  want="customers=$CUSTOMERS seed=$SEED opc=20 format=$fmt"
  if [ -f "$dir/.done" ] && [ "$(cat "$dir/.done")" = "$want" ]; then
    echo "generate $fmt: $dir already there ($want)"
    continue
  fi
  [ -x "$OUT/retain-generate" ] || go build -o "$OUT/retain-generate" ./cmd/retain
  rm -rf "$dir"
  /usr/bin/time -f "%e %M" -o "$OUT/.generate-time" \
    "$OUT/retain-generate" generate --customers "$CUSTOMERS" --orders-per-customer 20 --seed "$SEED" \
      --format "$fmt" --out "$dir" --json >"$OUT/.generate.json" 2>"$OUT/.generate.log" \
    || { tail -3 "$OUT/.generate.log"; exit 1; }
  read -r secs rss <"$OUT/.generate-time"
  /usr/bin/python3 - "$OUT/.generate.json" "$secs" "$rss" "$fmt" <<'P'
import json, sys
j = json.load(open(sys.argv[1])); secs, rss, fmt = float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = sum(j["rows"].values()); o = j["rows"]["orders"]
print(f"generate {fmt}: {j['customers']:,} customers, {o:,} orders, {rows:,} rows in all tables, "
      f"{j['bytes']/1e9:.2f} GB in {secs:.1f}s ({o/secs/1e6:.2f}M orders/s, {rows/secs/1e6:.2f}M rows/s), peak RSS {rss/1024:.0f} MiB")
print(f"  {j['config']}  (orders per customer {j['observed_orders_per_customer']:.2f}, BG/NBD expects {j['expected_orders_per_customer']:.2f})")
P
  echo "$want" >"$dir/.done"
done
rm -f "$OUT/retain-generate" "$OUT/.generate-time" "$OUT/.generate.json" "$OUT/.generate.log"
