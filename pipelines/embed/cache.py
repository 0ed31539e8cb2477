"""Thin on-disk I/O of the embedding job: the vector cache and the empty profile table.

One directory per model id under ``Workspace.embeddings / "cache"``; each directory holds
Parquet parts ``part-<hash of its keys>.parquet`` with columns ``key`` (content hash of model
id + kind + text, see ``embeddings.encoder.text_keys``) and ``vector`` (fixed-size list of
float32). A part is written to a temporary file and renamed, so a killed run leaves either a
whole part or none (plus, at worst, a ``*.tmp`` that the next run removes). ``model.json``
beside the parts records the model's dimension and casing, so a run with nothing new to encode
does not need to load the model at all.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.storage.files import read_json, write_json
from pipelines.common.workspace import Workspace

PART_GLOB = "part-*.parquet"
MODEL_INFO = "model.json"


def cache_dir(ws: Workspace, model_name: str) -> Path:
    """Cache directory of one model id: readable slug + short hash (paths may collide on name)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model_name).name)[:48] or "model"
    digest = hashlib.blake2b(model_name.encode("utf-8"), digest_size=6).hexdigest()
    return ws.embeddings / "cache" / f"{slug}-{digest}"


def remove_partial(directory: Path) -> int:
    """Delete temporary files a killed run left behind; returns how many."""
    stale = list(directory.glob("*.tmp")) if directory.exists() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def read_model_info(directory: Path) -> dict[str, Any] | None:
    """``{"dim": int, "lowercase": bool}`` of the model this cache belongs to, if recorded."""
    path = directory / MODEL_INFO
    return read_json(path) if path.exists() else None


def write_model_info(directory: Path, info: dict[str, Any]) -> None:
    write_json(info, directory / MODEL_INFO)


def load_cache(directory: Path, dim: int) -> tuple[pd.Index, np.ndarray]:
    """All cached keys (unique, first part wins) and their vectors ``(n, dim)`` float32."""
    parts = sorted(directory.glob(PART_GLOB)) if directory.exists() else []
    if not parts:
        return pd.Index([], dtype=object), np.zeros((0, dim), dtype=np.float32)
    table = pa.concat_tables([pq.read_table(p) for p in parts])
    vectors = table.column("vector").combine_chunks()
    if vectors.type.list_size != dim:
        raise ValueError(f"{directory}: cached vectors have dimension {vectors.type.list_size}, model has {dim}")
    flat = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    keys = pd.Index(table.column("key").to_pylist(), dtype=object)
    first = ~keys.duplicated()
    return keys[first], flat.reshape(-1, dim)[first]


def write_part(directory: Path, keys: list[str], vectors: np.ndarray) -> Path:
    """Write one part atomically; its name is a hash of its keys, so rewriting it is idempotent."""
    digest = hashlib.blake2b("\n".join(keys).encode("utf-8"), digest_size=8).hexdigest()
    path = directory / f"part-{digest}.parquet"
    values = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel(), type=pa.float32())
    table = pa.table({"key": pa.array(keys, type=pa.string()),
                      "vector": pa.FixedSizeListArray.from_arrays(values, vectors.shape[1])})
    _atomic_table(table, path)
    return path


def _atomic_table(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    pq.write_table(table, tmp)
    os.replace(tmp, path)
