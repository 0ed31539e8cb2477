"""Seeded synthetic training frames shaped like the real one (features from the feature service +
labels), for tests and benchmarks. A latent ``wealth`` drives spend, orders and tiers; a second
latent ``taste`` shows only in the text vectors, so X carries signal Y does not."""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOWS = (7, 30, 90, 365)
TIER_SHARES = (0.5, 0.3, 0.15, 0.05)


def _vectors(rng: np.random.Generator, latent: np.ndarray, dim: int, share: float) -> tuple[pd.Series, np.ndarray]:
    """Unit vectors pointing partly along a fixed direction by ``latent``; None for a ``1 - share`` of rows."""
    direction = rng.standard_normal(dim).astype(np.float32)
    direction /= np.linalg.norm(direction)
    mat = rng.standard_normal((len(latent), dim), dtype=np.float32) * 0.3
    mat += latent[:, None].astype(np.float32) * direction
    mat /= np.linalg.norm(mat, axis=1, keepdims=True)
    has = rng.random(len(latent)) < share
    col = pd.Series(list(mat), dtype=object).where(has, None)
    return col, has


def _transactional(rng: np.random.Generator, wealth: np.ndarray, tenure: np.ndarray, current: np.ndarray) -> dict:
    n = len(wealth)
    rate = np.exp(0.6 * wealth - 0.5)  # orders per 30 days
    aov = np.exp(3.5 + 0.3 * wealth + 0.2 * rng.standard_normal(n))
    cols: dict[str, np.ndarray] = {}
    for w in WINDOWS:
        orders = rng.poisson(rate * w / 30)
        cols[f"orders_{w}d"] = orders
        cols[f"spend_{w}d"] = orders * aov * np.exp(0.1 * rng.standard_normal(n))
        cols[f"avg_order_value_{w}d"] = np.where(orders > 0, cols[f"spend_{w}d"] / np.maximum(orders, 1), np.nan)
    o365 = cols["orders_365d"]
    returns = rng.binomial(o365, 0.08)
    reviews = rng.poisson(0.5 + 0.2 * o365)
    cols.update({
        "discount_share_365d": np.where(o365 > 0, rng.beta(2, 8, n), 0.0), "returns_365d": returns,
        "return_rate_365d": np.where(o365 > 0, returns / np.maximum(o365, 1), np.nan),
        "cancels_365d": rng.poisson(0.2, n), "category_count_365d": np.minimum(o365, rng.poisson(3, n)),
        "category_entropy_365d": np.log1p(np.minimum(o365, 4)) * rng.random(n),
        "lifetime_spend": cols["spend_365d"] * (1 + tenure / 365), "lifetime_orders": o365 + rng.poisson(tenure / 60),
        "searches_30d": rng.poisson(np.exp(0.3 * wealth + 1)), "reviews_365d": reviews,
        "review_mean_rating": np.where(reviews > 0, np.clip(3.5 + 0.3 * wealth + rng.standard_normal(n), 1, 5), np.nan),
        "current_tier": pd.array(np.where(rng.random(n) < 0.8, current, np.nan), dtype="Float64").astype("Int64"),
        "days_since_last_order": np.where(o365 > 0, rng.exponential(30 / rate), np.nan), "tenure_days": tenure,
    })
    cols.update(_btyd_statistics(rng, cols, tenure, aov))
    return cols


def _btyd_statistics(rng: np.random.Generator, cols: dict, tenure: np.ndarray, aov: np.ndarray) -> dict:
    """Consistent BTYD statistics: users with lifetime orders bought first within their tenure."""
    life = np.asarray(cols["lifetime_orders"], dtype=np.float64)
    customer = life > 0
    age = np.where(customer, tenure * rng.uniform(0.3, 1.0, len(tenure)), np.nan)
    repeat = np.where(customer, np.maximum(life - 1, 0), 0.0)
    since_last = np.nan_to_num(np.asarray(cols["days_since_last_order"], dtype=np.float64), nan=0.0)
    recency = np.where(customer, np.where(repeat > 0, np.clip(age - since_last, 0, age), 0.0), np.nan)
    value = np.where(repeat > 0, aov * np.exp(0.1 * rng.standard_normal(len(tenure))), np.nan)
    return {"btyd_repeat_purchases": repeat, "btyd_recency_days": recency, "btyd_age_days": age,
            "btyd_mean_repeat_value": value}


