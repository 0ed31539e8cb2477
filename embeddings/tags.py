"""Interpretable per-user profile tags from the text profiles X (pure: arrays and frames in and out).

A tag (category interest, price sensitivity, premium taste, sentiment, ...) is defined by a few
prototype phrases. Its prototype is the normalised mean of their vectors, encoded with the same
model and prompt as the profile it is compared to (``document``/passage for reviews, ``query``
for searches). A user's tag at t is the cosine between that prototype and the user's profile
vector as of t, averaged over the tag's sources (review, search) the user has a profile in by t,
then centred within the tag's group (minus the group's mean at that row; see ``centre``).

``profile_tags`` emits one row per (user, time a review or search profile row exists), i.e.
exactly the times at which a tag can change, so the latest row with ``event_timestamp <= t`` is
the tag at t and depends only on texts up to t (the profiles are point-in-time exact).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SOURCES = ("review", "search")
KIND = {"review": "document", "search": "query"}  # the encoder prompt of each profile's texts


def prototype_vectors(vectors: np.ndarray, owners: Sequence[int], n_tags: int) -> np.ndarray:
    """Unit-length mean vector per tag ``(n_tags, dim)`` from phrase vectors and each phrase's tag index.

    A tag without phrases is an error: its prototype would be undefined."""
    vectors = np.asarray(vectors, dtype=np.float64)
    owners = np.asarray(owners, dtype=np.int64)
    counts = np.bincount(owners, minlength=n_tags) if len(owners) else np.zeros(n_tags, dtype=np.int64)
    if (counts == 0).any():
        raise ValueError(f"tags without prototype phrases: indices {np.flatnonzero(counts == 0).tolist()}")
    sums = np.zeros((n_tags, vectors.shape[1]))
    np.add.at(sums, owners, vectors)
    return _unit(sums / counts[:, None])


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def cosine_scores(profiles: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """Cosine of every profile row to every prototype: ``(n, n_tags)`` float64.

    Each value is a function of its row alone, bit for bit: a BLAS matrix product changes the
    last bits with the number of rows (its blocking), ``einsum``'s plain loop does not, so the
    tags up to a cutoff stay identical when later texts add rows."""
    profiles = np.asarray(profiles, dtype=np.float64).reshape(len(profiles), -1)
    if len(profiles) == 0:
        return np.zeros((0, len(prototypes)))
    return np.einsum("nd,kd->nk", _unit(profiles), _unit(np.asarray(prototypes, dtype=np.float64)), optimize=False)


def tag_columns(names: Sequence[str]) -> list[str]:
    """Columns of the ``user_profile_tags`` table, in order (the writer adds ``<view>_ts``)."""
    from feature_repo.names import tag_feature_names

    return ["user_id", "event_timestamp", *tag_feature_names(list(names))]


def _scored(profile: pd.DataFrame | None, kind: str, prototypes: np.ndarray | None) -> pd.DataFrame | None:
    """``user_id``, ``event_timestamp`` and the cosines ``(n, n_tags)`` of one profile table."""
    if profile is None or len(profile) == 0 or prototypes is None:
        return None
    scores = cosine_scores(np.stack(profile[f"{kind}_embedding"].to_numpy()), prototypes)
    out = pd.DataFrame(scores, columns=[f"{kind}:{i}" for i in range(scores.shape[1])])
    out.insert(0, "user_id", profile["user_id"].astype(str).to_numpy())
    out.insert(1, "event_timestamp", pd.to_datetime(profile["event_timestamp"], utc=True).astype("datetime64[us, UTC]"))
    return out.sort_values("event_timestamp", kind="stable")


def _row_times(scored: list[pd.DataFrame]) -> pd.DataFrame:
    """Every distinct (user, time) among the profile rows, sorted by time (as ``merge_asof`` needs)."""
    keys = pd.concat([s[["user_id", "event_timestamp"]] for s in scored], ignore_index=True)
    return keys.drop_duplicates().sort_values(["event_timestamp", "user_id"], kind="stable").reset_index(drop=True)


def centre(values: np.ndarray, groups: Sequence[str | None] | None) -> np.ndarray:
    """Tag values ``(n, n_tags)`` with each group's row mean (over its non-null tags) subtracted;
    tags without a group keep their raw value."""
    if not groups:
        return values
    out = values.copy()
    for g in sorted({g for g in groups if g is not None}):
        cols = [i for i, x in enumerate(groups) if x == g]
        out[:, cols] = values[:, cols] - _nanmean(values[:, cols])[:, None]
    return out


def profile_tags(review: pd.DataFrame | None, search: pd.DataFrame | None, names: Sequence[str],
                 prototypes: dict[str, np.ndarray], sources: Sequence[Sequence[str]],
                 groups: Sequence[str | None] | None = None) -> pd.DataFrame:
    """The tags table: one row per (user, time of a review or search profile row).

    ``prototypes[kind]`` is ``(len(names), dim)`` for ``kind`` in review/search (see
    :func:`prototype_vectors`); ``sources[i]`` lists the profiles tag i is scored on. A tag is
    the mean cosine over those of its sources in which the user has a row by then (null if none),
    centred within its group (``groups[i]``, see :func:`centre`).
    """
    tables = {"review": review, "search": search}
    scored = {k: _scored(tables[k], k, prototypes.get(k)) for k in SOURCES}
    present = [s for s in scored.values() if s is not None]
    if not names or not present:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in tag_columns(names)}).astype(
            {"user_id": "string", "event_timestamp": "datetime64[us, UTC]"})
    frame = _row_times(present)
    for s in present:
        frame = pd.merge_asof(frame, s, on="event_timestamp", by="user_id", direction="backward")
    out = frame[["user_id", "event_timestamp"]].copy()
    out["user_id"] = out["user_id"].astype("string")
    raw = np.full((len(frame), len(names)), np.nan)
    for i, srcs in enumerate(sources):
        cols = [f"{k}:{i}" for k in srcs if scored.get(k) is not None]
        raw[:, i] = _nanmean(frame[cols].to_numpy(dtype=np.float64)) if cols else np.nan
    values = centre(raw, groups)
    for i, column in enumerate(tag_columns(names)[2:]):
        out[column] = values[:, i]
    return out.sort_values(["user_id", "event_timestamp"], kind="stable").reset_index(drop=True)


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Row means over the finite entries; NaN where a row has none (without numpy's warning)."""
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def user_tags(vectors: dict[str, np.ndarray | None], prototypes: dict[str, np.ndarray],
              sources: Sequence[Sequence[str]], groups: Sequence[str | None] | None = None) -> np.ndarray:
    """One user's tags ``(n_tags,)`` from the current profile vector per source (None: no profile
    yet), by the same arithmetic as :func:`profile_tags` (serving updates a user with it)."""
    scores = {k: cosine_scores(np.asarray(v, dtype=np.float64)[None], prototypes[k])[0]
              for k, v in vectors.items() if v is not None and k in prototypes}
    out = np.full(len(sources), np.nan)
    for i, srcs in enumerate(sources):
        values = np.array([[scores[k][i] for k in srcs if k in scores]], dtype=np.float64)
        out[i] = _nanmean(values)[0] if values.size else np.nan
    return centre(out[None], groups)[0]
