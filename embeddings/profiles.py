"""Per-user text profiles X, exact at any time t (pure, vectorised).

Both profiles change only when the user writes a text, so one row per (user, distinct text
timestamp) answers every point-in-time query exactly: the row with the latest
``event_timestamp <= t`` holds the value at t.

* ``user_review_profile``: ``review_embedding`` = plain mean of the vectors of all the user's
  reviews with ``ts <= t``. Ratings do not weight it (every review counts once): the rating is
  already a transactional signal and weighting would let a few angry reviews dominate.
* ``user_search_profile``: ``search_embedding`` = exponentially time-decayed mean with half-life
  h: weights ``2^(-(t - t_i)/h)``. The common factor ``2^(-t/h)`` cancels in the normalised
  mean, so the value is ``sum 2^(t_i/h) v_i / sum 2^(t_i/h)``, constant between searches.

Both are grouped cumulative sums over rows sorted by (user, ts). Search weights are kept in
range by rebasing every ``SEGMENT_HALF_LIVES`` half-lives (see ``_decayed_sums``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_repo.timestamps import US_PER_DAY

SEGMENT_HALF_LIVES = 512.0  # 2**512 is far from float64 overflow; 2**-512 is far below its epsilon


def profile_columns(kind: str) -> list[str]:
    """Columns of the ``user_<kind>_profile`` table, in order."""
    extra = ["search_weight"] if kind == "search" else []
    return ["user_id", "event_timestamp", f"{kind}_embedding", f"{kind}_count", *extra]


def embedding_column(vectors: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` as an object array of float32 vectors (Parquet ``list<float>``)."""
    return pd.Series(list(np.asarray(vectors, dtype=np.float32)), dtype=object).to_numpy()


def _frame(kind: str, users: np.ndarray, ts: np.ndarray, means: np.ndarray, counts: np.ndarray,
           weights: np.ndarray | None = None) -> pd.DataFrame:
    cols = profile_columns(kind)
    frame = pd.DataFrame({
        cols[0]: pd.array(users, dtype="string"),
        cols[1]: pd.to_datetime(ts.astype(np.int64), unit="us", utc=True).astype("datetime64[us, UTC]"),
        cols[2]: embedding_column(means),
        cols[3]: np.asarray(counts, dtype=np.int64),
    })
    if kind == "search":
        # Sum of decay weights at the row time: what an online update needs to extend the mean.
        frame["search_weight"] = np.asarray(weights if weights is not None else counts, dtype=np.float64)
    return frame


def empty_profile(kind: str, dim: int) -> pd.DataFrame:
    """A profile table with no rows but the right columns (the embedding column is an empty
    object column: pandas cannot carry ``list<float32>`` there, the writer sets the type)."""
    empty = np.zeros(0, dtype=np.int64)
    return _frame(kind, np.zeros(0, dtype=object), empty, np.zeros((0, dim), dtype=np.float32), empty)


def _sorted(events: pd.DataFrame, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Users, µs timestamps and float64 vectors sorted by (user, ts), and each row's user start index."""
    users = events["user_id"].astype(str).to_numpy(dtype=object)
    ts = pd.to_datetime(events["ts"], utc=True).astype("datetime64[us, UTC]").astype("int64").to_numpy()
    codes = pd.factorize(users, sort=True)[0]
    order = np.lexsort((ts, codes))
    users, ts, codes = users[order], ts[order], codes[order]
    new_user = np.r_[True, codes[1:] != codes[:-1]]
    start = np.maximum.accumulate(np.where(new_user, np.arange(len(codes)), 0))
    return users, ts, np.asarray(vectors)[order].astype(np.float64), start


def _last_per_time(users_start: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Mask of the last row of every (user, ts) run in (user, ts)-sorted rows."""
    nxt_same_user = np.r_[users_start[1:] == users_start[:-1], False]
    nxt_same_ts = np.r_[ts[1:] == ts[:-1], False]
    return ~(nxt_same_user & nxt_same_ts)


def _grouped_cumsum(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each group (rows already grouped contiguously)."""
    return pd.DataFrame(values).groupby(groups, sort=False).cumsum().to_numpy()


def review_profiles(events: pd.DataFrame, vectors: np.ndarray) -> pd.DataFrame:
    """One row per (user, distinct ts): mean of the user's review vectors with ``ts <=`` that time.

    ``events`` has ``user_id`` and ``ts`` aligned with the rows of ``vectors`` (n, dim).
    """
    if len(events) == 0:
        return empty_profile("review", vectors.shape[1])
    users, ts, vecs, start = _sorted(events, vectors)
    sums = _grouped_cumsum(start, vecs)
    counts = np.arange(len(ts)) - start + 1
    last = _last_per_time(start, ts)
    return _frame("review", users[last], ts[last], sums[last] / counts[last, None], counts[last])


def _decayed_sums(start: np.ndarray, ts: np.ndarray, vecs: np.ndarray,
                  half_life_days: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: weighted vector sum and weight sum on a row-local scale (only their ratio matters),
    and the row's own weight on that scale (weight sum / own weight = true decayed weight sum).

    Weights ``2^(e_i - L*s)`` use e = half-lives since the user's first search and the segment
    s = floor(e / L), so they stay in [1, 2^L). A row also gets its previous segment's totals
    scaled by 2^-L; older segments weigh < 2^-L relative to the row itself and are dropped.
    """
    seg_len = SEGMENT_HALF_LIVES
    e = (ts - ts[start]) / (half_life_days * US_PER_DAY)
    seg = np.floor(e / seg_len)
    w = np.exp2(e - seg * seg_len)
    group = np.cumsum(np.r_[True, (start[1:] != start[:-1]) | (seg[1:] != seg[:-1])]) - 1
    num = _grouped_cumsum(group, vecs * w[:, None])
    den = _grouped_cumsum(group, w[:, None])[:, 0]
    last = np.r_[group[1:] != group[:-1], True]
    g_user, g_seg = start[last], seg[last]
    follows = np.r_[False, (g_user[1:] == g_user[:-1]) & (g_seg[1:] == g_seg[:-1] + 1)]
    scale = np.where(follows, np.exp2(-seg_len), 0.0)
    carry_num = np.vstack([np.zeros((1, vecs.shape[1])), num[last][:-1]]) * scale[:, None]
    carry_den = np.r_[0.0, den[last][:-1]] * scale
    return num + carry_num[group], den + carry_den[group], w


def search_profiles(events: pd.DataFrame, vectors: np.ndarray, half_life_days: float) -> pd.DataFrame:
    """One row per (user, distinct ts): time-decayed mean of the user's search vectors up to then."""
    if half_life_days <= 0:
        raise ValueError("half_life_days must be positive")
    if len(events) == 0:
        return empty_profile("search", vectors.shape[1])
    users, ts, vecs, start = _sorted(events, vectors)
    num, den, own = _decayed_sums(start, ts, vecs, half_life_days)
    counts = np.arange(len(ts)) - start + 1
    last = _last_per_time(start, ts)
    return _frame("search", users[last], ts[last], num[last] / den[last, None], counts[last], den[last] / own[last])
