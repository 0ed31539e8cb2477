"""Transactional features Y, exact at any point in time (pure: curated frames in, rows out).

Design (see docs/FEATURES.md): a windowed aggregate over (t - w, t] only changes when t crosses
an event time e (the event enters) or e + w (it leaves). So a user's feature row is emitted at
every such time — signup, each event, each event + w — and the values are constant in between.
Feast's point-in-time join (latest row with ts <= t) then returns the exact value at any t,
long after the last event too, with rows growing with events x windows, not users x days.
Time-relative features (recency, tenure) change continuously and are computed at retrieval
by an on-demand view from ``last_order_ts_s`` / ``signup_ts_s`` and the request time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_repo.names import INT_FEATURES_PREFIXES, transactional_feature_names
from feature_repo.timestamps import US_PER_DAY, epoch_us as _us
from pipelines.features.pit import cumulative_at, latest_at

LONG_DAYS = 365   # fixed window of the return/discount/category/review features
SEARCH_DAYS = 30  # fixed window of the search-count feature
MAX_CATEGORIES = 50  # rarer categories share one "other" bucket in the entropy


def _codes(ids: pd.Series, index: pd.Index) -> np.ndarray:
    codes = index.get_indexer(ids.astype(str))
    if (codes < 0).any():
        raise ValueError("events reference user_ids absent from users (ingest should quarantine them)")
    return codes


def _grid(users: pd.DataFrame, index: pd.Index, stamps: list[tuple[pd.Series, pd.Series, list[int]]]) -> pd.DataFrame:
    """Distinct (user code, time) at which some feature may change: signup, events, event + w."""
    parts = [pd.DataFrame({"code": _codes(users["user_id"], index), "t": _us(users["signup_ts"])})]
    for ids, ts, shifts in stamps:
        code, t = _codes(ids, index), _us(ts)
        for days in [0, *shifts]:
            parts.append(pd.DataFrame({"code": code, "t": t + days * US_PER_DAY}))
    grid = pd.concat(parts, ignore_index=True).drop_duplicates()
    return grid.sort_values(["code", "t"], kind="stable").reset_index(drop=True)


def _windowed(ev_code, ev_t, vals, q_code, q_t, days: int) -> np.ndarray:
    """Sum of ``vals`` over events with ts in (t - days, t]."""
    return (cumulative_at(ev_code, ev_t, vals, q_code, q_t)
            - cumulative_at(ev_code, ev_t, vals, q_code, q_t - days * US_PER_DAY))


def _order_features(orders: pd.DataFrame, index: pd.Index, grid: pd.DataFrame,
                    windows: list[int], buckets: list[str]) -> dict[str, np.ndarray]:
    """Spend, counts, order value, discounts, returns and recency from orders."""
    q_code, q_t = grid["code"].to_numpy(), grid["t"].to_numpy()
    done = orders[orders["status"] == "completed"]
    c_code, c_t = _codes(done["user_id"], index), _us(done["ts"])
    amount = done["amount"].to_numpy(float)
    discount = done["discount"].fillna(0.0).to_numpy(float) if "discount" in done else np.zeros(len(done))
    out: dict[str, np.ndarray] = {}
    for w in windows:
        spend, count = _windowed(c_code, c_t, np.c_[amount, np.ones(len(done))], q_code, q_t, w).T
        out[f"spend_{w}d"], out[f"orders_{w}d"] = spend, count
    for w in windows:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"avg_order_value_{w}d"] = np.where(out[f"orders_{w}d"] > 0, out[f"spend_{w}d"] / out[f"orders_{w}d"], np.nan)
    gross, disc, n_done = _windowed(c_code, c_t, np.c_[amount + discount, discount, np.ones(len(done))],
                                    q_code, q_t, LONG_DAYS).T
    with np.errstate(invalid="ignore", divide="ignore"):
        out["discount_share_365d"] = np.where(gross > 0, disc / gross, np.nan)
    for status, name in (("returned", "returns_365d"), ("cancelled", "cancels_365d")):
        sub = orders[orders["status"] == status]
        out[name] = _windowed(_codes(sub["user_id"], index), _us(sub["ts"]), np.ones(len(sub)),
                              q_code, q_t, LONG_DAYS)[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = n_done + out["returns_365d"]
        out["return_rate_365d"] = np.where(denom > 0, out["returns_365d"] / denom, np.nan)
    life = cumulative_at(c_code, c_t, np.c_[amount, np.ones(len(done))], q_code, q_t)
    out["lifetime_spend"], out["lifetime_orders"] = life[:, 0], life[:, 1]
    last = latest_at(c_code, c_t, c_t.astype(float), q_code, q_t)
    out["last_order_ts_s"] = last / 1e6
    out.update(_category_features(done, index, grid, buckets))
    out.update(_btyd_statistics(c_code, c_t, amount, q_code, q_t))
    return out


def _btyd_statistics(code: np.ndarray, t: np.ndarray, amount: np.ndarray, q_code: np.ndarray,
                     q_t: np.ndarray) -> dict[str, np.ndarray]:
    """BTYD sufficient statistics of completed orders with ts <= t, purchases counted per UTC day
    (several orders on one day are one purchase, as in the published BG/NBD fits):

    * ``btyd_repeat_purchases`` — purchase days after the first (0 before any order);
    * ``btyd_recency_days`` — first to last purchase day, days (null before any order);
    * ``btyd_mean_repeat_value`` — mean spend of a repeat purchase day (null without repeats);
    * ``first_order_day_ts_s`` — start of the first purchase day; the age T is computed from it
      at request time (``btyd_age_days``, on-demand), as recency and tenure are.
    """
    day = t // US_PER_DAY
    first_day = pd.Series(day).groupby(code).transform("min").to_numpy()
    # One event per (user, day): the day's first order, with the day start as its value.
    new_day = ~pd.DataFrame({"c": code, "d": day}).duplicated().to_numpy()
    days, on_first = cumulative_at(code, t, np.c_[new_day.astype(float), amount * (day == first_day)], q_code, q_t).T
    first = latest_at(code[day == first_day], t[day == first_day], (first_day * US_PER_DAY)[day == first_day],
                      q_code, q_t)
    last = latest_at(code, t, (day * US_PER_DAY).astype(float), q_code, q_t)
    spend = cumulative_at(code, t, amount, q_code, q_t)[:, 0]
    repeat = np.clip(np.round(days) - 1, 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_repeat = np.where(repeat > 0, (spend - on_first) / repeat, np.nan)
    return {"btyd_repeat_purchases": repeat, "btyd_recency_days": (last - first) / US_PER_DAY,
            "btyd_mean_repeat_value": mean_repeat, "first_order_day_ts_s": first / 1e6}


def _categories(done: pd.DataFrame) -> pd.Series:
    if "category" not in done:
        return pd.Series("unknown", index=done.index)
    return done["category"].fillna("unknown").astype(str)


def category_buckets(orders: pd.DataFrame) -> list[str]:
    """Columns of the category entropy: the ``MAX_CATEGORIES`` most frequent categories of completed
    orders, plus ``other`` when there are more, sorted. Computed once over ALL users, so a build
    partitioned by user buckets (and sums) exactly as the whole build does."""
    cats = _categories(orders[orders["status"] == "completed"])
    top = cats.value_counts().index[:MAX_CATEGORIES]
    return sorted(set(top) | ({"other"} if (~cats.isin(top)).any() else set()))


def _category_features(done: pd.DataFrame, index: pd.Index, grid: pd.DataFrame,
                       buckets: list[str]) -> dict[str, np.ndarray]:
    """Distinct categories and Shannon entropy (nats) of completed orders in the last 365 days."""
    cats = _categories(done)
    coded = pd.Categorical(cats.where(cats.isin(buckets), "other"), categories=buckets)
    onehot = pd.get_dummies(coded).to_numpy(float)
    counts = _windowed(_codes(done["user_id"], index), _us(done["ts"]), onehot,
                       grid["code"].to_numpy(), grid["t"].to_numpy(), LONG_DAYS)
    counts = np.clip(np.round(counts), 0, None)  # exact integers despite float sums
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(total > 0, counts / total, 0.0)
        entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return {"category_count_365d": (counts > 0).sum(axis=1).astype(float),
            "category_entropy_365d": np.where(total[:, 0] > 0, entropy, np.nan)}


def _text_features(reviews: pd.DataFrame | None, searches: pd.DataFrame | None, index: pd.Index,
                   grid: pd.DataFrame) -> dict[str, np.ndarray]:
    """Review and search activity counts; mean rating of all rated reviews so far."""
    q_code, q_t = grid["code"].to_numpy(), grid["t"].to_numpy()
    out = {"searches_30d": np.zeros(len(grid)), "reviews_365d": np.zeros(len(grid)),
           "review_mean_rating": np.full(len(grid), np.nan)}
    if searches is not None and len(searches):
        out["searches_30d"] = _windowed(_codes(searches["user_id"], index), _us(searches["ts"]),
                                        np.ones(len(searches)), q_code, q_t, SEARCH_DAYS)[:, 0]
    if reviews is not None and len(reviews):
        r_code, r_t = _codes(reviews["user_id"], index), _us(reviews["ts"])
        out["reviews_365d"] = _windowed(r_code, r_t, np.ones(len(reviews)), q_code, q_t, LONG_DAYS)[:, 0]
        rating = reviews["rating"].to_numpy(float) if "rating" in reviews else np.full(len(reviews), np.nan)
        rated = ~np.isnan(rating)
        s, n = cumulative_at(r_code[rated], r_t[rated], np.c_[rating[rated], np.ones(rated.sum())], q_code, q_t).T
        with np.errstate(invalid="ignore", divide="ignore"):
            out["review_mean_rating"] = np.where(n > 0, s / n, np.nan)
    return out


def _tier_feature(tiers: pd.DataFrame | None, tier_names: list[str], index: pd.Index,
                  grid: pd.DataFrame) -> np.ndarray:
    """0-based index of the latest assessed tier with ts <= t (NaN if none)."""
    if tiers is None or not len(tiers):
        return np.full(len(grid), np.nan)
    level = tiers["tier"].map({name: i for i, name in enumerate(tier_names)}).to_numpy(float)
    ordered = tiers.assign(_l=level).sort_values("ts", kind="stable")
    return latest_at(_codes(ordered["user_id"], index), _us(ordered["ts"]), ordered["_l"].to_numpy(),
                     grid["code"].to_numpy(), grid["t"].to_numpy())


def build_transactional_features(users: pd.DataFrame, orders: pd.DataFrame, windows: list[int],
                                 tier_names: list[str], tiers: pd.DataFrame | None = None,
                                 reviews: pd.DataFrame | None = None,
                                 searches: pd.DataFrame | None = None,
                                 categories: list[str] | None = None) -> pd.DataFrame:
    """Rows of ``user_transactions``: ``user_id``, ``event_timestamp`` and every feature, one row per
    (user, time at which any feature changes). ``categories`` are the entropy's buckets (default:
    :func:`category_buckets` of ``orders``; a partitioned build passes those of all users)."""
    index = pd.Index(users["user_id"].astype(str))
    done = orders[orders["status"] == "completed"]
    other = orders[orders["status"] != "completed"]
    stamps = [(done["user_id"], done["ts"], sorted({*windows, LONG_DAYS})),
              (other["user_id"], other["ts"], [LONG_DAYS])]
    for frame, days in ((reviews, [LONG_DAYS]), (searches, [SEARCH_DAYS])):
        if frame is not None and len(frame):
            stamps.append((frame["user_id"], frame["ts"], days))
    if tiers is not None and len(tiers):
        stamps.append((tiers["user_id"], tiers["ts"], []))
    grid = _grid(users, index, stamps)
    feats = _order_features(orders, index, grid, windows,
                           category_buckets(orders) if categories is None else categories)
    feats.update(_text_features(reviews, searches, index, grid))
    feats["current_tier"] = _tier_feature(tiers, tier_names, index, grid)
    signup = pd.Series(_us(users["signup_ts"]) / 1e6)
    feats["signup_ts_s"] = signup.to_numpy()[grid["code"].to_numpy()]
    out = pd.DataFrame({"user_id": index.to_numpy()[grid["code"].to_numpy()],
                        "event_timestamp": pd.to_datetime(grid["t"].to_numpy(), unit="us", utc=True)})
    for name in transactional_feature_names(windows):
        col = feats[name]
        out[name] = (pd.array(np.round(col), dtype="Int64") if name.startswith(INT_FEATURES_PREFIXES)
                     else col.astype(float))
    return out
