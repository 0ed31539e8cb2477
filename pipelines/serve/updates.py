"""Pure, incremental feature updates for one user and one event (no I/O).

* ``user_transactions``: recomputed for that user only, with the batch function
  (``pipelines.features.transactional``), from the user's curated rows plus logged events.
* review profile: running mean of the review vectors, ``p' = (n p + v) / (n + 1)``.
* search profile: exponentially decayed mean with half-life ``h`` days. With ``W`` the decayed
  weight sum at the profile's time ``t0`` and a search at ``e``, both brought to ``t = max(t0, e)``:
  ``W' = W 2^-(t-t0)/h + 2^-(t-e)/h`` and ``p' = (p W 2^-(t-t0)/h + v 2^-(t-e)/h) / W'``
  (``t`` is the pushed row's time, see ``stamp``).

Rows are stamped strictly later than the stored row (``stamp``): Feast's Redis store ignores a
write that is not newer than what it holds, and a late event must still reach the online value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_repo.timestamps import epoch_s, ts_column
from feature_repo.names import EXPIRY_VIEW
from pipelines.features.expiry import event_times, schedule_after
from pipelines.features.transactional import build_transactional_features

ONE_US = pd.Timedelta(1, unit="us")


def stamp(event_ts: pd.Timestamp, stored_ts_s: float | None) -> pd.Timestamp:
    """Time of the pushed row: the event time, or just after the stored row if that is later."""
    if stored_ts_s is None or np.isnan(stored_ts_s):
        return event_ts
    stored = pd.Timestamp(round(stored_ts_s * 1e6), unit="us", tz="UTC")
    return max(event_ts, stored + ONE_US)


def transactions_row(tables: dict[str, pd.DataFrame | None], user_id: str, at: pd.Timestamp,
                     windows: list[int], tier_names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The user's ``user_transactions`` row as of ``at`` from that user's rows of every table,
    stamped ``at`` (``event_timestamp`` and ``user_transactions_ts``), and its expiry schedule row
    (``pipelines.features.expiry``), stamped the same."""
    users = tables["users"]
    if users is None or not (users["user_id"] == user_id).any():
        raise ValueError(f"user {user_id!r} is not among the curated users")
    feats = build_transactional_features(users, tables["orders"], windows, tier_names, tiers=tables.get("tiers"),
                                         reviews=tables.get("reviews"), searches=tables.get("searches"))
    feats = feats[feats["user_id"] == user_id]
    rows = feats[feats["event_timestamp"] <= at]
    if rows.empty:
        raise ValueError(f"user {user_id!r} has no feature row at {at} (event before signup?)")
    stamp_at = pd.Series([at]).astype("datetime64[us, UTC]")
    row = rows.iloc[[-1]].reset_index(drop=True)
    row["event_timestamp"] = stamp_at
    row[ts_column("user_transactions")] = epoch_s(at)
    schedule = pd.DataFrame({"user_id": [user_id], "event_timestamp": stamp_at,
                             **{k: [v] for k, v in schedule_after(feats, event_times(tables), at, windows).items()},
                             ts_column(EXPIRY_VIEW): [epoch_s(at)]})
    return row, schedule


def running_mean(prev: np.ndarray | None, count: int, vec: np.ndarray) -> tuple[np.ndarray, int]:
    """Mean of ``count`` vectors (``prev``) with one more vector."""
    vec = np.asarray(vec, dtype=np.float64)
    if prev is None or count <= 0:
        return vec, 1
    return (np.asarray(prev, dtype=np.float64) * count + vec) / (count + 1), count + 1


def decayed_mean(prev: np.ndarray | None, weight: float | None, prev_ts_s: float | None, vec: np.ndarray,
                 event_ts_s: float, at_s: float, half_life_days: float) -> tuple[np.ndarray, float]:
    """Decayed mean with one more vector, as of ``at_s`` (>= both times): ``(profile, weight sum)``."""
    vec = np.asarray(vec, dtype=np.float64)
    h = half_life_days * 86400.0
    w_new = 0.5 ** ((at_s - event_ts_s) / h)
    if prev is None or weight is None or np.isnan(weight) or weight <= 0 or prev_ts_s is None or np.isnan(prev_ts_s):
        return vec, w_new
    w_old = weight * 0.5 ** ((at_s - prev_ts_s) / h)
    total = w_old + w_new
    return (np.asarray(prev, dtype=np.float64) * w_old + vec * w_new) / total, total


def replay_profile(kind: str, base: dict | None, events: list[tuple[np.ndarray, float]], at_s: float,
                   half_life_days: float) -> tuple[np.ndarray, int, float | None]:
    """A profile recomputed from its batch row ``base`` (None: no batch row) plus ``events``
    (vector, epoch s) in time order, as of ``at_s``: ``(mean, count, search weight or None)``.
    Pure and deterministic, so pushing it again for a retried event changes nothing."""
    prev = None if base is None else base[f"{kind}_embedding"]
    count = 0 if base is None or pd.isna(base[f"{kind}_count"]) else int(base[f"{kind}_count"])
    weight = None if base is None else base.get("search_weight")
    prev_ts = None if base is None else float(base[ts_column(f"user_{kind}_profile")])
    for vec, ts_s in events:
        if kind == "review":
            prev, count = running_mean(prev, count, vec)
            continue
        step = max(ts_s, prev_ts) if prev_ts is not None and not np.isnan(prev_ts) else ts_s
        prev, weight = decayed_mean(prev, weight, prev_ts, vec, ts_s, step, half_life_days)
        prev_ts, count = step, count + 1
    if kind == "search" and weight is not None and prev_ts is not None:
        weight = float(weight) * 0.5 ** ((at_s - prev_ts) / (half_life_days * 86400.0))  # at the row time
    return np.asarray(prev, dtype=np.float64), count, (None if kind == "review" else weight)
