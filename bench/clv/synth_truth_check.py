#!/usr/bin/env python3
"""Checks that `retain generate` orders follow the spend truth they claim.

Usage: python3 bench/clv/synth_truth_check.py DIR   (DIR = a `retain generate`
output folder with orders.csv and truth.csv; standard library only).

Prints, against truth.json's Gamma-Gamma (p, q, gamma):
- the per-customer spend rates nu (truth.csv spend_nu): mean q/gamma, variance q/gamma^2;
- amount * nu over all orders: Gamma(p, 1), so mean and variance p;
- the pooled within-customer variance of amount * nu (p if a customer's orders
  are independent draws) and the variance of a customer's mean over k orders (p/k);
- how many orders fall on a UTC day on which the same customer already ordered
  (the orders a same-day-merged summary folds together).
"""
import collections
import csv
import json
import sys


def main(d):
    truth = json.load(open(f"{d}/truth.json"))["gamma_gamma"]
    p, q, g = truth["p"], truth["q"], truth["gamma"]
    nu = {}
    with open(f"{d}/truth.csv") as f:
        for row in csv.DictReader(f):
            nu[row["customer_id"]] = float(row["spend_nu"])
    v = list(nu.values())
    m = sum(v) / len(v)
    var = sum((x - m) ** 2 for x in v) / len(v)
    print(f"nu: mean {m:.5f} (truth {q / g:.5f}), variance {var:.6f} (truth {q / g / g:.6f})")

    ys = collections.defaultdict(list)
    days = collections.defaultdict(set)
    same_day = 0
    with open(f"{d}/orders.csv") as f:
        for row in csv.DictReader(f):
            c = row["customer_id"]
            ys[c].append(float(row["amount"]) * nu[c])
            day = row["ordered_at"][:10]
            if day in days[c]:
                same_day += 1
            days[c].add(day)
    allv = [y for v in ys.values() for y in v]
    m = sum(allv) / len(allv)
    var = sum((y - m) ** 2 for y in allv) / len(allv)
    print(f"amount*nu over {len(allv)} orders: mean {m:.4f}, variance {var:.4f} (truth {p}, {p})")

    ss, df = 0.0, 0
    by_k = collections.defaultdict(list)
    for v in ys.values():
        if len(v) < 2:
            continue
        mv = sum(v) / len(v)
        ss += sum((y - mv) ** 2 for y in v)
        df += len(v) - 1
        by_k[min(len(v), 10)].append(mv)
    print(f"pooled within-customer variance {ss / df:.4f} (truth {p})")
    for k in sorted(by_k):
        ms = by_k[k]
        vm = sum((x - p) ** 2 for x in ms) / len(ms)
        tag = f"{k} orders" if k < 10 else "10+ orders"
        print(f"  {tag:10s}: {len(ms):6d} customers, variance of the mean {vm:.4f} (truth {p / k:.4f}{' or less' if k == 10 else ''})")
    multi = sum(1 for c in ys if len(days[c]) < len(ys[c]))
    print(f"orders on a day the customer already ordered: {same_day} of {len(allv)} "
          f"({100 * same_day / len(allv):.2f}%), from {multi} customers ({100 * multi / len(ys):.1f}%)")


if __name__ == "__main__":
    main(sys.argv[1])
