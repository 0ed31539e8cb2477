"""Stage 'embed': curated reviews/searches -> cleaned texts -> cached vectors -> user profiles X.

Each distinct cleaned text is encoded once per model id; vectors live in a Parquet cache under
``Workspace.embeddings`` (see ``pipelines.embed.cache``). Missing vectors are encoded in a fixed
plan - per kind, sorted by (length, key), cut into ``CHUNK_SIZE`` chunks, one atomic part per
chunk, in order - so a run killed part-way resumes exactly where it stopped and finishes with
the same vectors, and a re-run with no new data encodes nothing and rewrites identical bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from pipelines.common.cli import ConfigOpt, console, err_console, get_config
from pipelines.common.errors import UserError
from pipelines.common.config import PowerTierConfig
from pipelines.common.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import pandas as pd
    from sentence_transformers import SentenceTransformer

CHUNK_SIZE = 256
MANIFEST = "embed_manifest.json"
Progress = Callable[[int], None]


class Source(NamedTuple):
    table: str
    text_col: str
    kind: str  # encoder prompt: "document" or "query"
    profile: str  # "review" or "search"


SOURCES = (Source("reviews", "text", "document", "review"), Source("searches", "query", "query", "search"))


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def embed(
    device: Annotated[Device | None, typer.Option("--device", help="auto (CUDA if present), cpu or cuda.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Texts per encoder batch.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="sentence-transformers name or local path.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Clean review/search texts, encode each distinct one once (cached), write user profiles X."""
    cfg = get_config(config, encoder__device=device.value if device else None,
                     encoder__batch_size=batch_size, encoder__model=model)
    manifest = run_with_progress(cfg)
    print_summary(manifest)


def run_with_progress(cfg: PowerTierConfig) -> dict[str, Any]:
    """``run_embed`` with a rich progress bar (texts/s) on stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} texts/s"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task("encoding", total=None, rate="-")
        started = [time.perf_counter()]

        def plan(total: int) -> None:
            started[0] = time.perf_counter()  # the rate counts encoding only, not loading
            bar.update(task, total=total, completed=0)

        def advance(n: int) -> None:
            bar.advance(task, n)
            done = bar.tasks[0].completed
            bar.update(task, rate=f"{done / max(time.perf_counter() - started[0], 1e-9):.0f}")

        return run_embed(cfg, on_plan=plan, on_progress=advance)


def _read_sources(ws: Workspace) -> dict[str, pd.DataFrame | None]:
    """Curated review/search tables (None where absent); no curated data at all is a user error."""
    from pipelines.storage.files import read_parquet

    if not ws.curated_table("users").exists():
        raise UserError(f"no curated data in {ws.curated}: run `powertier ingest` first")
    return {s.table: read_parquet(ws.curated_table(s.table)) if ws.curated_table(s.table).exists() else None
            for s in SOURCES}


def _prepare(cfg: PowerTierConfig, frames: dict[str, pd.DataFrame | None]) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Clean every present table; absent tables give an empty frame and zero stats."""
    import pandas as pd

    from embeddings.prepare import prepare_texts

    rules = {"min_chars": cfg.encoder.min_chars, "spam_min_users": cfg.encoder.spam_min_users,
             "spam_min_chars": cfg.encoder.spam_min_chars}
    out = {}
    for s in SOURCES:
        df = frames[s.table]
        if df is None:
            df = pd.DataFrame({"user_id": pd.Series(dtype="string"), "ts": pd.Series(dtype="datetime64[us, UTC]"),
                               s.text_col: pd.Series(dtype="string")})
        out[s.table] = prepare_texts(df, s.text_col, **rules)
    return out


def _encode_missing(model: SentenceTransformer, todo: dict[str, dict[str, str]], directory: Path,
                    batch_size: int, on_progress: Progress | None) -> list[tuple[list[str], np.ndarray]]:
    """Encode ``{kind: {key: text}}`` chunk by chunk in the fixed plan, writing one part per chunk."""
    from embeddings.encoder import encode
    from pipelines.embed.cache import write_part

    written = []
    for kind, texts in todo.items():
        keys = sorted(texts, key=lambda k: (len(texts[k]), k))
        for lo in range(0, len(keys), CHUNK_SIZE):
            chunk = keys[lo:lo + CHUNK_SIZE]
            vectors = encode(model, [texts[k] for k in chunk], kind, batch_size)
            write_part(directory, chunk, vectors)
            written.append((chunk, vectors))
            if on_progress:
                on_progress(len(chunk))
    return written


def _load(cfg: PowerTierConfig) -> SentenceTransformer:
    from embeddings.encoder import load_encoder

    try:
        return load_encoder(cfg)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _plan(lowercase: bool, model_name: str, prepared: dict, cached: pd.Index
          ) -> tuple[dict[str, tuple[pd.DataFrame, list[str]]], dict[str, dict[str, str]]]:
    """Kept rows and their cache keys per table, and the texts still to encode per kind."""
    from embeddings.encoder import canonical_texts, text_keys

    kept, todo = {}, {}
    for s in SOURCES:
        frame, stats = prepared[s.table]
        rows = frame[frame["reason"].isna()].reset_index(drop=True)
        texts = canonical_texts(rows["text"].tolist(), lowercase)
        keys = text_keys(model_name, s.kind, texts)
        distinct = dict(zip(keys, texts))
        hit = cached.get_indexer(list(distinct)) >= 0 if distinct else []
        todo[s.kind] = {k: t for (k, t), h in zip(distinct.items(), hit) if not h}
        stats.update(distinct_texts=len(distinct), encoded=len(todo[s.kind]),
                     cache_hits=len(distinct) - len(todo[s.kind]))
        kept[s.table] = (rows, keys)
    return kept, todo


