"""The features build split by user, for ``engine: ray`` (pure: curated frames in, frames out).

Every transactional feature of a user depends on that user's events alone (sums are per user,
see ``pipelines.features.pit``), except the entropy's category buckets, which are fixed once
over all users (:func:`category_buckets`). So a build over disjoint user partitions, concatenated
and sorted like the offline table, equals the whole build row for row and bit for bit.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

from pipelines.features.transactional import build_transactional_features, category_buckets

EVENT_TABLES = ("orders", "tiers", "reviews", "searches")


def partition_of(user_ids: pd.Series, n_partitions: int) -> np.ndarray:
    """Stable partition number per user id (a hash, the same on every machine and run)."""
    digests = (hashlib.blake2b(u.encode("utf-8"), digest_size=8).digest() for u in user_ids.astype(str))
    return np.fromiter((int.from_bytes(d, "little") % n_partitions for d in digests), dtype=np.int64,
                       count=len(user_ids))


def split_by_user(tables: dict[str, pd.DataFrame | None], users_per_partition: int) -> list[dict]:
    """``tables`` (users + event tables) cut into ceil(users / users_per_partition) user partitions;
    each event row goes with its user. Empty partitions are dropped."""
    users = tables["users"]
    n = max(1, math.ceil(len(users) / users_per_partition))
    if n == 1:
        return [tables]
    lookup = pd.Series(partition_of(users["user_id"], n), index=users["user_id"].astype(str).to_numpy())
    parts: list[dict] = [{} for _ in range(n)]
    for name in ("users", *EVENT_TABLES):
        frame = tables.get(name)
        if frame is None:
            for part in parts:
                part[name] = None
            continue
        where = lookup.reindex(frame["user_id"].astype(str).to_numpy()).fillna(-1).to_numpy()
        if (where < 0).any():  # as the whole build does: never drop such rows silently
            raise ValueError(f"{name} reference user_ids absent from users (ingest should quarantine them)")
        for k, part in enumerate(parts):
            part[name] = frame[where == k].reset_index(drop=True)
    return [p for p in parts if len(p["users"])]


def build_partition(part: dict[str, pd.DataFrame | None], windows: list[int], tier_names: list[str],
                    categories: list[str]) -> pd.DataFrame:
    """``user_transactions`` rows of one partition (the unit of work of one Ray task)."""
    return build_transactional_features(part["users"], part["orders"], windows, tier_names, tiers=part["tiers"],
                                        reviews=part["reviews"], searches=part["searches"], categories=categories)


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Partition outputs in the offline table's order: by user, then time."""
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return out.sort_values(["user_id", "event_timestamp"], kind="stable").reset_index(drop=True)


def buckets_of(tables: dict[str, pd.DataFrame | None]) -> list[str]:
    """The category buckets of ALL users, fixed before partitioning."""
    return category_buckets(tables["orders"])
