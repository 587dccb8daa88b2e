#!/usr/bin/env bash
# CLV side by side: models/clv (Go) vs SciPy L-BFGS-B on the same BG/NBD and
# Gamma-Gamma likelihoods, 1M synthetic customers (BG/NBD truth r=0.5 α=2
# a=0.8 b=2.5 per week; T on a daily grid over 26–52 weeks; Gamma-Gamma
# p=6 q=4 γ=15), seed 42. Go figures: wall ns/op and process CPU s/op (the
# machine is shared; CPU time is the fairer figure under contention).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "-- Go (models/clv): fit BG/NBD incl. compression + std errors; Gamma-Gamma on the repeaters; predictions for 1M"
go test -run '^$' -bench 'FitBGNBD1M|FitGammaGamma1M|Predict1M|NBDEval1M' -benchtime 5x -benchmem ./models/clv | grep -E '^Benchmark'
RETAIN_CLV_SIM_OUT="$tmp/sim.csv" go test -count=1 -run '^TestWriteSim$' ./models/clv >/dev/null
echo "-- CLI: retain clv fit on the same 1M rows from CSV (wall, includes reading the CSV)"
go build -o "$tmp/retain" ./cmd/retain
/usr/bin/time -f "   wall %es, cpu %Us user + %Ss sys, max RSS %MkB" "$tmp/retain" clv fit --model bgnbd --summary "$tmp/sim.csv" --json 2>&1 | grep -E '"(r|alpha|a|b|seconds|converged|rows)"|wall'
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import scipy' 2>/dev/null; then
  echo "-- SciPy L-BFGS-B, analytic gradients (bench/clv/scipy_fit.py)"
  /usr/bin/python3 bench/clv/scipy_fit.py "$tmp/sim.csv"
else
  echo "-- SciPy not available (/usr/bin/python3 with python3-scipy): skipped"
fi
