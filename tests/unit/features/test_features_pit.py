"""Transactional features through real Feast retrieval vs a brute-force reference."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from pipelines.storage import feast_store
from pipelines.common.config import load_config
from pipelines.common.workspace import Workspace
from pipelines.features.labels import build_labels
from pipelines.features.transactional import build_transactional_features
from tests.support.brute_force import assert_close, labels_at, season_at, transactional_at
from tests.support.pit_data import TIERS, tricky_points, tricky_tables

WINDOWS = [7, 30, 90, 365]
CHECKED = ["spend_7d", "spend_30d", "spend_90d", "spend_365d", "orders_7d", "orders_30d", "orders_90d",
           "orders_365d", "days_since_last_order", "tenure_days", "returns_365d", "return_rate_365d",
           "category_count_365d", "current_tier", "review_mean_rating", "searches_30d",
           "btyd_repeat_purchases", "btyd_recency_days", "btyd_mean_repeat_value", "btyd_age_days",
           "season_sin", "season_cos"]


@pytest.fixture(scope="module")
def feast_ws(tmp_path_factory):
    """A workspace with the tricky tables' features applied in Feast."""
    cfg = load_config(data_dir=tmp_path_factory.mktemp("pit"), tiers=TIERS)
    tables = tricky_tables()
    feats = build_transactional_features(tables["users"], tables["orders"], WINDOWS, TIERS, tiers=tables["tiers"],
                                         reviews=tables["reviews"], searches=tables["searches"])
    feast_store.write_feature_table(Workspace(cfg.data_dir), "user_transactions", feats)
    store = feast_store.open_store(cfg)
    feast_store.apply(store, cfg)
    return cfg, store, tables, feats


def test_historical_matches_brute_force_at_tricky_points(feast_ws):
    cfg, store, tables, _ = feast_ws
    points = tricky_points(tables)
    points["tag"] = range(len(points))
    got = feast_store.historical_features(store, points, "purchasing_power_v3")
    assert len(got) == len(points) and got["tag"].tolist() == points["tag"].tolist()  # same rows, same order
    for row in got.itertuples(index=False):
        want = transactional_at(tables, row.user_id, row.event_timestamp, WINDOWS, TIERS)
        for name in CHECKED:
            assert_close(getattr(row, name), want.get(name), f"{name} at ({row.user_id}, {row.event_timestamp})")


def test_inactive_user_windows_decay_to_zero(feast_ws):
    _, store, tables, _ = feast_ws
    last = tables["orders"].query("user_id == 'u01'").ts.max()
    pts = pd.DataFrame({"user_id": ["u01"] * 3, "event_timestamp": [last + pd.Timedelta(days=d) for d in (1, 40, 400)]})
    got = feast_store.historical_features(store, pts, "purchasing_power_v3")
    assert got["spend_30d"].tolist()[1:] == [0.0, 0.0]
    assert got["spend_365d"].iloc[2] == 0.0
    assert got["days_since_last_order"].is_monotonic_increasing
    assert got["days_since_last_order"].iloc[2] == pytest.approx(400.0)


def test_rows_grow_with_events_not_days(feast_ws):
    _, _, tables, feats = feast_ws
    events = sum(len(tables[t]) for t in ("orders", "tiers", "reviews", "searches"))
    assert len(feats) <= len(tables["users"]) + events * (len(WINDOWS) + 1)
    assert not feats.duplicated(["user_id", "event_timestamp"]).any()


def test_no_row_uses_information_after_its_timestamp(feast_ws):
    _, store, tables, _ = feast_ws
    points = tricky_points(tables)
    got = feast_store.historical_features(store, points, "purchasing_power_v3")
    ts = got["event_timestamp"].astype("int64") / 1e6
    assert (got["user_transactions_ts"].dropna() <= ts[got["user_transactions_ts"].notna()]).all()


