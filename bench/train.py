"""Benchmark of stage-2 training on synthetic frames shaped like the real one.

    .venv/bin/python bench/train.py --rows 100000            # default: 384-d vectors, trials=0
    .venv/bin/python bench/train.py --rows 1000000 --trials 0

Prints wall time and peak resident memory of: the split, fitting the main model (projection of
both 384-d text views + LightGBM Tweedie + LightGBM log1p-L2 + LightGBM tier + linear reference),
fitting the X and Y ablations, and evaluation (metrics, segments, importance). Frame generation
is not timed. Peak RSS is sampled every 20 ms from /proc/self/status. CPU seconds (all threads of
the process) are printed next to wall seconds because a shared machine inflates wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from contextlib import contextmanager

from ranking.evaluation import evaluate, fit_ablations, importance
from ranking.model import fit_two_stage
from ranking.params import TrainParams
from ranking.splits import split_frame
from ranking.synthetic import synthetic_frame


def rss_mib() -> float:
    """Current resident set size of this process in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def measured(name: str, results: dict):
    """Record wall seconds and peak RSS (MiB) of the block under ``results[name]``."""
    peak, stop = [rss_mib()], threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], rss_mib())

    thread = threading.Thread(target=sample, daemon=True)
    start_rss, t0, c0 = peak[0], time.perf_counter(), time.process_time()
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        r = results[name] = {"seconds": round(time.perf_counter() - t0, 2),
                             "cpu_seconds": round(time.process_time() - c0, 2),
                             "peak_rss_mib": round(max(peak[0], rss_mib())), "start_rss_mib": round(start_rss)}
        print(f"{name:>14}: {r['seconds']:8.2f} s wall {r['cpu_seconds']:8.2f} s CPU   "
              f"peak RSS {r['peak_rss_mib']:7d} MiB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="examples (user x cutoff rows) in the frame")
    ap.add_argument("--cutoffs", type=int, default=6)
    ap.add_argument("--dim", type=int, default=384, help="text vector dimension (all-MiniLM-L6-v2: 384)")
    ap.add_argument("--trials", type=int, default=0, help="Optuna trials per LightGBM model (0 = defaults)")
    ap.add_argument("--threads", type=int, default=1, help="LightGBM num_threads")
    ap.add_argument("--split", choices=("time", "user"), default="user")
    ap.add_argument("--no-ablations", action="store_true")
    args = ap.parse_args()
    params = TrainParams(trials=args.trials, num_threads=args.threads, split=args.split)
    results: dict = {}
    frame = synthetic_frame(n_users=args.rows // args.cutoffs, n_cutoffs=args.cutoffs, dim=args.dim, seed=0)
    print(f"frame: {len(frame)} rows, {args.dim}-d review+search vectors, trials={args.trials}, "
          f"threads={args.threads}, split={args.split}, cpus={os.cpu_count()}, {platform.processor() or ''}")
    with measured("split", results):
        split = split_frame(frame, params.split, params.test_fraction, params.horizon_days, params.seed,
                            params.test_cutoffs)
    print(f"rows: {split.info['rows']}")
    with measured("fit_main", results):
        main_model = fit_two_stage(split.train, split.valid, params)
    models, skipped = {main_model.feature_set: main_model}, {}
    if not args.no_ablations:
        with measured("fit_ablations", results):
            models, skipped = fit_ablations(split.train, split.valid, params, main=main_model)
    with measured("evaluate", results):
        metrics, _ = evaluate(models, skipped, split.train, split.test, params, main_model.feature_set) \
            if not args.no_ablations else ({}, None)
        importance(main_model, split.test, params.seed)
    rounds = {k: v["best_iteration"] for k, v in main_model.pp_info_.items()}
    rounds["tier"] = main_model.tier_info_.get("best_iteration")
    total = sum(r["seconds"] for r in results.values())
    cpu = sum(r["cpu_seconds"] for r in results.values())
    print(f"best iterations: {rounds}; selected pp objective: {main_model.pp_objective_}")
    if metrics:
        fs = main_model.feature_set
        print(f"test: pp gini {metrics['purchasing_power']['lightgbm'][fs]['gini']:.3f} "
              f"(persistence {metrics['purchasing_power']['persistence']['gini']:.3f}), "
              f"tier qwk {metrics['tier']['lightgbm'][fs]['qwk']:.3f} "
              f"(persistence {metrics['tier']['persistence']['qwk']:.3f})")
    print(f"total (split + fits + evaluation): {total:.1f} s wall, {cpu:.1f} s CPU; load average {os.getloadavg()}")
    print(json.dumps({"rows": len(frame), "split_rows": split.info["rows"], "trials": args.trials,
                      "threads": args.threads, "results": results, "total_seconds": round(total, 1),
                      "total_cpu_seconds": round(cpu, 1)}))


if __name__ == "__main__":
    main()
