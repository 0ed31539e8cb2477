"""The serving path on a real Redis online store: materialize -> lookup -> /v1/predict -> events,
then a Redis outage (503 fast, no hang, no traceback) and recovery after a restart."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines.storage import feast_store
from pipelines.serve.app import create_app
from pipelines.common.workspace import Workspace
from tests.support.redis_server import RedisServer, redis_available
from tests.support.serve_data import AS_OF, RUN_ID, SERVICE, build_workspace, fake_encoder, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.skipif(not redis_available(), reason="redis-server not on PATH")]
USERS = ["u03", "u04", "u12", "nobody"]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POWERTIER_REDIS_URL", server.url)
        yield server
    server.stop()


@pytest.fixture(scope="module")
def cfg(redis_server, tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("serve-redis") / "ws", online_store="redis")


@pytest.fixture(scope="module")
def client(cfg):
    app = create_app(cfg, Workspace(cfg.data_dir).runs / RUN_ID, encoder_factory=lambda _: fake_encoder)
    with TestClient(app) as c:
        yield c


def _predict(client, users, as_of=AS_OF):
    return client.post("/v1/predict", json={"user_ids": users, "as_of": as_of.isoformat()})


def test_materialized_redis_values_equal_the_offline_store(cfg):
    store = feast_store.open_store(cfg)
    online = feast_store.online_features(store, USERS, SERVICE, as_of=AS_OF)
    offline = feast_store.historical_features(
        store, pd.DataFrame({"user_id": USERS, "event_timestamp": [pd.Timestamp(AS_OF)] * len(USERS)}), SERVICE)
    for name in ("spend_90d", "orders_365d", "lifetime_spend", "days_since_last_order", "review_count"):
        for a, b in zip(online[name], offline[name]):
            assert pd.isna(a) == pd.isna(b), name
            assert pd.isna(a) or a == pytest.approx(float(b)), name


def test_predict_reads_redis(client):
    resp = _predict(client, USERS)
    assert resp.status_code == 200
    assert [p["cold_start"] for p in resp.json()["predictions"]] == [False, False, False, True]
    assert client.get("/readyz").json()["online_store"] == "redis"
    # Feast's Redis store reads every view in one pipeline: the per-view SQLite reader stays off.
    assert client.app.state.serve.predictor.reader is None


def test_events_are_pushed_to_redis(client, cfg):
    ts = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
    resp = client.post("/v1/events/order", json={"user_id": "u12", "ts": ts.isoformat(), "amount": 40.0,
                                                 "status": "completed"})
    assert resp.status_code == 202, resp.text
    pred = _predict(client, ["u12"], ts + pd.Timedelta(hours=1)).json()["predictions"][0]
    assert pd.Timestamp(pred["feature_timestamp"]) == ts
    store = feast_store.open_store(cfg)
    before = feast_store.online_features(store, ["u12"], SERVICE, as_of=ts).iloc[0]
    later = ts + pd.Timedelta(minutes=5)
    resp = client.post("/v1/events/review", json={"user_id": "u12", "ts": later.isoformat(), "text": "solid boots"})
    assert resp.status_code == 202 and "user_review_profile" in resp.json()["updated_views"]
    after = feast_store.online_features(store, ["u12"], SERVICE, as_of=later).iloc[0]
    assert after["review_count"] == (0 if pd.isna(before["review_count"]) else before["review_count"]) + 1
    assert len(after["review_embedding"]) == len(fake_encoder(["x"], "document")[0])


def test_late_event_still_reaches_redis(client, cfg):
    """Redis drops writes not newer than the stored row; a late event is stamped just after it."""
    store = feast_store.open_store(cfg)
    before = feast_store.online_features(store, ["u13"], SERVICE, as_of=AS_OF).iloc[0]
    late = pd.Timestamp(before["user_transactions_ts"], unit="s", tz="UTC") - pd.Timedelta(hours=1)
    resp = client.post("/v1/events/order", json={"user_id": "u13", "ts": late.isoformat(), "amount": 5.0,
                                                 "status": "completed"})
    assert resp.status_code == 202, resp.text
    after = feast_store.online_features(store, ["u13"], SERVICE, as_of=AS_OF).iloc[0]
    assert after["lifetime_orders"] == before["lifetime_orders"] + 1
    assert after["user_transactions_ts"] > before["user_transactions_ts"]


def test_redis_outage_gives_fast_503s_then_recovers(client, cfg, redis_server):
    # After every event the module's other tests pushed (a past as_of before them is refused).
    now = datetime.now(timezone.utc)
    first = _predict(client, USERS, now)
    assert first.status_code == 200, first.text
    baseline = first.json()["predictions"]
    redis_server.stop()
    late_starter = TestClient(create_app(cfg, Workspace(cfg.data_dir).runs / RUN_ID,
                                         encoder_factory=lambda _: fake_encoder))
    try:
        with late_starter:  # a server (re)started during the outage comes up, not ready
            assert late_starter.get("/readyz").status_code == 503
            assert _predict(late_starter, USERS, now).status_code == 503
        for call in (lambda: client.get("/readyz"), lambda: _predict(client, USERS, now),
                     lambda: client.post("/v1/events/order", json={"user_id": "u03", "ts": AS_OF.isoformat(),
                                                                   "amount": 1.0, "status": "completed"})):
            start = time.monotonic()
            resp = call()
            assert time.monotonic() - start < 3.0  # bounded by the socket timeouts, no retry storm
            assert resp.status_code == 503
            assert "unavailable" in resp.json()["error"] or "unreachable" in resp.json()["error"]
            assert "Traceback" not in resp.text
        assert client.get("/healthz").status_code == 200  # the process itself is fine
    finally:
        redis_server.start()
    waited = wait_until(lambda: client.get("/readyz").status_code == 200, 5.0, "readyz after the Redis restart")
    assert waited < 5.0
    wait_until(lambda: _predict(client, USERS, now).status_code == 200, 5.0, "predict after the Redis restart")
    assert _predict(client, USERS, now).json()["predictions"] == baseline  # persisted data came back
