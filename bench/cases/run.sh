#!/usr/bin/env bash
# The nightly run end to end: `retain run` (features → score → publish; the
# snapshot is extracted before timing) over the synthetic 1M-customer /
# 20M-order data set, its wall time and peak memory; then the worker curve:
# the same nights queued for 1, 2 and 4 `retain worker` processes on the
# embedded SQLite queue.
#
#   RUN_BENCH_CUSTOMERS=1000000   customers of the timed run (about 20 orders each)
#   RUN_BENCH_CURVE_CUSTOMERS=100000  customers of the worker curve
#   RUN_BENCH_CURVE_NIGHTS=4      nights queued per point of the curve
#   RUN_BENCH_WORKERS="1 2 4"     worker processes per point
#   RUN_BENCH_OUT=bench/out/run   where data and results go (data is reused)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
N=${RUN_BENCH_CUSTOMERS:-1000000}
CN=${RUN_BENCH_CURVE_CUSTOMERS:-100000}
NIGHTS=${RUN_BENCH_CURVE_NIGHTS:-4}
WORKERS=${RUN_BENCH_WORKERS:-1 2 4}
OUT=${RUN_BENCH_OUT:-$ROOT/bench/out/run}
AS_OF=2024-07-01
mkdir -p "$OUT"
go build -o "$OUT/retain" ./cmd/retain
R="$OUT/retain"

# dataset N DIR: customers + orders (Parquet), extracted once.
dataset() {
  local n=$1 dir=$2
  if [ ! -f "$dir/.done" ] || [ "$(cat "$dir/.done")" != "$n" ]; then
    rm -rf "$dir"
    echo "retain generate: $n customers (about 20 orders each) …"
    "$R" generate --customers "$n" --orders-per-customer 20 --format parquet --tables customers,orders --seed 1 --out "$dir" >/dev/null 2>&1
    echo "$n" > "$dir/.done"
  fi
}

# champion DIR: a model trained on a 20k-customer set of the same generator
# (the nightly run scores with the champion; training is the retraining
# schedule's job, not the nightly run's).
champion() {
  local dir=$1
  if [ ! -f "$OUT/model/data/models/champion.json" ]; then
    dataset 20000 "$OUT/model"
    "$R" extract --config "$OUT/model/retain.yaml" >/dev/null 2>&1
    "$R" train --config "$OUT/model/retain.yaml" --as-of "$AS_OF" --model logreg >/dev/null 2>"$OUT/model/train.log"
  fi
  mkdir -p "$dir/data/models"
  cp "$OUT"/model/data/models/*.json "$dir/data/models/"
}

secs_rss() { # TIMEFILE → "wall_s peak_MiB"
  python3 - "$1" <<'P'
import re, sys
t = open(sys.argv[1]).read()
f = lambda n: re.search(re.escape(n) + r":\s*(\S+)", t).group(1)
w = f("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
print(f"{sum(float(x) * 60 ** i for i, x in enumerate(reversed(w))):.1f} {int(f('Maximum resident set size (kbytes)')) / 1024:.0f}")
P
}

echo "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
# 1. The timed nightly run.
BIG="$OUT/synth-$N"
dataset "$N" "$BIG"
champion "$BIG"
rm -rf "$BIG/data/runs" "$BIG/data/retain.db"* "$BIG/data/features" "$BIG/data/stores" 2>/dev/null || true
# The night publishes an intervention queue too: the stores bench's two
# campaigns (bench/storesbench policy()), about 0.3 queue rows per customer.
NIGHT="$BIG/retain-night.yaml"
cat "$BIG/retain.yaml" - > "$NIGHT" <<'Y'
policy:
  campaigns:
    - name: save-offer
      tiers: [high]
      min_value_at_risk: 50
      daily_capacity: 20000
      cost_per_contact: 2
      control_share: 0.1
    - name: win-back
      segments: [at_risk, hibernating]
      daily_capacity: 10000
      control_share: 0.1
Y
"$R" run --config "$NIGHT" --as-of "$AS_OF" --until extract >/dev/null 2>"$OUT/extract.log"
/usr/bin/time -v "$R" run --config "$NIGHT" --as-of "$AS_OF" --json >"$OUT/run.json" 2>"$OUT/run.time" || { tail -n 5 "$OUT/run.time"; exit 1; }
read -r WALL RSS < <(secs_rss "$OUT/run.time")
python3 - "$OUT/run.json" "$WALL" "$RSS" "$N" "$OUT/run.time" <<'P'
import json, re, sys
j = json.load(open(sys.argv[1])); wall, rss, n = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
t = open(sys.argv[5]).read()
cpu = sum(float(re.search(k + r" \(seconds\):\s*(\S+)", t).group(1)) for k in ("User time", "System time"))
load = open("/proc/loadavg").read().split()[:3]
def stage(s):
    if s["skipped"]:
        return f"{s['stage']} skipped"
    peak = f" peak {s['peak_rss_mib']:.0f} MiB" if s.get("peak_rss_mib") else ""
    return f"{s['stage']} {s['seconds']:.1f}s{peak}"
st = ", ".join(stage(s) for s in j["stages"])
print(f"retain run, {n} customers: wall {wall:.1f}s, {cpu:.1f} CPU-s ({st}); peak RSS {rss:.0f} MiB; load after {' '.join(load)}; target < 60 s and < 2048 MiB")
P

# 2. The worker curve: NIGHTS nights queued, worked by W worker processes.
SMALL="$OUT/synth-$CN"
dataset "$CN" "$SMALL"
champion "$SMALL"
for w in $WORKERS; do
  rm -rf "$SMALL/data/runs" "$SMALL/data/retain.db"* "$SMALL/data/features" "$SMALL/data/stores" 2>/dev/null || true
  "$R" run --config "$SMALL/retain.yaml" --as-of "$AS_OF" --until extract >/dev/null 2>&1
  last=$(date -u -d "$AS_OF + $((NIGHTS - 1)) days" +%F)
  "$R" backfill --config "$SMALL/retain.yaml" --from "$AS_OF" --to "$last" --queue >/dev/null 2>&1
  start=$(date +%s.%N)
  pids=()
  for i in $(seq "$w"); do
    "$R" worker --config "$SMALL/retain.yaml" --no-schedule >"$OUT/worker-$w-$i.log" 2>&1 &
    pids+=($!)
  done
  while :; do
    done_n=$("$R" runs --config "$SMALL/retain.yaml" --json 2>/dev/null | python3 -c 'import json,sys; print(sum(r["status"] in ("succeeded","failed") for r in json.load(sys.stdin)["runs"]))' || echo 0)
    [ "$done_n" -ge "$NIGHTS" ] && break
    sleep 0.5
  done
  end=$(date +%s.%N)
  for p in "${pids[@]}"; do kill -INT "$p"; done
  wait "${pids[@]}" 2>/dev/null || true
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'worker curve: {sys.argv[3]} worker process(es), {sys.argv[4]} nights x {sys.argv[5]} customers: {s:.1f}s ({s/int(sys.argv[4]):.1f}s per night)')" "$start" "$end" "$w" "$NIGHTS" "$CN"
done
