#!/usr/bin/python3
"""Python peers for bench/evals/churn.sh: scikit-learn logistic regression
and XGBoost (default parameters) on a one-row-per-customer CSV, evaluated on
the SAME folds as `retain train --table … --oof FILE` (the fold column of
FILE). Prints one JSON object per model on stdout.

usage: churn_python.py TABLE.csv LABEL ID OOF.csv
Needs Debian's python3-sklearn, python3-pandas and python3-xgboost
(run with /usr/bin/python3)."""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, average_precision_score, log_loss, brier_score_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def ece(y, p, bins=10):
    idx = np.minimum((p * bins).astype(int), bins - 1)
    e = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            e += m.sum() * abs(p[m].mean() - y[m].mean())
    return e / len(y)


def main():
    path, label, ident, oof = sys.argv[1:5]
    df = pd.read_csv(path, skipinitialspace=True)
    folds = pd.read_csv(oof)["fold"].to_numpy()
    yraw = df.pop(label)
    y = yraw.map(lambda v: 1 if str(v).strip().lower() in ("1", "yes", "true", "y") else 0).to_numpy()
    df = df.drop(columns=[ident])
    # the same column rules as retain: numeric if every non-blank parses,
    # drop row numbers and text columns with many distinct values
    num, cat = [], []
    for c in df.columns:
        v = pd.to_numeric(df[c].replace(r"^\s*$", np.nan, regex=True), errors="coerce")
        if v.notna().sum() == df[c].replace(r"^\s*$", np.nan, regex=True).notna().sum():
            if (v.to_numpy() == np.arange(1, len(v) + 1)).all():
                continue
            df[c] = v
            num.append(c)
        elif df[c].nunique() <= max(50, len(df) // 20):
            df[c] = df[c].astype(str)
            cat.append(c)
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), num),
        ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
    ])
    models = {"sklearn_logreg": lambda: make_pipeline(pre, LogisticRegression(max_iter=2000))}
    try:
        import xgboost as xgb
        pre_x = ColumnTransformer([("num", "passthrough", num), ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])
        models["xgboost_default"] = lambda: make_pipeline(pre_x, xgb.XGBClassifier(n_jobs=2, tree_method="hist"))
    except ImportError:
        pass
    for name, make in models.items():
        aucs, p_all = [], np.zeros(len(y))
        for f in sorted(set(folds)):
            tr, te = folds != f, folds == f
            m = make().fit(df[tr], y[tr])
            p = m.predict_proba(df[te])[:, 1]
            p_all[te] = p
            aucs.append(roc_auc_score(y[te], p))
        print(json.dumps({"model": name, "auc": float(np.mean(aucs)),
                          "pr_auc": float(average_precision_score(y, p_all)),
                          "logloss": float(log_loss(y, p_all)), "brier": float(brier_score_loss(y, p_all)),
                          "ece": float(ece(y, p_all)), "n": int(len(y)), "positives": int(y.sum())}))


if __name__ == "__main__":
    main()
