"""Stage 'embed', its I/O: curated reviews/searches -> cleaned texts -> cached vectors -> user
profiles X (Feast feature tables) and ``embed_manifest.json``.

The vector cache: thin on-disk I/O of the embedding job: the vector cache and the empty profile table.

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
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.common.config import PowerTierConfig
from pipelines.common.errors import UserError
from pipelines.common.progress import NO_PROGRESS, Progress
from pipelines.common.ray_engine import uses_ray
from pipelines.common.workspace import Workspace
from pipelines.embed.plan import SOURCES, build_manifest, plan_chunks, plan_encoding, plan_prototypes, prepare_sources
from pipelines.storage.files import atomic_path, read_json, read_parquet, write_json

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

CHUNK_SIZE = 256
MANIFEST = "embed_manifest.json"
Advance = Callable[[int], None]
Encoded = tuple[list[str], np.ndarray, str, str | None]  # one chunk: keys, vectors, device, precision
LOADING, ENCODING = "embed: loading the encoder", "embed: encoding texts"


def run_embed(cfg: PowerTierConfig, model: SentenceTransformer | None = None,
              progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """Run the embedding job on ``cfg.data_dir``; returns the manifest it wrote.

    ``model`` lets callers (tests, benchmarks) load the encoder once; without it the model is
    loaded only when something needs encoding (or its dimension is not yet recorded).
    ``progress`` gets the model load (no total) and the encoding (texts to encode, per chunk).
    """
    from embeddings.encoder import model_info
    from pipelines.storage.models import encoder_key, encoder_label_end

    started = time.perf_counter()
    ws = Workspace(cfg.data_dir)
    frames = _read_sources(ws)
    prepared = prepare_sources(cfg, frames)
    name = encoder_key(cfg, model)
    directory = cache_dir(ws, name)
    remove_partial(directory)
    info = model_info(model) if model is not None else read_model_info(directory)
    if info is None:
        model = _load(_driver_cfg(cfg), progress)
        info = model_info(model)
    cached_keys, cached_vecs = load_cache(directory, info["dim"])
    kept, todo = plan_encoding(info["lowercase"], name, prepared, cached_keys)
    phrase_keys, phrase_todo = plan_prototypes(cfg, info["lowercase"], name, cached_keys, todo)
    n_todo, n_phrases = (sum(len(t) for t in d.values()) for d in (todo, phrase_todo))
    if (n_todo or n_phrases) and model is None:
        model = _load(_driver_cfg(cfg), progress)
    if model is not None:
        write_model_info(directory, model_info(model))
    progress.start(ENCODING, n_todo + n_phrases)
    written = _encode_missing(cfg, model, [todo, phrase_todo], directory,
                              lambda n: progress.advance(ENCODING, n)) if n_todo + n_phrases else []
    progress.finish(ENCODING)
    keys = cached_keys.append(pd.Index([k for chunk, *_ in written for k in chunk], dtype=object))
    vectors = np.vstack([cached_vecs, *[v for _, v, *_ in written]])
    profiles, tables = _write_profiles(cfg, ws, kept, keys, vectors)
    manifest = build_manifest(prepared, profiles, [s.table for s in SOURCES if frames[s.table] is None])
    manifest["tags"] = {**_write_tags(cfg, ws, tables, phrase_keys, keys, vectors), "phrases_encoded": n_phrases}
    manifest.update(model=name, dim=int(info["dim"]), batch_size=cfg.encoder.batch_size,
                    encoder_label_end=encoder_label_end(cfg.encoder.model), engine=cfg.engine,
                    **_device(model, written), cache_dir=str(directory),
                    seconds=round(time.perf_counter() - started, 3))
    write_json(manifest, ws.embeddings / MANIFEST)
    return manifest



def _device(model: SentenceTransformer | None, written: list[Encoded]) -> dict[str, str | None]:
    """Device and precision that encoded (the actors' under ``engine: ray``), for the manifest."""
    from embeddings.encoder import precision

    if written:
        return {"device": written[-1][2], "precision": written[-1][3]}
    if model is not None:
        return {"device": str(model.device), "precision": precision(model)}
    return {"device": "none (nothing to encode)", "precision": None}


def _read_sources(ws: Workspace) -> dict[str, pd.DataFrame | None]:
    """Curated review/search tables (None where absent); no curated data at all is a user error."""
    if not ws.curated_table("users").exists():
        raise UserError(f"no curated data in {ws.curated}: run `powertier ingest` first")
    return {s.table: read_parquet(ws.curated_table(s.table)) if ws.curated_table(s.table).exists() else None
            for s in SOURCES}



def _encode_missing(cfg: PowerTierConfig, model: SentenceTransformer, pending: list[dict[str, dict[str, str]]],
                    directory: Path, on_progress: Advance | None) -> list[Encoded]:
    """Encode each ``{kind: {key: text}}`` of ``pending`` (texts, then tag phrases) in the fixed
    chunk plan, writing each chunk's part as soon as it is encoded (a killed run keeps every
    finished part); ``(keys, vectors, device, precision)`` per chunk. ``engine: ray`` encodes on a
    Ray Data actor pool, the local engine with ``model``; both give every chunk
    ``embeddings.encoder.encode`` of its texts, so they write the same parts."""
    todo = {kind: {k: t for d in pending for k, t in d.get(kind, {}).items()} for kind in ("document", "query")}
    chunks = [c for d in pending for c in plan_chunks(model, d, CHUNK_SIZE)]
    written: list[Encoded] = []

    def keep(keys: list[str], vectors: np.ndarray, device: str, prec: str | None) -> None:
        write_part(directory, keys, vectors)
        written.append((keys, vectors, device, prec))
        if on_progress:
            on_progress(len(keys))

    if uses_ray(cfg):
        from pipelines.embed.ray_encode import encode_on_ray

        for chunk in encode_on_ray(cfg, chunks, todo):
            keep(*chunk)
    else:
        _encode_here(model, chunks, todo, keep)
    return written


def _encode_here(model: SentenceTransformer, chunks: list[tuple[str, list[str]]], todo: dict[str, dict[str, str]],
                 keep: Callable[[list[str], np.ndarray, str, str | None], None]) -> None:
    """The local engine: every chunk in one plan of passes in this process
    (``embeddings.encoder.encode_groups``: each chunk's vectors exactly as ``encode`` gives them),
    ``keep`` called per chunk in plan order as soon as it is done, so part writes overlap the passes left."""
    from embeddings.encoder import encode_groups, precision

    device, prec = str(model.device), precision(model)
    groups = [(kind, [todo[kind][k] for k in keys]) for kind, keys in chunks]
    encode_groups(model, groups, lambda i, vectors: keep(chunks[i][1], vectors, device, prec))


def _driver_cfg(cfg: PowerTierConfig) -> PowerTierConfig:
    """The encoder this process loads: the configured one locally; under ``engine: ray`` only its
    tokenizer is used here (to plan the chunks), so it loads on CPU and leaves GPUs to the actors."""
    if not uses_ray(cfg):
        return cfg
    return cfg.model_copy(update={"encoder": cfg.encoder.model_copy(update={"device": "cpu", "precision": "fp32"})})



def _load(cfg: PowerTierConfig, progress: Progress) -> SentenceTransformer:
    """The encoder, shown as a task of its own (loading takes seconds before any text is encoded)."""
    from pipelines.storage.models import load_model

    progress.start(LOADING)
    try:
        return load_model(cfg)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    finally:
        progress.finish(LOADING)



def _write_profiles(cfg: PowerTierConfig, ws: Workspace, kept: dict, keys: pd.Index,
                    vectors: np.ndarray) -> tuple[dict[str, dict[str, int]], dict[str, pd.DataFrame]]:
    """Build and write both profile tables; returns rows and users per view, and the tables by profile."""
    from embeddings.profiles import review_profiles, search_profiles
    from pipelines.storage.feast_store import write_empty_table, write_feature_table

    out, tables = {}, {}
    for s in SOURCES:
        rows, row_keys = kept[s.table]
        vecs = vectors[keys.get_indexer(row_keys)] if row_keys else vectors[:0]
        if s.profile == "review":
            profile = review_profiles(rows, vecs)
        else:
            profile = search_profiles(rows, vecs, cfg.features.search_half_life_days)
        view = f"user_{s.profile}_profile"
        if len(profile):
            write_feature_table(ws, view, profile)
        else:
            write_empty_table(cfg, view)
        out[view] = {"rows": int(len(profile)), "users": int(profile["user_id"].nunique())}
        tables[s.profile] = profile
    return out, tables


def _write_tags(cfg: PowerTierConfig, ws: Workspace, tables: dict[str, pd.DataFrame],
                phrase_keys: dict[str, tuple[list[int], list[str]]], keys: pd.Index,
                vectors: np.ndarray) -> dict[str, Any]:
    """Score the profile tables against the tag prototypes and write ``user_profile_tags``."""
    from embeddings.tags import KIND, profile_tags, prototype_vectors
    from feature_repo.names import TAGS_VIEW
    from pipelines.storage.feast_store import write_empty_table, write_feature_table

    names = cfg.tags.names()
    protos = {}
    for profile, kind in KIND.items():
        owners, pkeys = phrase_keys[kind]
        if names:
            protos[profile] = prototype_vectors(vectors[keys.get_indexer(pkeys)], owners, len(names))
    sources = [t.sources for t in cfg.tags.tags] if names else []
    groups = [t.group for t in cfg.tags.tags] if names else []
    table = profile_tags(tables.get("review"), tables.get("search"), names, protos, sources, groups)
    if len(table):
        write_feature_table(ws, TAGS_VIEW, table)
    else:
        write_empty_table(cfg, TAGS_VIEW)
    return {"view": TAGS_VIEW, "names": names, "phrases": len(phrase_keys["document"][1]),
            "rows": int(len(table)), "users": int(table["user_id"].nunique())}



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
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
