"""Benchmark of the simulator: median wall time of `simulate` over repeats, rows, peak RSS.

Each size runs in a fresh process so that its peak resident memory is its own.

    .venv/bin/python bench/simulate.py                      # 10k and 100k users x 365 days
    .venv/bin/python bench/simulate.py --sizes 3000 --days 540
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor


def _run(n_users: int, days: int, seed: int, repeats: int) -> dict:
    """Time `simulate` ``repeats`` times in this (fresh) process."""
    from pipelines.simulate.simulator import simulate

    seconds, rows = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        tables = simulate(n_users, days, seed)
        seconds.append(time.perf_counter() - t0)
        rows = {name: len(df) for name, df in tables.items()}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"n_users": n_users, "days": days, "seconds": seconds, "rows": rows, "peak_rss_mib": peak_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {mp.cpu_count()} CPU, python {platform.python_version()}")
    for n in args.sizes:
        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
            res = pool.submit(_run, n, args.days, args.seed, args.repeats).result()
        runs = ", ".join(f"{s:.2f}" for s in res["seconds"])
        print(f"{n:>7} users x {args.days} days: median {statistics.median(res['seconds']):.2f} s "
              f"(runs {runs}), peak RSS {res['peak_rss_mib']:.0f} MiB")
        print("         rows: " + ", ".join(f"{k} {v:,}" for k, v in res["rows"].items()))


if __name__ == "__main__":
    main()