def test_online_equals_offline_after_materialize(feast_ws):
    cfg, store, tables, _ = feast_ws
    end = datetime(2026, 6, 1, tzinfo=timezone.utc)  # long after some users' last event
    feast_store.materialize(store, cfg, end=end)
    users = tables["users"].user_id.tolist()[:12] + ["nobody"]
    online = feast_store.online_features(store, users, "purchasing_power_v3", as_of=end)
    offline = feast_store.historical_features(
        store, pd.DataFrame({"user_id": users, "event_timestamp": [end] * len(users)}), "purchasing_power_v3")
    for name in CHECKED + ["lifetime_spend", "category_entropy_365d"]:
        for a, b, uid in zip(online[name], offline[name], users):
            assert_close(a, None if pd.isna(b) else float(b), f"{name} online vs offline for {uid}")


def test_labels_match_brute_force_and_use_only_future_events():
    tables = tricky_tables(seed=3)
    cutoffs = [pd.Timestamp("2025-03-01", tz="UTC"), pd.Timestamp("2025-06-01", tz="UTC"),
               tables["orders"].ts.iloc[5]]  # a cutoff exactly at an order: that order is NOT in the label
    labels = build_labels(tables["users"], tables["orders"], cutoffs, 90, TIERS, tiers=tables["tiers"])
    assert (labels["label_available_at"] - labels["event_timestamp"] == pd.Timedelta(days=90)).all()
    signup = tables["users"].set_index("user_id").signup_ts
    assert (signup.loc[labels.user_id].to_numpy() <= labels.event_timestamp.to_numpy()).all()
    for row in labels.itertuples(index=False):
        pp, tier = labels_at(tables, row.user_id, row.event_timestamp, 90, TIERS)
        assert_close(row.purchasing_power, pp, f"purchasing_power {row.user_id}@{row.event_timestamp}")
        assert_close(row.tier_next, tier, f"tier_next {row.user_id}@{row.event_timestamp}")


def test_chunked_retrieval_equals_one_shot(feast_ws, monkeypatch):
    _, store, tables, _ = feast_ws
    points = tricky_points(tables)
    whole = feast_store.historical_features(store, points, "purchasing_power_v3")
    monkeypatch.setattr(feast_store, "RETRIEVAL_CHUNK", 37)
    chunked = feast_store.historical_features(store, points, "purchasing_power_v3")
    pd.testing.assert_frame_equal(whole.drop(columns=["review_embedding", "search_embedding"]),
                                  chunked.drop(columns=["review_embedding", "search_embedding"]))


def test_season_is_the_year_phase_of_the_request_time_at_year_edges(feast_ws):
    """The season features come from the request time alone: at New Year ±1 µs, at leap days and a
    year apart they match the brute-force phase and the calendar date, for known and unknown users."""
    _, store, _, _ = feast_ws
    us = pd.Timedelta(1, unit="us")
    times = [pd.Timestamp(s, tz="UTC") for s in ("2025-01-01", "2026-01-01", "2024-02-29", "2024-03-01",
                                                  "2025-06-15 12:00", "2025-12-31 23:59:59")]
    times += [times[0] - us, times[0] + us, times[1] - us]
    points = pd.DataFrame({"user_id": ["u01", "nobody"] * len(times), "event_timestamp": sorted(times * 2)})
    got = feast_store.historical_features(store, points, "purchasing_power_v3")
    for row in got.itertuples(index=False):
        want = season_at(row.event_timestamp)
        for name in ("season_sin", "season_cos"):
            assert_close(getattr(row, name), want[name], f"{name} at ({row.user_id}, {row.event_timestamp})")
        ts = row.event_timestamp
        doy = (ts - ts.normalize().replace(month=1, day=1)) / pd.Timedelta(days=1)  # days into the calendar year
        drift = (np.angle(np.exp(1j * (np.arctan2(row.season_sin, row.season_cos) - 2 * np.pi * doy / 365.2425)))
                 * 365.2425 / (2 * np.pi))
        assert abs(drift) < 1.5, f"season of {ts} is {drift:.2f} days off its calendar date"