def _tier_index(score: np.ndarray) -> np.ndarray:
    edges = np.quantile(score, np.cumsum(TIER_SHARES)[:-1])
    return np.searchsorted(edges, score)


def synthetic_frame(n_users: int = 300, n_cutoffs: int = 6, dim: int = 16, seed: int = 0, every_days: int = 30,
                    horizon_days: int = 90, text: bool = True, tiers: bool = True, text_share: float = 0.7,
                    start: str = "2024-01-01") -> pd.DataFrame:
    """One row per (user, cutoff): keys, labels, Y features, provenance columns, optional X and region."""
    rng = np.random.default_rng(seed)
    n = n_users * n_cutoffs
    user = np.repeat(np.arange(n_users), n_cutoffs)
    step = np.tile(np.arange(n_cutoffs), n_users)
    wealth = (rng.standard_normal(n_users)[user] + 0.3 * rng.standard_normal(n)).astype(np.float64)
    taste = rng.standard_normal(n_users)[user] + 0.2 * rng.standard_normal(n)
    # Tenure at the last cutoff is uniform, so every cutoff has new users (tenure <= 90 days).
    tenure = np.maximum(rng.uniform(0, 900, n_users)[user] + (step - n_cutoffs + 1) * every_days, 1.0)
    cutoff = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(step * every_days, unit="D")
    current = _tier_index(wealth + 0.5 * rng.standard_normal(n))
    frame = pd.DataFrame({"user_id": pd.array([f"u{u:07d}" for u in user], dtype="string"),
                          "event_timestamp": cutoff.astype("datetime64[us, UTC]")})
    frame = frame.assign(**_transactional(rng, wealth, tenure, current))
    frame["user_transactions_ts"] = cutoff.astype("int64") / 1e6 - 3600.0
    frame["signup_ts_s"] = (cutoff - pd.to_timedelta(tenure, unit="D")).astype("int64") / 1e6
    frame["last_order_ts_s"] = frame["user_transactions_ts"] - frame["days_since_last_order"] * 86400
    frame["region"] = pd.array(np.where(rng.random(n_users)[user] < 0.6, "north", "south"), dtype="string")
    if text:
        frame["review_embedding"], has_r = _vectors(rng, wealth + taste, dim, text_share)
        frame["search_embedding"], has_s = _vectors(rng, taste, dim, text_share)
        frame["review_count"] = np.where(has_r, rng.poisson(3, n) + 1, 0)
        frame["search_count"] = np.where(has_s, rng.poisson(8, n) + 1, 0)
        frame["review_profile_ts"] = frame["user_transactions_ts"]
    buys = rng.random(n) < 1 / (1 + np.exp(-(1.2 * wealth + 0.8 * taste - 1.3)))
    amount = rng.gamma(2.0, np.exp(4 + 0.5 * wealth + 0.3 * taste) / 2)
    frame["purchasing_power"] = np.where(buys, amount, 0.0)
    frame["tier_next"] = pd.array(_tier_index(wealth + 0.5 * taste + 0.3 * rng.standard_normal(n)), dtype="Int64")
    frame.loc[rng.random(n) < 0.1, "tier_next"] = pd.NA
    if not tiers:
        frame["tier_next"] = pd.array([pd.NA] * n, dtype="Int64")
    frame["label_available_at"] = (cutoff + pd.Timedelta(days=horizon_days)).astype("datetime64[us, UTC]")
    return frame
