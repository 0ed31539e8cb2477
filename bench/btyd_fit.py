"""Fit time of the BTYD purchase models (BG/NBD, Pareto/NBD) × Gamma-Gamma on n customers.

Every run now fits both (the inputs' model and the other one as a baseline), once per feature set
that has the BTYD statistics and once per backtest cutoff, so their cost at scale matters. Two
populations, both in days with whole-day recency and age (as PowerTier's features are):

* ``churn`` — drawn from the Pareto/NBD model itself at the published CDNOW parameters converted to
  days (r 0.55, alpha 74 d, s 0.61, beta 82 d), ages 30–700 days;
* ``no_dropout`` — Poisson purchases (2 a customer on average) spread uniformly over the age, nobody
  drops out: the likelihood has no dropout signal and Pareto/NBD's (s, beta) run off together.

Per population and repeat the two models are fitted back to back (BG/NBD first, the baseline),
and the script prints the median seconds of each, the ratio, the 1-minute load average before each
repeat, and the fitted parameters. Usage:

    nice .venv/bin/python bench/btyd_fit.py --customers 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ranking.btyd import BTYDSpend  # noqa: E402

MODELS = ("bgnbd", "pareto_nbd")
CDNOW_DAYS = {"r": 0.55, "alpha": 74.0, "s": 0.61, "beta": 82.0}  # the published weekly fit × 7


def _summaries(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(frequency, recency, T, monetary) with gamma order values for the repeat buyers."""
    monetary = np.where(x > 0, rng.gamma(6.0, 5.0, len(x)), 0.0)
    return np.c_[x, np.minimum(t_x, T), T, monetary]


def churn_population(n: int, seed: int) -> np.ndarray:
    """Customers drawn from Pareto/NBD: gamma rates, exponential lifetimes, purchases on whole days."""
    rng = np.random.default_rng(seed)
    p = CDNOW_DAYS
    lam, mu = rng.gamma(p["r"], 1 / p["alpha"], n), rng.gamma(p["s"], 1 / p["beta"], n)
    T = rng.integers(30, 700, n).astype(float)
    alive_until = np.minimum(rng.exponential(1 / mu), T)
    repeats = rng.poisson(lam * alive_until)  # purchases after the first, while alive
    x, t_x = np.zeros(n), np.zeros(n)
    for i in np.flatnonzero(repeats):  # several purchases on one day are one purchase
        days = np.unique(np.ceil(rng.uniform(0, alive_until[i], repeats[i])))
        x[i], t_x[i] = len(days), days[-1]
    return _summaries(x, t_x, T, rng)


def no_dropout_population(n: int, seed: int) -> np.ndarray:
    """Poisson purchase counts spread uniformly over each age: no customer ever drops out."""
    rng = np.random.default_rng(seed)
    x = rng.poisson(2.0, n).astype(float)
    T = rng.uniform(30, 700, n).round()
    t_x = np.where(x > 0, np.round(rng.uniform(0, 1, n) * T), 0.0)
    return _summaries(x, t_x, T, rng)


def time_fit(X: np.ndarray, purchases: str) -> tuple[float, str]:
    """(seconds, fitted parameters) of one BTYDSpend fit, 90-day horizon."""
    t0 = time.perf_counter()
    model = BTYDSpend(horizon=90.0, purchases=purchases).fit(X)
    return time.perf_counter() - t0, model.describe()


def run(customers: int, repeats: int, seed: int) -> dict:
    """Median fit seconds per population and model over ``repeats`` interleaved repeats."""
    out = {}
    for name, make in (("churn", churn_population), ("no_dropout", no_dropout_population)):
        X = make(customers, seed)
        seconds: dict[str, list[float]] = {m: [] for m in MODELS}
        loads, fitted = [], {}
        for _ in range(repeats):
            loads.append(os.getloadavg()[0])
            for m in MODELS:
                s, fitted[m] = time_fit(X, m)
                seconds[m].append(s)
        med = {m: statistics.median(v) for m, v in seconds.items()}
        out[name] = {"customers": customers, "distinct_summaries": int(len(np.unique(X[:, :3], axis=0))),
                     "median_s": med, "runs_s": seconds, "pareto_over_bgnbd": med["pareto_nbd"] / med["bgnbd"],
                     "load_1min_before": loads, "fitted": fitted}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    result = run(args.customers, args.repeats, args.seed)
    print(json.dumps(result, indent=2))
    for name, r in result.items():
        print(f"{name}: {r['customers']} customers ({r['distinct_summaries']} distinct), median s: BG/NBD "
              f"{r['median_s']['bgnbd']:.2f}, Pareto/NBD {r['median_s']['pareto_nbd']:.2f} "
              f"({r['pareto_over_bgnbd']:.1f}x); load {r['load_1min_before']}")


if __name__ == "__main__":
    main()
