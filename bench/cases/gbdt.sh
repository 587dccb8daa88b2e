#!/usr/bin/env bash
# GBDT side by side: retain's Go GBDT vs XGBoost 1.7 `hist` on the same
# seeded synthetic churn-like data set (1M training rows × 50 features,
# 250k test rows), same settings (300 trees, depth 6, learning rate 0.1,
# 255 bins, no subsampling, categorical splits) and threads. Prints one JSON
# line per tool: training seconds, test AUC, scoring rows/s and TreeSHAP
# seconds per 100k rows. Override with GBDT_ROWS, GBDT_THREADS, GBDT_SHAP_ROWS.
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=${GBDT_ROWS:-1000000}
threads=${GBDT_THREADS:-2}
shap=${GBDT_SHAP_ROWS:-20000}
out=bench/out
mkdir -p "$out" bin
go build -o bin/gbdtbench ./bench/xgb/gbdtbench
echo "go:      $(./bin/gbdtbench -rows "$rows" -threads "$threads" -shap-rows "$shap" -out "$out")"
if /usr/bin/python3 -c 'import xgboost, sklearn' 2>/dev/null; then
  echo "xgboost: $(/usr/bin/python3 bench/xgb/gbdt_compare.py --data "$out" --threads "$threads" --shap-rows "$shap")"
else
  echo "xgboost: skipped (needs Debian's python3-xgboost and python3-sklearn for /usr/bin/python3)"
fi
rm -f "$out"/gbdt_*.f64