def _write_profiles(cfg: PowerTierConfig, ws: Workspace, kept: dict, keys: pd.Index,
                    vectors: np.ndarray) -> dict[str, dict[str, int]]:
    """Build and write both profile tables; returns rows and users per view."""
    from embeddings.profiles import review_profiles, search_profiles
    from pipelines.storage.feast_store import write_empty_table, write_feature_table

    out = {}
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
    return out


def run_embed(cfg: PowerTierConfig, model: SentenceTransformer | None = None,
              on_plan: Progress | None = None, on_progress: Progress | None = None) -> dict[str, Any]:
    """Run the embedding job on ``cfg.data_dir``; returns the manifest it wrote.

    ``model`` lets callers (tests, benchmarks) load the encoder once; without it the model is
    loaded only when something needs encoding (or its dimension is not yet recorded).
    ``on_plan`` receives the number of texts to encode, ``on_progress`` each finished chunk's size.
    """
    import numpy as np
    import pandas as pd

    from embeddings.encoder import model_id, model_info, precision
    from pipelines.embed import cache as embed_cache
    from pipelines.storage.files import write_json

    started = time.perf_counter()
    ws = Workspace(cfg.data_dir)
    frames = _read_sources(ws)
    prepared = _prepare(cfg, frames)
    name = model_id(cfg.encoder.model)
    directory = embed_cache.cache_dir(ws, name)
    embed_cache.remove_partial(directory)
    info = model_info(model) if model is not None else embed_cache.read_model_info(directory)
    if info is None:
        model = _load(cfg)
        info = model_info(model)
    cached_keys, cached_vecs = embed_cache.load_cache(directory, info["dim"])
    kept, todo = _plan(info["lowercase"], name, prepared, cached_keys)
    n_todo = sum(len(t) for t in todo.values())
    if n_todo and model is None:
        model = _load(cfg)
    if model is not None:
        embed_cache.write_model_info(directory, model_info(model))
    if on_plan:
        on_plan(n_todo)
    written = _encode_missing(model, todo, directory, cfg.encoder.batch_size, on_progress) if n_todo else []
    keys = cached_keys.append(pd.Index([k for chunk, _ in written for k in chunk], dtype=object))
    vectors = np.vstack([cached_vecs, *[v for _, v in written]])
    profiles = _write_profiles(cfg, ws, kept, keys, vectors)
    manifest = _manifest(prepared, profiles, [s.table for s in SOURCES if frames[s.table] is None])
    manifest.update(model=name, dim=int(info["dim"]), batch_size=cfg.encoder.batch_size,
                    device=str(model.device) if model is not None else "none (nothing to encode)",
                    precision=precision(model) if model is not None else None, cache_dir=str(directory),
                    seconds=round(time.perf_counter() - started, 3))
    write_json(manifest, ws.embeddings / MANIFEST)
    return manifest


def _manifest(prepared: dict, profiles: dict, missing: list[str]) -> dict[str, Any]:
    """Counts per table and in total, profile sizes and notes about absent tables."""
    from embeddings.prepare import merge_stats

    tables = {t: {**stats, "present": t not in missing} for t, (_, stats) in prepared.items()}
    total = merge_stats([{k: v for k, v in stats.items() if k != "present"} for stats in tables.values()])
    notes = [f"{s.table}: no curated table, wrote an empty user_{s.profile}_profile"
             for s in SOURCES if s.table in missing]
    return {**total, "tables": tables, "profiles": profiles, "notes": notes}


def print_summary(manifest: dict[str, Any]) -> None:
    """A rich table of what happened to the texts, then model/device/time on one line."""
    from rich.table import Table

    table = Table(title="powertier embed")
    table.add_column("")
    for t in manifest["tables"]:
        table.add_column(t, justify="right")
    table.add_column("total", justify="right")
    rows = [("texts in", ("texts_in",)), ("kept", ("kept",))]
    rows += [(f"dropped: {r}", ("dropped", r)) for r in manifest["dropped"]]
    rows += [(f"flagged: {r}", ("flagged", r)) for r in manifest["flagged"]]
    rows += [(f"PII placeholders: {k}", ("pii_redactions", k)) for k in manifest["pii_redactions"]]
    rows += [("distinct texts", ("distinct_texts",)), ("cache hits", ("cache_hits",)), ("encoded", ("encoded",))]
    for label, path in rows:
        cells = [_dig(stats, path) for stats in manifest["tables"].values()] + [_dig(manifest, path)]
        table.add_row(label, *[f"{c:,}" for c in cells])
    console.print(table)
    for note in manifest["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    views = ", ".join(f"{v} {p['rows']:,} rows / {p['users']:,} users" for v, p in manifest["profiles"].items())
    console.print(f"profiles: {views}")
    rate = manifest["encoded"] / max(manifest["seconds"], 1e-9)
    console.print(f"model {manifest['model']} (dim {manifest['dim']}) on {manifest['device']}"
                  f"{' ' + manifest['precision'] if manifest['precision'] else ''}, batch {manifest['batch_size']}: "
                  f"{manifest['seconds']:.1f} s ({rate:.0f} encoded texts/s)")


def _dig(d: dict[str, Any], path: tuple[str, ...]) -> int:
    for key in path:
        d = d[key]
    return int(d)  # type: ignore[arg-type]
