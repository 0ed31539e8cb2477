"""Monthly membership-tier assessment of the simulator (the documented rule, vectorised).

On the first day of each month (00:00 UTC) every user who signed up before that instant is
assessed on completed orders in the trailing 365 days ``(t - 365d, t]``:

* tier ``k`` *qualifies* when net spend >= ``threshold[k]`` and completed orders >= ``min_orders[k]``;
* a user keeps the current tier while net spend >= ``tier_retain_frac * threshold[current]``
  (grace against one slow month), otherwise moves to the highest qualifying tier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.simulate.params import SimParams


def tier_rule(n_tiers: int, p: SimParams) -> tuple[np.ndarray, np.ndarray]:
    """Spend thresholds (geometric from low to high) and minimum completed orders per tier.

    Tier 0 needs nothing; tier 1 one order, the top tier ``tier_top_min_orders``, linear between.
    """
    if n_tiers < 2:
        raise ValueError("need at least two tiers")
    if n_tiers == 2:
        upper = np.array([p.tier_low_threshold])
    else:
        steps = np.arange(n_tiers - 1) / (n_tiers - 2)
        upper = p.tier_low_threshold * (p.tier_high_threshold / p.tier_low_threshold) ** steps
    top = p.tier_top_min_orders
    if n_tiers == 2:
        orders = [1]
    else:
        orders = [max(1, round(top * (k - 1) / (n_tiers - 2))) for k in range(1, n_tiers)]
    return np.concatenate([[0.0], upper]), np.array([0, *orders])


def assessment_days(start_us: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Month starts within ``[start, start + days)``: days since start, and µs since the epoch."""
    start = pd.Timestamp(start_us, unit="us", tz="UTC")
    months = pd.date_range(start.floor("D").replace(day=1), start + pd.Timedelta(days=days), freq="MS")
    at_us = months.as_unit("us").asi8
    offsets = (at_us - start_us) / 86_400_000_000
    keep = (offsets >= 0) & (offsets < days)
    return offsets[keep], at_us[keep]


def trailing_totals(user: np.ndarray, t: np.ndarray, amount: np.ndarray, n_users: int,
                    at: np.ndarray, window: float = 365.0) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of events in ``(a - window, a]`` per user and assessment day ``a``."""
    edges = np.unique(np.concatenate([at, at - window]))
    nb = len(edges) + 1
    bins = np.searchsorted(edges, t, side="left")  # bin i holds (edges[i-1], edges[i]]
    flat = user * nb + bins
    spend = np.bincount(flat, weights=amount, minlength=n_users * nb).reshape(n_users, nb).cumsum(axis=1)
    count = np.bincount(flat, minlength=n_users * nb).reshape(n_users, nb).cumsum(axis=1)
    hi, lo = np.searchsorted(edges, at), np.searchsorted(edges, at - window)
    return spend[:, hi] - spend[:, lo], count[:, hi] - count[:, lo]


def assess_tiers(user: np.ndarray, t: np.ndarray, amount: np.ndarray, signup: np.ndarray,
                 at: np.ndarray, n_tiers: int, p: SimParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tier code per (user, assessment) for users signed up before it; inputs are completed orders.

    Returns (user index, assessment index, tier code) sorted by assessment then user.
    """
    if len(at) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    spend, count = trailing_totals(user, t, amount, len(signup), at)
    threshold, min_orders = tier_rule(n_tiers, p)
    current = np.zeros(len(signup), dtype=np.int64)
    rows_u, rows_a, rows_k = [], [], []
    for j in range(len(at)):  # months are sequential: the grace rule needs last month's tier
        s, c = spend[:, j], count[:, j]
        qualified = ((s[:, None] >= threshold) & (c[:, None] >= min_orders)).sum(axis=1) - 1
        keep = s >= p.tier_retain_frac * threshold[current]
        current = np.where(qualified >= current, qualified, np.where(keep, current, qualified))
        active = np.flatnonzero(signup < at[j])
        rows_u.append(active)
        rows_a.append(np.full(len(active), j))
        rows_k.append(current[active])
    return np.concatenate(rows_u), np.concatenate(rows_a), np.concatenate(rows_k)
