#!/usr/bin/env bash
# Churn model quality on the public data sets, default settings, 5-fold
# stratified CV (seeded): Telco (target AUC >= 0.850), Bank churn (>= 0.870),
# Online Retail at D = 2011-09-09 with a 90-day horizon (>= 0.76), ECE <= 0.02
# (pooled out-of-fold). Python peers (scikit-learn logistic regression,
# default XGBoost) run on the same folds when /usr/bin/python3 has them.
# Usage: bench/evals/churn.sh  (from the project root; MODELS="blend gbdt logreg" to compare families)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/datasets}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/retain" ./cmd/retain
R="$WORK/retain"
MODELS=${MODELS:-"blend gbdt logreg"}
PY=/usr/bin/python3
havepy=0
"$PY" -c "import sklearn, pandas" 2>/dev/null && havepy=1

row() { # name json-file target
  "$PY" - "$@" <<'P'
import json, sys
name, path, target = sys.argv[1], sys.argv[2], float(sys.argv[3])
for line in open(path).read().strip().split("\n{"):
    j = json.loads(line if line.startswith("{") else "{" + line)
    ok = "ok " if j["auc"] >= target and j["ece"] <= 0.02 else "MISS"
    if target == 0: ok = "   "
    print(f"{ok} {name:14s} {j['model']:16s} AUC {j['auc']:.4f}  PR-AUC {j['pr_auc']:.4f}  logloss {j['logloss']:.4f}  Brier {j['brier']:.4f}  ECE {j['ece']:.4f}  lift@10% {j.get('lift_at_10', float('nan')):.2f}  n {j['n']}  pos {j['positives']}")
P
}

table() { # name file label id target
  local name=$1 file=$2 label=$3 id=$4 target=$5
  for m in $MODELS; do
    local t0=$SECONDS
    "$R" train --table "$file" --label "$label" --id "$id" --cv 5 --model "$m" --oof "$WORK/$name.oof" --json >"$WORK/$name.$m.json" 2>"$WORK/err" || { echo "FAIL $name $m: $(tail -1 "$WORK/err")"; continue; }
    row "$name" "$WORK/$name.$m.json" "$target"
    echo "      ($((SECONDS - t0)) s)"
  done
  if [ $havepy = 1 ]; then
    "$PY" bench/evals/churn_python.py "$file" "$label" "$id" "$WORK/$name.oof" >"$WORK/$name.py.json" 2>"$WORK/err" && row "$name" "$WORK/$name.py.json" 0 || echo "     python peers failed: $(tail -1 "$WORK/err")"
  fi
}

echo "== churn: 5-fold CV, default settings (target: AUC and pooled out-of-fold ECE <= 0.02)"
table telco "$DATA/telco_customer_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv" Churn customerID 0.850
table bank "$DATA/bank_churn_modelling/Churn_Modelling.csv" Exited CustomerId 0.870

# Online Retail through the whole flow: extract, features at D, CV; then a backtest at D.
sed "s#data_dir:.*#data_dir: $WORK/or#; s#path: \.\./\.\./\.\./shared/datasets#path: $(cd "$DATA" && pwd)#" datasets/examples/online_retail.yaml >"$WORK/or.yaml"
"$R" extract --config "$WORK/or.yaml" >/dev/null 2>"$WORK/err" || { echo "FAIL online retail extract: $(tail -1 "$WORK/err")"; exit 1; }
for m in $MODELS; do
  t0=$SECONDS
  "$R" train --config "$WORK/or.yaml" --as-of 2011-09-09 --cv 5 --model "$m" --json >"$WORK/or.$m.json" 2>"$WORK/err" || { echo "FAIL online_retail $m: $(tail -1 "$WORK/err")"; continue; }
  row online_retail "$WORK/or.$m.json" 0.76
  echo "      ($((SECONDS - t0)) s)"
done
echo "   online_retail  reference (issue 4, same label definition): sklearn LR on 19 RFM features 0.743, tuned XGBoost 0.736, default XGBoost 0.694"
for m in $MODELS; do
  "$R" backtest --config "$WORK/or.yaml" --as-of 2011-09-09 --model "$m" --json >"$WORK/bt.$m.json" 2>"$WORK/err" || { echo "FAIL backtest $m: $(tail -1 "$WORK/err")"; continue; }
  row or_backtest "$WORK/bt.$m.json" 0
done
echo "   (backtest: fitted on the 2011-06-11 cutoff, scored at 2011-09-09: seasonality shifts the churn rate, so ECE is not expected to be small)"
