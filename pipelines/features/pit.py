"""Point-in-time primitives shared by the transactional features and the labels.

Both answer "as of time t, for this user" questions over sorted event arrays, vectorised:
events and queries are merged into one (user, time) order in which an event at time t sorts
before a query at time t, so "ts <= t" is exact to the microsecond, equal timestamps included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def cumulative_at(ev_user: np.ndarray, ev_ts: np.ndarray, ev_vals: np.ndarray,
                  q_user: np.ndarray, q_ts: np.ndarray) -> np.ndarray:
    """Per query row: the sum of ``ev_vals`` over events of the same user with ``ts <= q_ts``.

    ``ev_vals`` is (n_events, k); returns (n_queries, k). Sums are per user (never a global
    cumulative sum), so a user's values do not pick up rounding from other users' spend.
    """
    n, m = len(ev_user), len(q_user)
    vals = np.asarray(ev_vals, dtype=np.float64)
    vals = vals.reshape(n, 1) if vals.ndim == 1 else vals
    users = np.concatenate([ev_user, q_user])
    times = np.concatenate([ev_ts, q_ts])
    is_query = np.concatenate([np.zeros(n, np.int8), np.ones(m, np.int8)])
    order = np.lexsort((is_query, times, users))
    merged = np.zeros((n + m, vals.shape[1]))
    merged[:n] = vals
    sums = pd.DataFrame(merged[order]).groupby(users[order], sort=False).cumsum().to_numpy()
    out = np.empty((n + m, vals.shape[1]))
    out[order] = sums
    return out[n:]


def latest_at(ev_user: np.ndarray, ev_ts: np.ndarray, ev_vals: np.ndarray,
              q_user: np.ndarray, q_ts: np.ndarray) -> np.ndarray:
    """Per query row: ``ev_vals`` of the latest event of the same user with ``ts <= q_ts`` (NaN if none).

    Among events with equal timestamps the last one in input order wins.
    """
    n, m = len(ev_user), len(q_user)
    users = np.concatenate([ev_user, q_user])
    times = np.concatenate([ev_ts, q_ts])
    is_query = np.concatenate([np.zeros(n, np.int8), np.ones(m, np.int8)])
    seq = np.arange(n + m)
    order = np.lexsort((seq, is_query, times, users))
    merged = np.full(n + m, np.nan)
    merged[:n] = np.asarray(ev_vals, dtype=np.float64)
    filled = pd.Series(merged[order]).groupby(users[order], sort=False).ffill().to_numpy()
    out = np.empty(n + m)
    out[order] = filled
    return out[n:]
