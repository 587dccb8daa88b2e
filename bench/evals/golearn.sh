#!/usr/bin/env bash
# golearn (github.com/sjwhitworth/golearn, unmaintained since 2022, needs
# cgo) as an extra comparison baseline: its random forest, ID3 tree,
# liblinear logistic regression and KNN on the same 5-fold stratified
# folds as `retain train --table … --cv 5`, ROC-AUC per fold and mean next
# to retain's default model. bench/golearn is its own Go module, so the
# retain binary never links golearn. Skips (exit 0) without cgo or a C
# compiler.
# Usage: bench/evals/golearn.sh  (from the project root)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=$(cd "${DATA:-../shared/datasets}" && pwd)
if [ "$(go env CGO_ENABLED)" != 1 ] || ! command -v "$(go env CC)" >/dev/null 2>&1; then
  echo "SKIP golearn baseline: needs cgo and a C compiler (CGO_ENABLED=$(go env CGO_ENABLED), CC=$(go env CC))"
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if ! (cd bench/golearn && go build -o "$WORK/golearn-baseline" .) 2>"$WORK/err"; then
  echo "SKIP golearn baseline: build failed: $(tail -3 "$WORK/err")"
  exit 0
fi
B="$WORK/golearn-baseline"
echo "== golearn baseline: 5-fold CV on retain's folds, ROC-AUC (score: what the AUC ranks by; a 0/1 label gives (TPR+TNR)/2)"
run() { # name file label id
  echo "-- $1"
  "$B" -table "$2" -label "$3" -id "$4" || echo "FAIL golearn $1"
  # golearn's liblinear bridge fails Go's default cgo pointer check; rerun it
  # with the check off so its figure can be read (marked _cgocheck0)
  GODEBUG=cgocheck=0 "$B" -table "$2" -label "$3" -id "$4" -models logreg -retain=false || echo "FAIL golearn $1 logreg (cgocheck=0)"
}
run telco "$DATA/telco_customer_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv" Churn customerID
run bank "$DATA/bank_churn_modelling/Churn_Modelling.csv" Exited CustomerId
