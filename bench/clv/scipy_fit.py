#!/usr/bin/python3
"""SciPy side of the CLV side-by-side (bench/cases/clv.sh).

Fits the same BG/NBD and Gamma-Gamma log-likelihoods as models/clv with
scipy.optimize.minimize(method="L-BFGS-B") on log-parameters with analytic
gradients, (a) on every customer row and (b) with identical (x, t_x, T) rows
compressed into weights, and times each. Written for this project (not copied
from lifetimes); uses Debian's python3-scipy, run with /usr/bin/python3.

usage: scipy_fit.py SIM.csv   (columns frequency,recency,T,monetary_value)
prints one JSON object.
"""
import json
import sys
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, digamma


def bgnbd_nll(lp, x, tx, T, w):
    r, al, a, b = np.exp(lp)
    n = w.sum()
    lat, latx = np.log(al + T), np.log(al + tx)
    A12 = gammaln(r + x) - gammaln(r) + r * np.log(al) + gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    A3 = -(r + x) * lat
    rep = x > 0
    A4 = np.full_like(x, -np.inf)
    A4[rep] = np.log(a) - np.log(b + x[rep] - 1) - (r + x[rep]) * latx[rep]
    m = np.maximum(A3, A4)
    e3, e4 = np.exp(A3 - m), np.exp(A4 - m)
    s = e3 + e4
    ll = A12 + m + np.log(s)
    w3, w4 = e3 / s, e4 / s
    dr = digamma(r + x) - digamma(r) + np.log(al) - w3 * lat - w4 * latx
    dal = r / al - (r + x) * (w3 / (al + T) + w4 / (al + tx))
    da = digamma(a + b) - digamma(a + b + x) + w4 / a
    bx = np.where(rep, b + x - 1, 1.0)
    db = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w4 / bx
    g = np.array([(w * dr).sum() * r, (w * dal).sum() * al, (w * da).sum() * a, (w * db).sum() * b])
    return -(w * ll).sum() / n, -g / n


def gg_nll(lp, x, z):
    p, q, g = np.exp(lp)
    n = len(x)
    px = p * x
    d = g + x * z
    ll = gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g) + (px - 1) * np.log(z) + px * np.log(x) - (px + q) * np.log(d)
    dp = x * (digamma(px + q) - digamma(px)) + x * np.log(z) + x * np.log(x) - x * np.log(d)
    dq = digamma(px + q) - digamma(q) + np.log(g) - np.log(d)
    dg = q / g - (px + q) / d
    grad = np.array([dp.sum() * p, dq.sum() * q, dg.sum() * g])
    return -ll.sum() / n, -grad / n


def fit(fun, x0, args):
    t = time.perf_counter()
    res = minimize(fun, np.log(x0), args=args, jac=True, method="L-BFGS-B", options={"maxiter": 1000, "gtol": 1e-9})
    return time.perf_counter() - t, res


def main():
    path = sys.argv[1]
    t0 = time.perf_counter()
    d = np.loadtxt(path, delimiter=",", skiprows=1)
    load = time.perf_counter() - t0
    x, tx, T, mon = d[:, 0], d[:, 1], d[:, 2], d[:, 3]
    out = {"customers": int(len(x)), "load_seconds": load}
    w1 = np.ones_like(x)
    sec, res = fit(bgnbd_nll, [1, np.sum(T) / max(np.sum(x), 1), 1, 1], (x, tx, T, w1))
    out["bgnbd_rows"] = {"seconds": sec, "params": dict(zip(["r", "alpha", "a", "b"], np.exp(res.x).tolist())),
                         "log_likelihood": -res.fun * len(x), "iterations": int(res.nit), "success": bool(res.success)}
    t = time.perf_counter()
    keys, inv, cnt = np.unique(np.stack([x, tx, T], axis=1), axis=0, return_inverse=True, return_counts=True)
    comp = time.perf_counter() - t
    sec, res = fit(bgnbd_nll, [1, np.sum(T) / max(np.sum(x), 1), 1, 1], (keys[:, 0], keys[:, 1], keys[:, 2], cnt.astype(float)))
    out["bgnbd_compressed"] = {"seconds": sec + comp, "compress_seconds": comp, "rows": int(len(keys)),
                               "params": dict(zip(["r", "alpha", "a", "b"], np.exp(res.x).tolist())),
                               "log_likelihood": -res.fun * len(x), "iterations": int(res.nit), "success": bool(res.success)}
    rep = (x > 0) & (mon > 0)
    sec, res = fit(gg_nll, [1, 1, mon[rep].mean()], (x[rep], mon[rep]))
    out["gammagamma"] = {"seconds": sec, "repeaters": int(rep.sum()), "params": dict(zip(["p", "q", "gamma"], np.exp(res.x).tolist())),
                         "log_likelihood": -res.fun * rep.sum(), "iterations": int(res.nit), "success": bool(res.success)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
