#!/usr/bin/env bash
# One night's scoring run with the per-shard score stage: a local `retain
# run` (shards side by side in one process), then the same kind of night
# queued once per point and worked by 1, 2 and 4 `retain worker` processes
# (embedded SQLite queue): the run job does extract, features, score's
# prepare step and the fan-out; 8 shard jobs spread over the processes; the
# last one queues the merge and publish. Prints wall seconds, the score
# part (prepare + shards + merge, from the ledger) and each process's CPU
# seconds and peak RSS.
#
#   SHARDS_BENCH_CUSTOMERS=200000   generated customers (all tables, CSV)
#   SHARDS_BENCH_WORKERS="1 2 4"    worker processes per point
#   SHARDS_BENCH_OUT=bench/out/run-shards   data and results (data is reused)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${SHARDS_BENCH_CUSTOMERS:-200000}
WORKERS=${SHARDS_BENCH_WORKERS:-1 2 4}
OUT=${SHARDS_BENCH_OUT:-$(pwd)/bench/out/run-shards}
mkdir -p "$OUT"
go build -o "$OUT/retain" ./cmd/retain
R="$OUT/retain"
D="$OUT/synth-$N"
CFG="$D/retain.yaml"
if [ ! -f "$D/.done" ]; then
  rm -rf "$D"
  "$R" generate --customers "$N" --seed 4 --out "$D" >/dev/null 2>&1
  cat >>"$CFG" <<'Y'
shards: 8
model:
  kind: gbdt
  calibration_folds: 2
  gbdt:
    trees: 150
    learning_rate: 0.1
    no_refit: true
Y
  # The champion is trained once (a retraining run), never per shard.
  "$R" run --config "$CFG" --as-of 2024-12-01 --kind retrain >/dev/null 2>"$OUT/train.log"
  touch "$D/.done"
fi
# Each point scores a date not run before (a new run id).
day=$(( $(ls "$D/data/runs" 2>/dev/null | wc -l) ))
next_date() { day=$((day + 1)); d=$(date -u -d "2024-12-01 + $day days" +%Y-%m-%d); } # sets d

report() { # AS_OF → the run's wall seconds and its score part
  "$R" runs --config "$CFG" --as-of "$1" --json | python3 -c '
import json, sys, datetime
r = json.load(sys.stdin)["runs"][0]
p = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
st = {s["stage"]: s for s in r["stages"]}
print("run %.1f s, score (prepare+shards+merge) %.1f s, publish %.1f s" % ((p(r["finished_at"]) - p(r["started_at"])).total_seconds(),
      (p(st["publish"]["started_at"]) - p(st["features"]["finished_at"])).total_seconds(), st["publish"]["duration_ms"] / 1000))'
}

echo "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
next_date
/usr/bin/time -f "CPU user %U s, sys %S s, peak RSS %M KB" -o "$OUT/local.time" "$R" run --config "$CFG" --as-of "$d" >/dev/null 2>"$OUT/local.log"
echo "local retain run ($d, $N customers, 8 shards): $(report "$d"); $(cat "$OUT/local.time")"
for w in $WORKERS; do
  next_date
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$R" backfill --config "$CFG" --from "$d" --to "$d" --queue >/dev/null 2>&1
  pids=()
  for i in $(seq 1 "$w"); do
    "$R" worker --config "$CFG" --no-schedule --workers 1 >"$OUT/worker-$w-$i.log" 2>&1 &
    pids+=($!)
  done
  # The job that publishes writes the reports last; wait for their ledger row.
  until "$R" runs --config "$CFG" --as-of "$d" --json 2>/dev/null | grep -q '"stage": "report"'; do sleep 1; done
  cpu=""
  for i in "${!pids[@]}"; do
    p=${pids[$i]}
    cpu+=" $(awk '{printf "%.1f", ($14+$15)/100}' /proc/$p/stat)s"
    kill -INT "$p"
  done
  wait
  echo "$w worker process(es) ($d): $(report "$d"); CPU per process:$cpu"
done
