"""Scaling benchmark of ``engine: ray`` against the local path, in the same run: the embedding job
(empty cache) and the features build, locally and on a local Ray cluster of 1 and 2 workers.

Corpus: ``powertier generate``'s simulator, ingested with the real ingest stage. For each setting
the outputs are checked byte-equal to the local ones, then timed (median of ``--runs``):

* local: ``engine: local`` (the encoder loaded once, outside the timing, as in bench/embed.py);
* ray-N: a fresh local cluster with N CPUs and N feature partitions (the embedding job still
  encodes in-process under engine: ray until its actor pool lands, docs/SCALE.md; its row then
  shows the in-process cost with the model load).

``overhead`` is ray-N time minus local time / N ideal; ``start_s`` is the cluster start-up.

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
    cfg = load_config(data_dir=str(root / "ws"), encoder__device="cpu", encoder__precision="fp32")
    run_ingest(cfg, root / "raw")
    return cfg


def outputs(cfg) -> dict[str, bytes]:
    """Feature tables and vector cache parts, by relative path."""
    ws = Path(cfg.data_dir)
    files = [*ws.joinpath("features").glob("*.parquet"), *ws.joinpath("embeddings", "cache").rglob("part-*")]
    return {str(p.relative_to(ws)): p.read_bytes() for p in sorted(files)}


def one_run(cfg, model) -> dict[str, float]:
    """Features build and embedding from an empty cache, each timed."""
    from pipelines.embed.job import run_embed
    from pipelines.features.job import build_transactions

    shutil.rmtree(Path(cfg.data_dir) / "embeddings", ignore_errors=True)
    t0 = time.perf_counter()
    build_transactions(cfg)
    t1 = time.perf_counter()
    manifest = run_embed(cfg, model=model)
    return {"features_s": t1 - t0, "embed_s": time.perf_counter() - t1, "texts": manifest["encoded"]}


def setting(cfg, workers: int, n_users: int):
    """The config of one setting: local (workers 0) or a Ray cluster of ``workers`` CPUs."""
    if workers == 0:
        return cfg
    return cfg.model_copy(update={"engine": "ray", "ray": cfg.ray.model_copy(update={
        "num_cpus": workers, "encoder_actors": workers, "cpus_per_encoder": 1.0,
        "users_per_partition": math.ceil(n_users / workers), "object_store_mb": 256})})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    from embeddings.encoder import load_encoder
    from pipelines.common.ray_engine import ensure_ray

    with tempfile.TemporaryDirectory() as tmp:
        base = build_corpus(Path(tmp), args.users, args.days, args.seed)
        model = load_encoder(base)
        reference, rows = None, []
        for workers in (0, 1, 2):
            cfg = setting(base, workers, args.users)
            start_s = 0.0
            if workers:
                t = time.perf_counter()
                ensure_ray(cfg)
                start_s = time.perf_counter() - t
            runs = [one_run(cfg, model if workers == 0 else None) for _ in range(args.runs)]
            got = outputs(cfg)
            reference = reference or got
            assert got == reference, f"ray-{workers}: outputs differ from the local path"
            rows.append((workers, start_s, *(statistics.median(r[k] for r in runs) for k in ("features_s", "embed_s")),
                         runs[0]["texts"]))
            if workers:
                ray.shutdown()
        print(f"corpus: {args.users} users x {args.days} days, {rows[0][4]:,} distinct texts; "
              f"median of {args.runs}; outputs byte-equal to local in every setting")
        print(f"{'setting':<8} {'start_s':>8} {'features_s':>11} {'embed_s':>9} {'texts/s':>8} "
              f"{'embed overhead_s':>17} {'features overhead_s':>20}")
        local = rows[0]
        for workers, start_s, feat_s, emb_s, texts in rows:
            name = "local" if workers == 0 else f"ray-{workers}"
            over_e = emb_s - local[3] / max(workers, 1) if workers else 0.0
            over_f = feat_s - local[2] / max(workers, 1) if workers else 0.0
            print(f"{name:<8} {start_s:>8.1f} {feat_s:>11.2f} {emb_s:>9.2f} {texts / max(emb_s, 1e-9):>8.0f} "
                  f"{over_e:>17.2f} {over_f:>20.2f}")


if __name__ == "__main__":
    main()
