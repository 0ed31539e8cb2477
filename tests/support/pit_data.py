"""Tiny seeded curated tables with the tricky cases of point-in-time features built in."""

from __future__ import annotations

import numpy as np
import pandas as pd

T0 = pd.Timestamp("2025-01-01", tz="UTC")
TIERS = ["bronze", "silver", "gold", "platinum"]
CATEGORIES = ["books", "shoes", "toys", "food"]


def tricky_tables(seed: int = 0, n_users: int = 25) -> dict[str, pd.DataFrame]:
    """users/orders/tiers/reviews/searches: equal timestamps, returns, inactive and order-less users."""
    rng = np.random.default_rng(seed)
    users = pd.DataFrame({"user_id": [f"u{i:02d}" for i in range(n_users)],
                          "signup_ts": T0 + pd.to_timedelta(rng.integers(0, 60, n_users), unit="D")})
    rows = []
    for i, (uid, signup) in enumerate(zip(users.user_id, users.signup_ts)):
        if i == 0:
            continue  # a user with no orders at all
        n = 1 if i == 1 else int(rng.integers(2, 12))  # u01: one order, then inactive for good
        offsets = np.sort(rng.integers(0, 400 * 86400, n)) * 10**6 + rng.integers(0, 10**6, n)
        if i == 2:
            offsets[1] = offsets[0]  # several orders with the same ts
        if i == 3:  # two orders an hour apart: one purchase day for the BTYD statistics (unless past midnight)
            offsets[1] = offsets[0] + 3600 * 10**6
        for k, off in enumerate(offsets):
            rows.append({"order_id": f"o{i}_{k}", "user_id": uid, "ts": signup + pd.Timedelta(int(off), unit="us"),
                         "amount": float(np.round(rng.gamma(2, 40), 2)),
                         "status": rng.choice(["completed"] * 8 + ["returned", "cancelled"]),
                         "category": rng.choice(CATEGORIES), "discount": float(rng.choice([0, 0, 5.5]))})
    orders = pd.DataFrame(rows)
    return {"users": users, "orders": orders, **_side_tables(rng, users)}


def _side_tables(rng: np.random.Generator, users: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Monthly tiers, reviews with ratings, searches."""
    tiers, reviews, searches = [], [], []
    for uid, signup in zip(users.user_id[2:], users.signup_ts[2:]):
        for month in range(1, 14, 2):
            ts = (signup + pd.DateOffset(months=month)).normalize()
            tiers.append({"user_id": uid, "ts": ts, "tier": rng.choice(TIERS)})
        for k in range(int(rng.integers(0, 4))):
            ts = signup + pd.Timedelta(int(rng.integers(0, 300 * 86400)), unit="s")
            reviews.append({"review_id": f"r{uid}{k}", "user_id": uid, "ts": ts, "text": "nice",
                            "rating": float(rng.integers(1, 6)), "category": "books"})
            searches.append({"search_id": f"s{uid}{k}", "user_id": uid, "ts": ts, "query": "shoes"})
    to_frame = lambda r: pd.DataFrame(r).astype({"ts": "datetime64[us, UTC]"})  # noqa: E731
    return {"tiers": to_frame(tiers), "reviews": to_frame(reviews), "searches": to_frame(searches)}


def tricky_points(tables: dict[str, pd.DataFrame], seed: int = 1, n_random: int = 150) -> pd.DataFrame:
    """Entity rows at order times, +-1us, exactly w days later, before signup, long after, duplicated."""
    rng = np.random.default_rng(seed)
    orders, users = tables["orders"], tables["users"]
    us = pd.Timedelta(1, unit="us")
    pts = []
    for _, o in orders.sample(min(40, len(orders)), random_state=seed).iterrows():
        for t in (o.ts, o.ts - us, o.ts + us, o.ts + pd.Timedelta(days=7), o.ts + pd.Timedelta(days=30),
                  o.ts + pd.Timedelta(days=30) - us, o.ts + pd.Timedelta(days=365),
                  o.ts.floor("D") + pd.Timedelta(days=1) - us):  # last instant of the purchase day
            pts.append((o.user_id, t))
    for uid, signup in zip(users.user_id, users.signup_ts):
        pts += [(uid, signup - us), (uid, signup), (uid, signup + pd.Timedelta(days=900))]
    uids = rng.choice(users.user_id, n_random)
    times = T0 + pd.to_timedelta(rng.integers(0, 800 * 86400, n_random), unit="s")
    pts += list(zip(uids, times))
    pts += pts[:5]  # duplicate entity rows stay separate
    pts.append(("nobody", T0 + pd.Timedelta(days=100)))
    return pd.DataFrame(pts, columns=["user_id", "event_timestamp"]).astype({"event_timestamp": "datetime64[us, UTC]"})
