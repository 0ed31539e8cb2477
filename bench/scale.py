"""Scaling benchmark of ``engine: ray`` against the local path, in the same run: the embedding job
(empty cache) and the features build, locally and on a local Ray cluster of 1 and 2 workers.

Corpus: ``powertier generate``'s simulator, ingested with the real ingest stage. For each setting
the outputs (feature tables, vector cache parts) are checked byte-equal to the local ones, then
timed (median of ``--runs``):

* local: ``engine: local``, the encoder loaded once outside the timing (as in bench/embed.py);
* ray-N: a fresh local cluster of N CPUs: N encoder actors of 1 CPU (each loads the encoder once,
  inside the timing, and this process loads it once more to plan the chunks) and N feature
  partitions.

Every setting runs torch with 1 thread per encoder (``encoder.num_threads: 1``): vectors are
bit-identical at the same thread count, and the figures are per core. ``overhead_s`` is the
ray-N time minus the local time divided by N (the ideal); ``start_s`` is the cluster start-up.
``cpu_s`` is the CPU time of this process and all its live descendants (the Ray cluster's
processes, with the children they reaped), a figure that stays meaningful on a loaded machine
where wall times do not. The load average is printed before and after.

    .venv/bin/python bench/scale.py                         # 400 users x 365 days, 3 runs
    .venv/bin/python bench/scale.py --users 60 --days 60 --runs 1   # a quick check
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def build_corpus(root: Path, n_users: int, days: int, seed: int):
    """Simulate, write raw Parquet, ingest; returns the local config of the workspace."""
    from pipelines.common.config import load_config
    from pipelines.ingest.job import run_ingest
    from pipelines.simulate.simulator import simulate
    from pipelines.storage.files import write_parquet

    for name, df in simulate(n_users, days, seed).items():
        write_parquet(df, root / "raw" / f"{name}.parquet")
    cfg = load_config(data_dir=str(root / "ws"), encoder__device="cpu", encoder__precision="fp32",
                      encoder__num_threads=1)
    run_ingest(cfg, root / "raw")
    return cfg


def outputs(cfg) -> dict[str, bytes]:
    """Feature tables and vector cache parts, by relative path."""
    ws = Path(cfg.data_dir)
    files = [*ws.joinpath("features").glob("*.parquet"), *ws.joinpath("embeddings", "cache").rglob("part-*")]
    return {str(p.relative_to(ws)): p.read_bytes() for p in sorted(files)}


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its live descendants, with their reaped
    children (Ray's workers run under the raylet this process started)."""
    import psutil

    total = 0.0
    for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:  # exited between listing and reading
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def one_run(cfg, model) -> dict[str, float]:
    """Features build and embedding from an empty cache, each timed (wall and CPU)."""
    from pipelines.embed.job import run_embed
    from pipelines.features.job import build_transactions

    shutil.rmtree(Path(cfg.data_dir) / "embeddings", ignore_errors=True)
    c0, t0 = cpu_seconds(), time.perf_counter()
    build_transactions(cfg)
    c1, t1 = cpu_seconds(), time.perf_counter()
    manifest = run_embed(cfg, model=model)
    c2, t2 = cpu_seconds(), time.perf_counter()
    return {"features_s": t1 - t0, "embed_s": t2 - t1, "features_cpu_s": c1 - c0, "embed_cpu_s": c2 - c1,
            "texts": manifest["encoded"]}


def setting(cfg, workers: int, n_users: int):
    """The config of one setting: local (workers 0) or a Ray cluster of ``workers`` CPUs."""
    if workers == 0:
        return cfg
    return cfg.model_copy(update={"engine": "ray", "ray": cfg.ray.model_copy(update={
        "num_cpus": workers, "encoder_actors": workers, "cpus_per_encoder": 1.0, "gpus_per_encoder": 0.0,
        "users_per_partition": math.ceil(n_users / workers), "object_store_mb": 256})})


def measure(base, workers: int, n_users: int, runs: int, model) -> tuple[dict[str, float], dict[str, bytes]]:
    """Median figures of one setting over ``runs`` runs (a fresh cluster for ray-N), and its outputs."""
    import ray

    from pipelines.common.ray_engine import ensure_ray

    cfg, start_s = setting(base, workers, n_users), 0.0
    if workers:
        t = time.perf_counter()
        ensure_ray(cfg)
        start_s = time.perf_counter() - t
    results = [one_run(cfg, model if workers == 0 else None) for _ in range(runs)]
    got = outputs(cfg)
    if workers:
        ray.shutdown()
    row = {k: statistics.median(r[k] for r in results) for k in results[0]}
    return {"workers": workers, "start_s": start_s, **row}, got


def report(rows: list[dict[str, float]]) -> None:
    """The table: per setting, wall and CPU seconds, throughput and the overhead against local / N."""
    print(f"{'setting':<8} {'start_s':>7} {'feat_s':>7} {'feat_cpu_s':>10} {'embed_s':>8} {'embed_cpu_s':>11} "
          f"{'texts/s':>8} {'texts/cpu_s':>11} {'embed_over_s':>12} {'feat_over_s':>11}")
    local = rows[0]
    for r in rows:
        n = r["workers"]
        over_e = r["embed_s"] - local["embed_s"] / n if n else 0.0
        over_f = r["features_s"] - local["features_s"] / n if n else 0.0
        print(f"{'local' if n == 0 else f'ray-{n}':<8} {r['start_s']:>7.1f} {r['features_s']:>7.2f} "
              f"{r['features_cpu_s']:>10.2f} {r['embed_s']:>8.2f} {r['embed_cpu_s']:>11.2f} "
              f"{r['texts'] / max(r['embed_s'], 1e-9):>8.0f} {r['texts'] / max(r['embed_cpu_s'], 1e-9):>11.0f} "
              f"{over_e:>12.2f} {over_f:>11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    from pipelines.storage.models import load_model

    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = build_corpus(Path(tmp), args.users, args.days, args.seed)
        model = load_model(base)
        rows, reference = [], None
        for workers in (0, 1, 2):
            row, got = measure(base, workers, args.users, args.runs, model)
            reference = reference or got
            assert got == reference, f"ray-{workers}: outputs differ from the local path"
            rows.append(row)
            print(f"  done: {'local' if not workers else f'ray-{workers}'}", flush=True)
    print(f"corpus: {args.users} users x {args.days} days, {rows[0]['texts']:,.0f} distinct texts "
          f"({base.encoder.model}, fp32, 1 torch thread per encoder); median of {args.runs}; "
          f"outputs byte-equal to local in every setting")
    report(rows)
    print("load average after: {:.1f} {:.1f} {:.1f} on {} CPUs".format(*os.getloadavg(), os.cpu_count()))


if __name__ == "__main__":
    main()
