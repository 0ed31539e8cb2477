"""Issue 14 item 2: the online store heals — changed offline tables are re-materialized, a lost
online store is refilled with every view, and a missing or empty one is reported."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.common.workspace import Workspace
from pipelines.storage import feast_store, online_sync
from tests.support.serve_data import AS_OF, SERVICE, build_workspace

pytestmark = pytest.mark.slow
VIEWS = ["user_transactions", "user_review_profile", "user_search_profile"]


@pytest.fixture()
def ws_cfg(tmp_path):
    return build_workspace(tmp_path / "ws", train=False)


def _online(cfg, users: list[str]) -> pd.DataFrame:
    return feast_store.online_features(feast_store.open_store(cfg), users, SERVICE, as_of=AS_OF)


def _profile_users(cfg) -> list[str]:
    frame = pd.read_parquet(Workspace(cfg.data_dir).feature_table("user_review_profile"))
    return sorted(set(frame["user_id"]))[:3]


def test_a_corrected_offline_table_reaches_the_online_store(ws_cfg) -> None:
    """Offline lifetime_spend 7149 vs online 5149 and 'online store up to date' before the fix."""
    ws = Workspace(ws_cfg.data_dir)
    table = pd.read_parquet(ws.feature_table("user_transactions"))
    user = table["user_id"].iloc[0]
    latest = table.index[table["user_id"] == user][-1]
    table.loc[latest, "lifetime_spend"] += 2000.0  # a past order corrected, features rebuilt
    feast_store.write_feature_table(ws, "user_transactions", table.drop(columns=["user_transactions_ts"]))
    done = feast_store.materialize_views(feast_store.open_store(ws_cfg), ws_cfg, end=AS_OF)
    assert done.rebuilt == {"user_transactions": "offline table changed"}
    assert _online(ws_cfg, [user])["lifetime_spend"].item() == pytest.approx(table.loc[latest, "lifetime_spend"])
    again = feast_store.materialize_views(feast_store.open_store(ws_cfg), ws_cfg, end=AS_OF)
    assert again.rebuilt == {}


def test_a_deleted_online_store_is_reported_then_refilled_with_every_view(ws_cfg) -> None:
    users = _profile_users(ws_cfg)
    before = _online(ws_cfg, users)
    online_db = Workspace(ws_cfg.data_dir).feast / "online.db"
    online_db.unlink()
    store = feast_store.open_store(ws_cfg)
    assert "missing or empty" in online_sync.online_store_problem(store)
    assert not online_db.exists()  # probing does not leave a 0-byte file behind
    online_db.touch()  # the 0-byte file /readyz used to call ready
    assert "missing or empty" in online_sync.online_store_problem(store)
    feast_store.apply(store, ws_cfg)
    done = feast_store.materialize_views(store, ws_cfg, end=AS_OF)
    assert set(VIEWS) <= set(done.rebuilt)
    assert online_sync.online_store_problem(store) is None
    after = _online(ws_cfg, users)
    assert after["review_embedding"].notna().all() and after["search_embedding"].notna().all()
    pd.testing.assert_frame_equal(before, after)


def test_full_rebuild_and_a_partial_request_after_a_lost_store(ws_cfg) -> None:
    store = feast_store.open_store(ws_cfg)
    assert set(feast_store.materialize_views(store, ws_cfg, end=AS_OF, full=True).rebuilt) >= set(VIEWS)
    (Workspace(ws_cfg.data_dir).feast / "online.db").unlink()
    store = feast_store.open_store(ws_cfg)  # a new process, as the CLI is (Feast caches its connection)
    feast_store.apply(store, ws_cfg)
    # Asking for one view after the store was lost still refills all of them (recovery keeps every view).
    done = feast_store.materialize_views(store, ws_cfg, end=AS_OF, views=["user_transactions"])
    assert set(VIEWS) <= set(done.rebuilt)
    assert _online(ws_cfg, _profile_users(ws_cfg))["review_embedding"].notna().all()
