"""Pure planning of the embedding job: which texts of which table are worth encoding, which of
them the cache already holds, and the manifest's counts (frames in, frames and dicts out)."""

from __future__ import annotations

from typing import Any, NamedTuple

import pandas as pd

from pipelines.common.config import PowerTierConfig
from pipelines.ingest.contract import TEXT_COLUMNS


class Source(NamedTuple):
    table: str
    text_col: str
    kind: str  # encoder prompt: "document" or "query"
    profile: str  # "review" or "search"


# The two text tables: reviews are encoded as documents, searches as queries.
SOURCES = (Source("reviews", TEXT_COLUMNS["reviews"], "document", "review"),
           Source("searches", TEXT_COLUMNS["searches"], "query", "search"))



def prepare_sources(cfg: PowerTierConfig, frames: dict[str, pd.DataFrame | None]) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Clean every present table; absent tables give an empty frame and zero stats."""
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



def plan_encoding(lowercase: bool, model_name: str, prepared: dict, cached: pd.Index
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



def build_manifest(prepared: dict, profiles: dict, missing: list[str]) -> dict[str, Any]:
    """Counts per table and in total, profile sizes and notes about absent tables."""
    from embeddings.prepare import merge_stats

    tables = {t: {**stats, "present": t not in missing} for t, (_, stats) in prepared.items()}
    total = merge_stats([{k: v for k, v in stats.items() if k != "present"} for stats in tables.values()])
    notes = [f"{s.table}: no curated table, wrote an empty user_{s.profile}_profile"
             for s in SOURCES if s.table in missing]
    return {**total, "tables": tables, "profiles": profiles, "notes": notes}



def plan_chunks(model: Any, todo: dict[str, dict[str, str]], size: int) -> list[tuple[str, list[str]]]:
    """``(kind, keys)`` chunks of at most ``size`` texts, each the unit of one cache part.

    Keys are sorted by (token count, key): a chunk then holds one or two token lengths, so the
    encoder's fixed-shape passes waste few filler rows and nothing is padded. The plan depends on
    the texts and the tokenizer only, so every engine writes the same parts."""
    from embeddings.encoder import token_counts

    chunks = []
    for kind, texts in todo.items():
        order = list(texts)
        counts = dict(zip(order, token_counts(model, [texts[k] for k in order], kind)))
        keys = sorted(order, key=lambda k: (counts[k], k))
        chunks += [(kind, keys[lo:lo + size]) for lo in range(0, len(keys), size)]
    return chunks


def plan_prototypes(cfg: PowerTierConfig, lowercase: bool, model_name: str, cached: pd.Index,
                    todo: dict[str, dict[str, str]]) -> tuple[dict[str, tuple[list[int], list[str]]], dict[str, dict[str, str]]]:
    """Per encoder kind: the tag index and cache key of every prototype phrase (each tag's phrases
    in both kinds, keyed like texts so they change with the model), and the phrases still to
    encode (neither cached nor among the texts ``todo`` already holds)."""
    from embeddings.encoder import canonical_texts, text_keys

    tags = cfg.tags.tags if cfg.tags.enabled else []
    owners = [i for i, t in enumerate(tags) for _ in t.phrases]
    phrases = canonical_texts([p for t in tags for p in t.phrases], lowercase)
    keyed, missing = {}, {}
    for kind in ("document", "query"):
        keys = text_keys(model_name, kind, phrases)  # type: ignore[arg-type]
        keyed[kind] = (owners, keys)
        hit = cached.get_indexer(keys) >= 0 if keys else []
        missing[kind] = {k: t for k, t, h in zip(keys, phrases, hit) if not h and k not in todo.get(kind, {})}
    return keyed, missing
