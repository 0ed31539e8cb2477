"""Benchmark: point-in-time retrieval of the ``purchasing_power_v3`` service, DuckDB vs Feast's
file (dask) offline store on the same simulated data, 100k and 1M entity rows.

    .venv/bin/python bench/pit_retrieval.py [--users 20000] [--days 540] [--repeats 3] [--file-timeout 900]

Each measurement runs in a fresh process (peak RSS is per process). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import child, cli, machine, median, peak_rss_mib  # noqa: E402


def _entities(data_dir: Path, n: int, seed: int):
    import numpy as np
    import pandas as pd

    users = pd.read_parquet(data_dir / "curated" / "users.parquet")
    orders = pd.read_parquet(data_dir / "curated" / "orders.parquet", columns=["ts"])
    rng = np.random.default_rng(seed)
    lo, hi = orders.ts.min().value // 1000, orders.ts.max().value // 1000
    return pd.DataFrame({"user_id": rng.choice(users.user_id.to_numpy(), n),
                         "event_timestamp": pd.to_datetime(rng.integers(lo, hi, n), unit="us", utc=True)})


def worker(store_kind: str, n: int) -> None:
    """Retrieve ``n`` entity rows with the given offline store; print seconds, rows back, peak RSS."""
    from feast import FeatureStore
    from feast.infra.offline_stores.dask import DaskOfflineStoreConfig

    from pipelines.storage import feast_store
    from pipelines.common.config import load_config

    cfg = load_config()
    entities = _entities(cfg.data_dir, n, seed=n)
    store = feast_store.open_store(cfg)
    if store_kind == "file":
        store = FeatureStore(config=feast_store.repo_config(cfg, offline_store=DaskOfflineStoreConfig()))
        assert type(store._get_provider().offline_store).__name__ == "DaskOfflineStore"
    start = time.perf_counter()
    if store_kind == "file":  # raw Feast call: the wrapper would refuse its dropped rows
        rows = entities.assign(as_of_ts_s=entities.event_timestamp.astype("int64") / 1e6)
        out = store.get_historical_features(entity_df=rows, features=store.get_feature_service("purchasing_power_v3")).to_df()
    else:
        out = feast_store.historical_features(store, entities, "purchasing_power_v3")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows_in": n, "rows_out": len(out), "peak_rss_mib": peak_rss_mib()}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--days", type=int, default=540)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--file-timeout", type=float, default=900)
    ap.add_argument("--worker", nargs=2)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]))
    data_dir = Path(tempfile.mkdtemp(prefix="pt-bench-pit-"))
    cli(data_dir, "generate", "--users", str(args.users), "--days", str(args.days), "--seed", "1",
        "--out", str(data_dir / "raw"))
    for step in (["ingest", "--raw", str(data_dir / "raw")], ["features", "build"], ["features", "apply"]):
        cli(data_dir, *step)
    print(f"machine: {machine()}; data: {args.users} users x {args.days} days ({data_dir})")
    print("| offline store | entity rows | rows returned | median s (of runs) | peak RSS MiB |")
    print("|---|---|---|---|---|")
    script = Path(__file__).resolve()
    for n in [int(s) for s in args.sizes.split(",")]:
        results = {}
        for kind in ("duckdb", "file"):
            runs = []
            for _ in range(args.repeats if kind == "duckdb" else 1):
                try:
                    runs.append(child(script, data_dir, kind, str(n), timeout=args.file_timeout))
                except Exception as exc:  # the baseline may time out or run out of memory: report it
                    print(f"| {kind} | {n:,} | failed: {(str(exc).splitlines() or ['?'])[-1][:80]} | | |")
                    break
            if runs:
                secs = [r["seconds"] for r in runs]
                results[kind] = median(secs)
                print(f"| {kind} | {n:,} | {runs[0]['rows_out']:,} | {median(secs):.1f} ({len(runs)}) | "
                      f"{max(r['peak_rss_mib'] for r in runs):.0f} |")
        if len(results) == 2:
            print(f"| speed-up | {n:,} | | {results['file'] / results['duckdb']:.1f}x | |")


if __name__ == "__main__":
    main()
