#!/usr/bin/env bash
# CLV model quality: published-table exactness on CDNOW (BG/NBD, Pareto/NBD,
# MBG/NBD, Gamma-Gamma), BG/BB on the donations data, sBG on Fader & Hardie
# (2007), the CDNOW holdout (39 weeks), and parameter recovery within 5% on
# 100k simulated customers with known BG/NBD + Gamma-Gamma truth.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=../shared/datasets
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/retain" ./cmd/retain
R="$tmp/retain"
for m in bgnbd paretonbd mbgnbd; do
  echo "-- $m on CDNOW (weeks)"
  "$R" clv fit --model $m --summary $D/cdnow_summary/cdnow_customers_summary.csv 2>/dev/null
done
echo "-- gammagamma on the CDNOW repeat buyers"
"$R" clv fit --model gammagamma --summary $D/cdnow_summary/cdnow_customers_summary_with_transactions.csv 2>/dev/null
echo "-- bgbb on the donations table"
"$R" clv fit --model bgbb --summary $D/donations_bgbb/donations.csv 2>/dev/null
echo "-- sbg, Fader & Hardie (2007) high end and regular"
"$R" clv fit --model sbg --survivors 1000,869,743,653,593,551,517,491 2>/dev/null
"$R" clv fit --model sbg --survivors 1000,631,468,382,326,289,262,241 2>/dev/null
echo "-- CDNOW holdout from the raw transactions (calibration to 1997-09-30, holdout to 1998-06-30)"
for m in bgnbd paretonbd mbgnbd; do
  "$R" clv holdout --model $m --transactions $D/cdnow_sample/CDNOW_sample.txt --customer-col 2 --time-col 3 \
    --time-format 20060102 --calibration-end 1997-09-30 --observation-end 1998-06-30 --unit week 2>/dev/null
done
echo "-- parameter recovery, 100k simulated customers, 3 seeds (models/clv TestRecovery100k)"
RETAIN_CLV_EVAL=1 go test -count=1 -run '^TestRecovery100k$' -v ./models/clv | grep -E 'seed|ok|FAIL'
echo "-- parameter recovery on \`retain generate\` data (100k customers, seed 7; BG/NBD from the orders, same-day orders merged, weeks)"
if "$R" generate --help >/dev/null 2>&1; then
  "$R" generate --customers 100000 --seed 7 --out "$tmp/gen" >/dev/null 2>&1
  for m in bgnbd gammagamma; do
    "$R" clv fit --model $m --transactions "$tmp/gen/orders.csv" --customer-col customer_id --time-col ordered_at --amount-col amount \
      --calibration-end 2025-01-01 --unit week --json 2>/dev/null >"$tmp/$m.json"
  done
  python3 - "$tmp" <<'P'
import json, sys
w = sys.argv[1]
t = json.load(open(f"{w}/gen/truth.json"))
for m, key in (("bgnbd", "bgnbd"), ("gammagamma", "gamma_gamma")):
    f = json.load(open(f"{w}/{m}.json"))
    for k, v in t[key].items():
        g = f["params"][k]
        print(f"   {m:10s} {k:6s} truth {v:7.3f} fit {g:8.4f} ({100*(g-v)/v:+.2f}%){'' if abs(g-v) <= 0.05*v else '  > 5%'}")
P
else
  echo "   retain generate not available: skipped"
fi
