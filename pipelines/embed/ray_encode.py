"""The embedding job's encoding on Ray Data (``engine: ray``).

The chunks that the job planned (``plan.plan_chunks``: the same plan as the local job) go through
``Dataset.map_batches`` on an actor pool, one chunk per batch. Each actor loads the encoder once,
on its first batch, with one GPU when the cluster has GPUs, and runs the same
``embeddings.encoder.encode`` as the local job: fixed-shape passes, so a text's vector does not
depend on which actor or batch encoded it, and the vectors are bit-identical to the local path.
Vectors travel back as raw float32 bytes (no conversion on the way) and stream to the driver
chunk by chunk as they complete, so the job writes each cache part as soon as it exists and a
killed run keeps every finished part. No file I/O here: job.py writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from pipelines.common.config import PowerTierConfig
from pipelines.common.ray_engine import cluster_gpus, ensure_ray

MAX_BLOCKS = 1000  # input blocks of the dataset: one chunk each up to this many chunks
Encoded = tuple[list[str], np.ndarray, str, str]  # keys, vectors, device, precision


class EncoderActor:
    """Ray Data callable class: one encoder per actor process, loaded on the first batch."""

    def __init__(self, cfg: PowerTierConfig) -> None:
        self.cfg = cfg
        self.model: Any = None

    def _loaded(self) -> Any:
        """The actor's encoder (``load_model`` of the job's config: same model, device, precision)."""
        if self.model is None:
            from pipelines.storage.models import load_model

            self.model = load_model(self.cfg)
        return self.model

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Encode every chunk row (``kind``, ``keys``, ``texts``); one output row per chunk."""
        from embeddings.encoder import encode, precision

        model = self._loaded()
        rows = []
        for row in batch.to_pylist():
            vectors = encode(model, row["texts"], row["kind"], self.cfg.encoder.batch_size)
            rows.append({"keys": row["keys"], "vectors": np.ascontiguousarray(vectors, np.float32).tobytes(),
                         "device": str(model.device), "precision": precision(model)})
        return pa.Table.from_pylist(rows)


def actor_resources(cfg: PowerTierConfig) -> dict[str, float]:
    """CPUs and GPUs reserved per encoder actor: ``ray.gpus_per_encoder``, or 1 GPU when the
    cluster advertises any and none otherwise."""
    gpus = cfg.ray.gpus_per_encoder
    if gpus is None:
        gpus = 1.0 if cluster_gpus(cfg) >= 1 else 0.0
    return {"num_cpus": cfg.ray.cpus_per_encoder, "num_gpus": gpus}


def quiet_ray_data(verbose: bool) -> None:
    """Ray Data logs each execution (start, plan, finish) to the console at INFO: keep its session
    log file, and show only errors on the console (warnings too under ``--verbose``), like every
    other library (``pipelines.common.cli.library_output``)."""
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    for handler in logging.getLogger("ray.data").handlers:
        if type(handler).__name__ == "PlainRayHandler":  # the console handler; the file one stays
            handler.setLevel(logging.WARNING if verbose else logging.ERROR)


def chunk_rows(chunks: list[tuple[str, list[str]]], todo: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """One dataset row per planned chunk: its kind, keys and texts (in the plan's order)."""
    return [{"kind": kind, "keys": keys, "texts": [todo[kind][k] for k in keys]} for kind, keys in chunks]


def _has_console(logger: logging.Logger) -> bool:
    """Whether ``logger`` shows records (``--verbose`` installs a handler; the default a NullHandler)."""
    return any(not isinstance(h, logging.NullHandler) for h in logger.handlers)


def encode_on_ray(cfg: PowerTierConfig, chunks: list[tuple[str, list[str]]],
                  todo: dict[str, dict[str, str]]) -> Iterator[Encoded]:
    """``(keys, vectors, device, precision)`` per chunk, in completion order, encoded by an actor
    pool of ``ray.encoder_actors`` actors (fewer when there are fewer chunks)."""
    ensure_ray(cfg)
    import ray

    quiet_ray_data(_has_console(logging.getLogger()))
    rows = chunk_rows(chunks, todo)
    pool = ray.data.ActorPoolStrategy(size=max(1, min(cfg.ray.encoder_actors, len(rows))))
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), MAX_BLOCKS)))
    encoded = dataset.map_batches(EncoderActor, fn_constructor_args=(cfg,), batch_size=1, batch_format="pyarrow",
                                  compute=pool, **actor_resources(cfg))
    for block in encoded.iter_batches(batch_size=None, batch_format="pyarrow"):
        for row in block.to_pylist():
            vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(row["keys"]), -1)
            yield row["keys"], vectors, row["device"], row["precision"]
