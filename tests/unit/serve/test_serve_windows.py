"""Online windows expire (issue 14, item 4): served features and predictions equal the batch
(point-in-time) ones at any moment after the last event, and a past ``as_of`` never sees the future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines.common.workspace import Workspace
from pipelines.serve.app import create_app
from pipelines.serve.predict import lookup
from pipelines.storage.curated import load_curated
from tests.support.pit_data import TIERS
from tests.support.serve_data import AS_OF, RUN_ID, build_workspace, fake_encoder

MOMENTS_DAYS = [0.5, 5, 7.5, 29, 31, 60, 91, 200, 366, 400]  # after AS_OF: windows of 7, 30, 90, 365 d expire


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("windows") / "ws", n_users=60)


@pytest.fixture(scope="module")
def client(cfg):
    app = create_app(cfg, Workspace(cfg.data_dir).runs / RUN_ID, encoder_factory=lambda _: fake_encoder)
    with TestClient(app) as c:
        yield c


def _quiet_users(cfg) -> list[str]:
    """Users with orders whose last event of any kind is at or before the materialization (AS_OF)."""
    tables = load_curated(Workspace(cfg.data_dir))
    last = pd.concat([tables[t][["user_id", "ts"]] for t in ("orders", "reviews", "searches", "tiers")])
    last = last.groupby("user_id")["ts"].max()
    return sorted(u for u in tables["orders"]["user_id"].unique() if last[u] <= pd.Timestamp(AS_OF))


def test_served_predictions_equal_batch_predict_at_moments_after_the_last_event(client, cfg):
    from pipelines.train.job import batch_predict

    users = _quiet_users(cfg)
    assert len(users) >= 8, users
    state, run_dir = client.app.state.serve, Workspace(cfg.data_dir).runs / RUN_ID
    expired = 0
    for days in MOMENTS_DAYS:
        at = pd.Timestamp(AS_OF) + pd.Timedelta(days=days)
        served = client.post("/v1/predict", json={"user_ids": users, "as_of": at.isoformat()})
        assert served.status_code == 200, served.text
        batch = batch_predict(cfg, run_dir, pd.DataFrame({"user_id": users, "event_timestamp": [at] * len(users)}))
        for got, want in zip(served.json()["predictions"], batch.to_dict("records")):
            assert got["user_id"] == want["user_id"]
            assert got["purchasing_power"] == pytest.approx(want["purchasing_power"], rel=1e-9), (days, got["user_id"])
            for t in TIERS:
                assert got["tier_probabilities"][t] == pytest.approx(want[f"tier_proba_{t}"], rel=1e-9, abs=1e-12)
        features = lookup(state.store, state.predictor, users, at.to_pydatetime())
        stored = lookup(state.store, state.predictor, users, AS_OF)
        expired += sum(a != b for a, b in zip(features["spend_30d"], stored["spend_30d"]))
    assert expired > 0  # the moments do cross window expiries (else the test proves nothing)


def test_an_old_order_sent_as_an_event_leaves_the_short_windows(client):
    """The issue's example: a 10-day-old order of 500 counts in spend_30d, not in spend_7d."""
    now = pd.Timestamp.now(tz="UTC")
    event = {"user_id": "u13", "ts": (now - pd.Timedelta(days=10)).isoformat(), "order_id": "old-o1",
             "amount": 500.0, "status": "completed"}
    assert client.post("/v1/events/order", json=event).status_code == 202
    state = client.app.state.serve
    row = lookup(state.store, state.predictor, ["u13"], now.to_pydatetime())
    assert row["spend_7d"][0] == 0.0 and row["orders_7d"][0] == 0
    assert row["spend_30d"][0] == pytest.approx(500.0) and row["orders_30d"][0] == 1
    later = lookup(state.store, state.predictor, ["u13"], (now + pd.Timedelta(days=25)).to_pydatetime())
    assert later["spend_30d"][0] == 0.0 and np.isnan(later["avg_order_value_30d"][0] or np.nan)


def test_a_past_as_of_before_the_online_features_is_refused(client):
    """No look-ahead: once u13's features are newer than the asked moment, that moment is 422."""
    old = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=20)).isoformat()
    refused = client.post("/v1/predict", json={"user_ids": ["u13"], "as_of": old})
    assert refused.status_code == 422 and "as_of" in refused.json()["error"] and "u13" in refused.json()["error"]
    assert client.post("/v1/predict", json={"user_ids": ["u13"]}).status_code == 200  # now: fine
    assert client.post("/v1/predict", json={"user_ids": ["u03"], "as_of": AS_OF.isoformat()}).status_code == 200
