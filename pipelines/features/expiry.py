"""Expiry schedules of ``user_transactions`` (pure: feature rows in, schedule rows out).

Between two events of a user, the transactional row only changes when an event leaves a window
(the expiry rows at ``e + w``), and those changes depend on past events alone. So each event row
``e`` gets one schedule row at ``e``: the times of the expiry rows before the user's next event
and the values of the windowed features from each of them on. An online store that holds the
latest ``user_transactions`` row and the latest schedule row can serve the exact windowed values
at any later time (``pipelines.serve.predict``), long after the last materialization or event.
The schedule at ``e`` uses nothing after ``e``: it is point-in-time correct offline too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_repo.names import expiring_feature_names

TS_FIELD, VALUES_FIELD = "expiry_ts", "expiry_values"


def event_times(tables: dict[str, pd.DataFrame | None]) -> pd.DataFrame:
    """``user_id``, ``t`` (µs) of every signup and event: the rows no schedule can foresee."""
    parts = [tables["users"][["user_id", "signup_ts"]].rename(columns={"signup_ts": "ts"})]
    parts += [tables[t][["user_id", "ts"]] for t in ("orders", "reviews", "searches", "tiers")
              if tables.get(t) is not None and len(tables[t])]
    out = pd.concat(parts, ignore_index=True)
    return pd.DataFrame({"user_id": out["user_id"].astype(str).to_numpy(), "t": _us(out["ts"])})


def _us(ts: pd.Series) -> np.ndarray:
    return pd.to_datetime(ts, utc=True).astype("datetime64[us, UTC]").astype("int64").to_numpy()


def _matrix(rows: pd.DataFrame, names: list[str]) -> np.ndarray:
    return np.column_stack([rows[n].to_numpy(dtype=float, na_value=np.nan) for n in names]) if len(rows) else \
        np.empty((0, len(names)))


def expiry_schedules(feats: pd.DataFrame, events: pd.DataFrame, windows: list[int]) -> pd.DataFrame:
    """One schedule row per (user, event row) of ``feats`` (``build_transactional_features``):
    ``expiry_ts`` (epoch s of the following expiry rows) and ``expiry_values`` (their windowed
    features, row-major, NaN for null), up to the user's next event row."""
    names = expiring_feature_names(windows)
    f = feats.sort_values(["user_id", "event_timestamp"], kind="stable").reset_index(drop=True)
    users, t = f["user_id"].astype(str).to_numpy(), _us(f["event_timestamp"])
    known = pd.MultiIndex.from_arrays([events["user_id"], events["t"]])
    is_event = pd.MultiIndex.from_arrays([users, t]).isin(known)
    is_event[np.r_[True, users[1:] != users[:-1]]] = True  # a user's first row starts a schedule
    starts = np.flatnonzero(is_event)
    ends = np.r_[starts[1:], len(f)]
    ts_s, values = t / 1e6, _matrix(f, names)
    return pd.DataFrame({
        "user_id": users[starts], "event_timestamp": f["event_timestamp"].to_numpy()[starts],
        TS_FIELD: [ts_s[a + 1:b].tolist() for a, b in zip(starts, ends)],
        VALUES_FIELD: [values[a + 1:b].ravel().tolist() for a, b in zip(starts, ends)],
    })


def schedule_after(user_feats: pd.DataFrame, user_events: pd.DataFrame, at: pd.Timestamp,
                   windows: list[int]) -> dict[str, list[float]]:
    """The schedule of one user's row at ``at`` (the serving event path): the rows of
    ``user_feats`` after ``at`` and before the user's next event (``user_events``, as from
    :func:`event_times`), if any."""
    names = expiring_feature_names(windows)
    t, at_us = _us(user_feats["event_timestamp"]), int(pd.Timestamp(at).value // 1000)
    later_events = user_events["t"].to_numpy()[user_events["t"].to_numpy() > at_us]
    stop = later_events.min() if len(later_events) else np.iinfo(np.int64).max
    later = user_feats[(t > at_us) & (t < stop)]
    return {TS_FIELD: (_us(later["event_timestamp"]) / 1e6).tolist(),
            VALUES_FIELD: _matrix(later, names).ravel().tolist()}


def value_at(times: list[float] | None, values: list[float] | None, n_features: int, at_s: float,
             row_ts_s: float | None) -> tuple[float, list[float]] | None:
    """``(time, windowed values)`` of the newest schedule entry at or before ``at_s`` that is newer
    than the stored row (``row_ts_s``); None when the stored row is still exact."""
    if not times:
        return None
    k = int(np.searchsorted(np.asarray(times), at_s, side="right")) - 1
    if k < 0 or (row_ts_s is not None and not np.isnan(row_ts_s) and times[k] <= row_ts_s):
        return None
    return times[k], list(values[k * n_features:(k + 1) * n_features])
