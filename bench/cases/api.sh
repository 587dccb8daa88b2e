#!/usr/bin/env bash
# API latency on loopback: an open-loop Go load generator sends GET
# /v1/risk-list pages of 1,000 rows (cursor walks) at a fixed rate against the
# API over a 100k-row list in Postgres and in SQLite, and prints p50/p90/p99.
# Bounded: RATE × SECONDS requests, 10 s client timeout, 127.0.0.1 only.
# Target: p99 < 20 ms at 200 requests/s.
#
#   API_BENCH_ROWS=100000  API_BENCH_RATE=200  API_BENCH_SECONDS=20
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench/out
go build -o bench/out/storesbench ./bench/storesbench
exec bench/out/storesbench api -rows "${API_BENCH_ROWS:-100000}" -rate "${API_BENCH_RATE:-200}" \
  -seconds "${API_BENCH_SECONDS:-20}" -limit 1000 \
  -pg "${API_BENCH_PG-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
