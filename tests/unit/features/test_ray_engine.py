"""``engine: ray`` equals ``engine: local`` for features: Feast's Ray offline store against DuckDB
on the point-in-time edge cases, the Ray compute engine's materialization, and the features
build partitioned by user across Ray tasks. Runs on a real local cluster (tests/support/ray_cluster.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from feature_repo.names import MODEL_SERVICES
from pipelines.common.config import load_config
from pipelines.common.workspace import Workspace
from pipelines.features import partition
from pipelines.features.job import build_partitioned
from pipelines.features.transactional import build_transactional_features
from pipelines.storage import feast_store
from tests.support.pit_data import TIERS, tricky_points, tricky_tables
from tests.support.ray_cluster import ray_config

WINDOWS = [7, 30, 90, 365]
SERVICE = MODEL_SERVICES["purchasing_power"]


def _review_profiles(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A review profile row per review (random unit vectors): a non-empty list-valued view."""
    reviews = tables["reviews"].sort_values("ts")
    vecs = np.random.default_rng(0).normal(size=(len(reviews), 8)).astype(np.float32)
    return pd.DataFrame({"user_id": reviews["user_id"].to_numpy(), "event_timestamp": reviews["ts"].to_numpy(),
                         "review_embedding": list(vecs / np.linalg.norm(vecs, axis=1, keepdims=True)),
                         "review_count": np.arange(1, len(reviews) + 1)}).drop_duplicates(
                             ["user_id", "event_timestamp"])


@pytest.fixture(scope="module")
def both_stores(tmp_path_factory, ray_cluster):
    """One workspace (tricky tables; an empty search profile) read by a DuckDB and a Ray store."""
    cfg = load_config(data_dir=tmp_path_factory.mktemp("rayfeast"), tiers=TIERS)
    tables = tricky_tables()
    feats = build_transactional_features(tables["users"], tables["orders"], WINDOWS, TIERS, tiers=tables["tiers"],
                                         reviews=tables["reviews"], searches=tables["searches"])
    ws = Workspace(cfg.data_dir)
    feast_store.write_feature_table(ws, "user_transactions", feats)
    feast_store.write_feature_table(ws, "user_review_profile", _review_profiles(tables))
    local = feast_store.open_store(cfg)
    feast_store.apply(local, cfg)
    ray_cfg = ray_config(cfg.data_dir, tiers=TIERS)
    return cfg, local, ray_cfg, feast_store.open_store(ray_cfg), tables


def test_ray_offline_store_equals_duckdb_on_pit_edge_cases(both_stores):
    _, local, _, ray_store, tables = both_stores
    assert ray_store.config.offline_store.type == "ray"
    points = tricky_points(tables)  # ±1 µs around orders, window edges, before signup, duplicates, unknown user
    points["tag"] = np.arange(len(points))
    want = feast_store.historical_features(local, points, SERVICE)
    got = feast_store.historical_features(ray_store, points, SERVICE)
    assert want["review_embedding"].notna().any() and want["search_embedding"].isna().all()
    pd.testing.assert_frame_equal(got, want, check_exact=True)  # same features, rows, order, values


def test_ray_compute_engine_materializes_what_duckdb_serves(both_stores):
    cfg, local, ray_cfg, ray_store, tables = both_stores
    end = datetime(2026, 6, 1, tzinfo=timezone.utc)
    feast_store.materialize(ray_store, ray_cfg, end=end, views=["user_transactions"])
    users = tables["users"]["user_id"].tolist()
    online = feast_store.online_features(ray_store, users, SERVICE, as_of=end).set_index("user_id")
    offline = feast_store.historical_features(
        local, pd.DataFrame({"user_id": users, "event_timestamp": [end] * len(users)}), SERVICE).set_index("user_id")
    for name in ["spend_30d", "orders_365d", "lifetime_spend", "current_tier", "user_transactions_ts"]:
        np.testing.assert_array_equal(online[name].astype(float).to_numpy(), offline[name].astype(float).to_numpy(),
                                      err_msg=name)


def test_partitioned_build_on_ray_equals_the_whole_build(ray_cluster, tmp_path):
    tables = tricky_tables(seed=5, n_users=30)
    whole = partition.combine([build_transactional_features(
        tables["users"], tables["orders"], WINDOWS, TIERS, tiers=tables["tiers"], reviews=tables["reviews"],
        searches=tables["searches"])])
    cfg = ray_config(tmp_path, tiers=TIERS, ray__users_per_partition=7, features__windows_days=WINDOWS)
    got = build_partitioned(cfg, tables)
    pd.testing.assert_frame_equal(got, whole, check_exact=True)
