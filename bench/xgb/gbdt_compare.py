#!/usr/bin/python3
"""XGBoost side of the GBDT side-by-side benchmark (bench/cases/gbdt.sh).

Reads the data set bench/xgb/gbdtbench wrote (raw little-endian float64,
row-major, NaN = missing; gbdt_meta.json names the categorical columns),
fits XGBoost `hist` with the settings the Go side uses (300 trees, depth 6,
learning rate 0.1, 255 bins, lambda 1, min_child_weight 1, no subsampling,
categorical splits), and prints one JSON line: training time, test AUC,
predict_proba throughput and pred_contribs (exact TreeSHAP) throughput.

Run with Debian's interpreter: /usr/bin/python3 (python3-xgboost 1.7.x,
python3-sklearn).
"""
import argparse
import json
import os
import time

import numpy as np
import xgboost as xgb
from sklearn.metrics import roc_auc_score


def load(folder, name, rows, features):
    X = np.fromfile(os.path.join(folder, f"gbdt_{name}_X.f64"), dtype="<f8").reshape(rows, features)
    y = np.fromfile(os.path.join(folder, f"gbdt_{name}_y.f64"), dtype="<f8")
    return X, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="bench/out")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--shap-rows", type=int, default=20000)
    ap.add_argument("--no-categorical", action="store_true", help="treat category codes as numbers")
    a = ap.parse_args()
    meta = json.load(open(os.path.join(a.data, "gbdt_meta.json")))
    F = meta["features"]
    Xtr, ytr = load(a.data, "train", meta["rows"], F)
    Xte, yte = load(a.data, "test", meta["test_rows"], F)
    ftypes = None
    if not a.no_categorical:
        ftypes = ["c" if j in meta["categorical"] else "q" for j in range(F)]
    params = {
        "objective": "binary:logistic", "tree_method": "hist", "max_depth": a.depth,
        "eta": a.lr, "max_bin": 256, "lambda": 1.0, "min_child_weight": 1.0,
        "subsample": 1.0, "colsample_bytree": 1.0, "nthread": a.threads, "eval_metric": "logloss",
    }
    t0, c0 = time.perf_counter(), time.process_time()
    dtr = xgb.DMatrix(Xtr, label=ytr, feature_types=ftypes, enable_categorical=ftypes is not None, nthread=a.threads)
    bst = xgb.train(params, dtr, num_boost_round=a.trees)
    fit, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    dte = xgb.DMatrix(Xte, feature_types=ftypes, enable_categorical=ftypes is not None, nthread=a.threads)
    t0 = time.perf_counter()
    p = bst.predict(dte)
    pred = time.perf_counter() - t0
    auc = roc_auc_score(yte, p)
    n = min(a.shap_rows, len(yte))
    dsh = xgb.DMatrix(Xte[:n], feature_types=ftypes, enable_categorical=ftypes is not None, nthread=a.threads)
    t0 = time.perf_counter()
    bst.predict(dsh, pred_contribs=True)
    shap = time.perf_counter() - t0
    print(json.dumps({
        "tool": f"xgboost-{xgb.__version__}-hist", "threads": a.threads, "rows": meta["rows"], "features": F,
        "trees": a.trees, "fit_seconds": round(fit, 2), "fit_cpu_seconds": round(fit_cpu, 2), "test_auc": round(float(auc), 4),
        "predict_rows_per_s": round(len(yte) / pred), "shap_rows": n, "shap_seconds": round(shap, 2),
        "shap_seconds_per_100k": round(shap * 100000 / n, 1),
    }))


if __name__ == "__main__":
    main()
