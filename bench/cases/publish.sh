#!/usr/bin/env bash
# Publish 1M risk rows plus their intervention-queue rows (two campaigns,
# capacity, control groups, suppressions) to Postgres (COPY into staging, table
# swap) and SQLite (one IMMEDIATE transaction), two nights in a row, then the
# same night again (must be skipped). Targets: Postgres < 20 s, SQLite < 30 s.
#
#   PUBLISH_BENCH_ROWS=1000000
#   PUBLISH_BENCH_PG=postgres://postgres@127.0.0.1:5432/test?sslmode=disable  (empty: SQLite only)
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench/out
go build -o bench/out/storesbench ./bench/storesbench
exec bench/out/storesbench publish -rows "${PUBLISH_BENCH_ROWS:-1000000}" \
  -pg "${PUBLISH_BENCH_PG-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
