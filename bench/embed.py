"""Benchmark of the embedding job against a naive baseline, in the same process and run.

Corpus: ``powertier generate``'s simulator (reviews + searches, with its repetition, PII and
spam), ingested with the real ingest stage. Per run, interleaved, median of ``--runs``:

* baseline: ``SentenceTransformer.encode`` over every raw text, batch 32, fp32, with the
  kind's prompt (E5: ``passage: `` / ``query: ``);
* job: ``pipelines.embed.job.run_embed`` from the curated tables with an empty cache
  (cleaning, spam flags, dedup, token-length buckets without padding, profiles and Parquet
  writes included).

Both use the same model (default ``encoder.model``: multilingual-e5-small), loaded once: the
baseline at fp32, the job at its default precision (bf16 on CPUs that compute it natively,
else fp32; ``--precision fp32`` to compare like with like); model loads and one-off imports are
outside the timings. Every figure is given as wall seconds and as the process's CPU seconds
(``time.process_time``, all threads: the figure to compare on a loaded machine, with
``--threads 1``), with the load average next to it. Fidelity: cosine between the job's cached
vectors and fp32 batch-32 reference vectors of the same cleaned texts.

    .venv/bin/python bench/embed.py                    # 400 users x 365 days, 3 runs
    .venv/bin/python bench/embed.py --threads 1        # both sides on one torch thread
    .venv/bin/python bench/embed.py --users 1000 --runs 1
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def build_corpus(root: Path, n_users: int, days: int, seed: int):
    """Simulate, write raw Parquet, ingest; returns (config, raw texts in table order)."""
    from pipelines.common.config import load_config
    from pipelines.simulate.simulator import simulate
    from pipelines.ingest.job import run_ingest
    from pipelines.storage.files import write_parquet

    tables = simulate(n_users, days, seed)
    for name, df in tables.items():
        write_parquet(df, root / "raw" / f"{name}.parquet")
    cfg = load_config(data_dir=str(root / "ws"))
    run_ingest(cfg, root / "raw")
    texts = {"document": tables["reviews"]["text"].tolist(), "query": tables["searches"]["query"].tolist()}
    return cfg, texts


def load_avg() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def time_baseline(model, texts: dict[str, list[str]]) -> tuple[float, float]:
    """Naive: every raw text through ``SentenceTransformer.encode``, batch 32, with its prompt;
    (wall, CPU) seconds."""
    prompts = getattr(model, "prompts", None) or {}
    start, cpu = time.perf_counter(), time.process_time()
    for kind, batch in texts.items():
        model.encode(batch, batch_size=32, prompt_name=kind if prompts.get(kind) else None,
                     convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    return time.perf_counter() - start, time.process_time() - cpu


def time_job(cfg, model) -> tuple[float, float, dict]:
    """One job run from an empty cache: (wall, CPU) seconds and its manifest."""
    from pipelines.embed.job import run_embed
    from pipelines.common.workspace import Workspace

    shutil.rmtree(Workspace(cfg.data_dir).embeddings, ignore_errors=True)
    start, cpu = time.perf_counter(), time.process_time()
    manifest = run_embed(cfg, model=model)
    return time.perf_counter() - start, time.process_time() - cpu, manifest


def fidelity(cfg, model, fp32) -> tuple[float, float, int]:
    """Mean and min cosine of job vectors vs ``fp32`` batch-32 vectors of the same cleaned texts."""
    import pandas as pd

    from embeddings.encoder import canonical_texts, model_info, text_keys
    from embeddings.prepare import prepare_texts
    from pipelines.common.workspace import Workspace
    from pipelines.embed.job import cache_dir, load_cache
    from pipelines.embed.plan import SOURCES
    from pipelines.storage.models import encoder_key

    ws, name, info = Workspace(cfg.data_dir), encoder_key(cfg, model), model_info(model)
    keys, vectors = load_cache(cache_dir(ws, name), info["dim"])
    cos = []
    for s in SOURCES:
        df = pd.read_parquet(ws.curated_table(s.table))
        out, _ = prepare_texts(df, s.text_col, min_chars=cfg.encoder.min_chars,
                               spam_min_users=cfg.encoder.spam_min_users, spam_min_chars=cfg.encoder.spam_min_chars)
        texts = list(dict.fromkeys(out.loc[out["reason"].isna(), "text"]))
        job = vectors[keys.get_indexer(text_keys(name, s.kind, canonical_texts(texts, info["lowercase"])))]
        prompt = s.kind if (getattr(fp32, "prompts", None) or {}).get(s.kind) else None
        ref = fp32.encode(texts, batch_size=32, prompt_name=prompt, normalize_embeddings=True, show_progress_bar=False)
        cos.append(np.sum(job * ref, axis=1))
    all_cos = np.concatenate(cos)
    return float(all_cos.mean()), float(all_cos.min()), len(all_cos)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default=None, help="encoder (default: config, i.e. multilingual-e5-small)")
    parser.add_argument("--batch-size", type=int, default=None, help="job batch size (default: config)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for both (default: torch's)")
    parser.add_argument("--precision", default=None, choices=["auto", "fp32", "bf16", "fp16"],
                        help="job precision (default: config, i.e. auto)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    import pipelines.storage.feast_store  # noqa: F401  one-off import (Feast) kept out of the job timings
    from pipelines.storage.models import load_model

    with tempfile.TemporaryDirectory() as tmp:
        cfg, texts = build_corpus(Path(tmp), args.users, args.days, args.seed)
        if args.batch_size:
            cfg.encoder.batch_size = args.batch_size
        if args.precision:
            cfg.encoder.precision = args.precision
        if args.model:
            cfg.encoder.model = args.model
        model = load_model(cfg)  # the job's own choice of device and precision
        fp32 = load_model(cfg.model_copy(update={"encoder": cfg.encoder.model_copy(update={"precision": "fp32"})}))
        base, job, manifest = [], [], {}
        for i in range(args.runs):  # interleaved, so both sides see the same machine load
            base.append(time_baseline(fp32, texts))
            print(f"run {i + 1} baseline {base[-1][0]:.1f} s wall, {base[-1][1]:.1f} s CPU  ({load_avg()})", flush=True)
            *seconds, manifest = time_job(cfg, model)
            job.append(tuple(seconds))
            print(f"run {i + 1} job      {seconds[0]:.1f} s wall, {seconds[1]:.1f} s CPU  ({load_avg()})", flush=True)
        mean_cos, min_cos, n_cmp = fidelity(cfg, model, fp32)
    report(args, texts, base, job, manifest, (mean_cos, min_cos, n_cmp), torch.get_num_threads())


def report(args, texts, base, job, manifest, cos, threads) -> None:
    n = sum(len(t) for t in texts.values())
    b, j = statistics.median(x[0] for x in base), statistics.median(x[0] for x in job)
    bc, jc = statistics.median(x[1] for x in base), statistics.median(x[1] for x in job)
    print(f"machine: {platform.machine()} {os.cpu_count()} CPU, torch threads {threads}, model {manifest['model']}, "
          f"device {manifest['device']} {manifest['precision']}  ({load_avg()})")
    print(f"corpus: {args.users} users x {args.days} days seed {args.seed}: {n:,} texts "
          f"({manifest['texts_in']:,} curated), kept {manifest['kept']:,}, distinct {manifest['distinct_texts']:,}, "
          f"flagged {sum(manifest['flagged'].values()):,}, dropped {sum(manifest['dropped'].values()):,}")
    print(f"baseline (encode all raw texts, batch 32, fp32): median {b:.1f} s wall = {n / b:.1f} texts/s, "
          f"{bc:.1f} s CPU (runs {', '.join(f'{x:.1f}/{y:.1f}' for x, y in base)} wall/CPU)")
    print(f"job (clean + dedup + fixed-shape length-bucket passes, profiles): median {j:.1f} s wall "
          f"= {n / j:.1f} texts/s, {jc:.1f} s CPU (runs {', '.join(f'{x:.1f}/{y:.1f}' for x, y in job)} wall/CPU)")
    print(f"speed-up: {b / j:.2f}x wall, {bc / jc:.2f}x CPU; cosine job vs fp32 reference over {cos[2]:,} "
          f"cleaned texts: mean {cos[0]:.5f}, min {cos[1]:.5f}  ({load_avg()})")


if __name__ == "__main__":
    main()
