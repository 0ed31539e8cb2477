"""From a curated text table to the texts worth encoding, every other text counted by reason.

Pure: a DataFrame in, a DataFrame and a stats dict out. Each distinct raw string is cleaned
once (queries repeat a lot), then mapped back to its rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from embeddings.cleaning import count_placeholders, finish_clean, redact_pii, text_length
from embeddings.spam import SPAM_REASONS, content_flag, duplicate_mask

DROP_REASONS = ("empty", "too_short")
PREPARED_COLUMNS = ("user_id", "ts", "text", "reason")


def _clean_distinct(raw: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Per row: the redacted (pre-URL) form, the final clean form, its content spam flag and
    its length (``cleaning.text_length``)."""
    values = raw.astype(object).where(raw.notna(), "")
    distinct = pd.unique(values)
    redacted = {t: redact_pii(t)[0] for t in distinct}
    clean = {t: finish_clean(r) for t, r in redacted.items()}
    flag = {t: content_flag(r) for t, r in redacted.items()}
    length = {t: text_length(c) for t, c in clean.items()}
    return values.map(redacted), values.map(clean), values.map(flag), values.map(length)


def prepare_texts(df: pd.DataFrame, text_col: str, *, min_chars: int, spam_min_users: int,
                  spam_min_chars: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Clean ``df[text_col]`` and give each row a ``reason`` (null = keep).

    Reasons, first match wins: dropped ``empty`` / ``too_short`` (shorter than ``min_chars``
    after cleaning, by ``cleaning.text_length``), then flagged spam (``embeddings.spam``; the
    duplicate rule only for texts of ``spam_min_chars``+). Returns the rows with ``user_id``,
    ``ts``, ``text`` (clean form), ``reason`` plus any other input column, and the stats.
    """
    redacted, clean, flag, length = _clean_distinct(df[text_col])
    length = length.to_numpy(dtype=np.int64)
    reason = np.select([length == 0, length < min_chars, flag.notna().to_numpy()],
                       [DROP_REASONS[0], DROP_REASONS[1], flag.to_numpy(dtype=object)], default=None)
    reason = pd.Series(reason, index=df.index, dtype=object)
    long_enough = pd.Series(length >= spam_min_chars, index=df.index)
    dup = duplicate_mask(clean, df["user_id"], reason.isna() & long_enough, spam_min_users)
    reason[dup] = "duplicate"
    out = df.drop(columns=[text_col]).assign(text=clean.astype(str), reason=reason)
    stats = {
        "texts_in": int(len(df)),
        "kept": int(reason.isna().sum()),
        "dropped": {r: int((reason == r).sum()) for r in DROP_REASONS},
        "flagged": {r: int((reason == r).sum()) for r in SPAM_REASONS},
        "pii_redactions": count_placeholders(redacted),
    }
    return out, stats


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum stats dicts of several tables (nested counters are summed key by key)."""
    total: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):
                inner = total.setdefault(key, {})
                for k, v in value.items():
                    inner[k] = inner.get(k, 0) + v
            else:
                total[key] = total.get(key, 0) + value
    return total
