"""Benchmark: a 12-cutoff monthly backtest on 50k simulated users, through the real CLI stages.

    .venv/bin/python bench/backtest.py [--users 50000] [--days 720] [--cutoffs 12] [--trials 0]

Prepares a workspace (generate → ingest → features build → features apply; timed but not part
of the figure), then runs ``powertier backtest`` in a fresh process and prints its wall time, peak
RSS and the split of its time between the one historical retrieval, fitting and scoring.
Optuna is off (``--trials 0``, the default) so the figure is the cost of the backtest machinery
and of LightGBM with default parameters, not of the hyper-parameter search.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import child, cli, machine, peak_rss_mib  # noqa: E402

START = "2025-01-01"


def worker(start: str, end: str, trials: str) -> None:
    """Run the backtest command in this process; print wall seconds, peak RSS and its timings."""
    from pipelines.cli import app

    t0 = time.perf_counter()
    app(["backtest", "--start", start, "--end", end, "--every", "30d", "--trials", trials], standalone_mode=False)
    wall = time.perf_counter() - t0
    from pipelines.common.config import load_config

    info = json.loads((load_config().data_dir / "backtests" / "latest" / "backtest.json").read_text())
    print(json.dumps({"wall_s": wall, "peak_rss_mib": peak_rss_mib(), "timings": info["timings"],
                      "entity_rows": info["entity_rows"], "summaries": info["summaries"]}))


def prepare(data_dir: Path, users: int, days: int) -> dict[str, float]:
    """Simulated raw data to Feast-applied features; seconds per step."""
    steps = {"generate": ["generate", "--users", str(users), "--days", str(days), "--seed", "1", "--start", START,
                          "--out", str(data_dir / "raw")],
             "ingest": ["ingest", "--raw", str(data_dir / "raw")], "features build": ["features", "build"],
             "features apply": ["features", "apply"]}
    return {name: cli(data_dir, *args) for name, args in steps.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=720, help="history: 240 days before the first cutoff + range + H")
    ap.add_argument("--cutoffs", type=int, default=12)
    ap.add_argument("--trials", default="0")
    ap.add_argument("--worker", nargs=3)
    args = ap.parse_args()
    if args.worker:
        return worker(*args.worker)
    import pandas as pd

    data_dir = Path(tempfile.mkdtemp(prefix="pt-bench-backtest-"))
    prep = prepare(data_dir, args.users, args.days)
    # The first cutoff leaves 6 training cutoffs (150 days) + H (90 days) of history; the last one H.
    first = pd.Timestamp(START) + pd.Timedelta(days=250)
    last = first + pd.Timedelta(days=30 * (args.cutoffs - 1))
    result = child(Path(__file__).resolve(), data_dir, first.date().isoformat(), last.date().isoformat(), args.trials)
    t = result["timings"]
    print(f"machine: {machine()}; data: {args.users:,} users x {args.days} days ({data_dir})")
    print("preparation (s): " + ", ".join(f"{k} {v:.1f}" for k, v in prep.items()))
    print(f"backtest: {len(result['summaries'])} cutoffs {first.date()}..{last.date()} every 30d, "
          f"trials={args.trials}, {result['entity_rows']:,} entity rows retrieved once")
    print("| wall s | peak RSS MiB | retrieval s (share) | fitting s (share) | scoring+drift s (share) |")
    print("|---|---|---|---|---|")
    share = {k: t[k] / t["total_s"] for k in ("retrieval_s", "fit_s", "score_s")}
    print(f"| {result['wall_s']:.0f} | {result['peak_rss_mib']:.0f} | {t['retrieval_s']:.0f} "
          f"({share['retrieval_s']:.0%}) | {t['fit_s']:.0f} ({share['fit_s']:.0%}) | {t['score_s']:.0f} "
          f"({share['score_s']:.0%}) |")
    print("\n| cutoff | n_train | n_scored | pp gini (persistence) | pp rmse (persistence) | tier qwk (persistence) |")
    print("|---|---|---|---|---|---|")
    for s in result["summaries"]:
        print(f"| {s['cutoff'][:10]} | {s['n_train']:,} | {s['n_scored']:,} | {_f(s['pp_gini'])} "
              f"({_f(s['pp_gini_persistence'])}) | {_f(s['pp_rmse'], 1)} ({_f(s['pp_rmse_persistence'], 1)}) | "
              f"{_f(s['tier_qwk'])} ({_f(s['tier_qwk_persistence'])}) |")


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
