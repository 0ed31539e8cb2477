"""Brute-force references, computed row by row straight from the definitions (slow, obvious)."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)


def transactional_at(tables: dict[str, pd.DataFrame], uid: str, t: pd.Timestamp,
                     windows: list[int], tiers: list[str]) -> dict[str, float | None]:
    """The documented value of each checked feature for one (user, t)."""
    users = tables["users"].set_index("user_id")
    if uid not in users.index or t < users.loc[uid, "signup_ts"]:
        return season_at(t)  # no feature row yet: everything null but the season of t
    o = tables["orders"][tables["orders"].user_id == uid]
    done = o[(o.status == "completed") & (o.ts <= t)]
    out: dict[str, float | None] = {}
    for w in windows:
        inw = done[done.ts > t - w * DAY]
        out[f"spend_{w}d"], out[f"orders_{w}d"] = float(inw.amount.sum()), float(len(inw))
    last = done.ts.max() if len(done) else None
    out["days_since_last_order"] = None if last is None else (t - last) / DAY
    out["tenure_days"] = (t - users.loc[uid, "signup_ts"]) / DAY
    year = o[(o.ts <= t) & (o.ts > t - 365 * DAY)]
    n_c, n_r = (year.status == "completed").sum(), (year.status == "returned").sum()
    out["returns_365d"] = float(n_r)
    out["return_rate_365d"] = None if n_c + n_r == 0 else n_r / (n_c + n_r)
    out["category_count_365d"] = float(year[year.status == "completed"].category.nunique())
    tr = tables["tiers"][(tables["tiers"].user_id == uid) & (tables["tiers"].ts <= t)]
    out["current_tier"] = None if tr.empty else float(tiers.index(tr.sort_values("ts").tier.iloc[-1]))
    rv = tables["reviews"][(tables["reviews"].user_id == uid) & (tables["reviews"].ts <= t)]
    out["review_mean_rating"] = None if rv.empty else float(rv.rating.mean())
    sr = tables["searches"][(tables["searches"].user_id == uid) & (tables["searches"].ts <= t)]
    out["searches_30d"] = float((sr.ts > t - 30 * DAY).sum())
    out.update(btyd_at(done, t))
    out.update(season_at(t))
    return out


YEAR_DAYS = 365.2425  # the mean Gregorian year


def season_at(t: pd.Timestamp) -> dict[str, float]:
    """Sine and cosine of the year phase of t: 2π x (days since 1970-01-01 UTC, modulo the mean
    Gregorian year) / that year, from Timestamp arithmetic."""
    days = (t - pd.Timestamp("1970-01-01", tz="UTC")) / DAY
    phase = 2 * np.pi * (days % YEAR_DAYS) / YEAR_DAYS
    return {"season_sin": float(np.sin(phase)), "season_cos": float(np.cos(phase))}


def btyd_at(done: pd.DataFrame, t: pd.Timestamp) -> dict[str, float | None]:
    """BTYD statistics from one user's completed orders with ts <= t, one purchase per UTC day."""
    if done.empty:
        return {"btyd_repeat_purchases": 0.0, "btyd_recency_days": None, "btyd_mean_repeat_value": None,
                "btyd_age_days": None}
    by_day = done.groupby(done.ts.dt.floor("D")).amount.sum().sort_index()
    first, last = by_day.index[0], by_day.index[-1]
    repeat = len(by_day) - 1
    return {"btyd_repeat_purchases": float(repeat), "btyd_recency_days": (last - first) / DAY,
            "btyd_mean_repeat_value": float(by_day.iloc[1:].mean()) if repeat else None,
            "btyd_age_days": (t - first) / DAY}


def labels_at(tables: dict[str, pd.DataFrame], uid: str, c: pd.Timestamp, horizon_days: int,
              tiers: list[str]) -> tuple[float, float | None]:
    """(purchasing_power, tier_next) for one (user, cutoff)."""
    end = c + horizon_days * DAY
    o = tables["orders"]
    fut = o[(o.user_id == uid) & (o.status == "completed") & (o.ts > c) & (o.ts <= end)]
    tr = tables["tiers"]
    tr = tr[(tr.user_id == uid) & (tr.ts > c) & (tr.ts <= end)].sort_values("ts", kind="stable")
    return float(fut.amount.sum()), (None if tr.empty else float(tiers.index(tr.tier.iloc[-1])))


def assert_close(got, want, what: str) -> None:
    """None/NaN agree with None; numbers agree to 1e-6."""
    if want is None:
        assert got is None or pd.isna(got), f"{what}: expected null, got {got}"
    else:
        assert got is not None and not pd.isna(got), f"{what}: expected {want}, got null"
        assert np.isclose(float(got), want, rtol=1e-9, atol=1e-6), f"{what}: expected {want}, got {got}"
