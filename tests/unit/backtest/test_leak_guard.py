"""Leak guards: unit cases, a label canary in Feast, and the guards firing inside the backtest."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from feast import FeatureService, FeatureView, Field, FileSource
from feast.types import Float64
from typer.testing import CliRunner

from pipelines.backtest import job as backtest_flow
from pipelines.storage import feast_store
from pipelines.backtest.job import BacktestPlan, retrieve, run_cutoff
from pipelines.cli import app
from pipelines.storage.curated import load_curated
from feature_repo.timestamps import to_utc_us
from pipelines.common.workspace import Workspace
from pipelines.features.labels import build_labels
from pipelines.backtest.leak_guard import LeakageError, check_feature_timestamps, check_label_availability
from ranking.params import TrainParams
from tests.support.backtest_data import END, START, cutoffs

T0 = pd.Timestamp("2025-06-01", tz="UTC")


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [f"u{i}" for i in range(n)], "event_timestamp": [T0] * n})


def test_label_guard_names_the_rows_whose_labels_were_not_known():
    rows = _rows(7).assign(label_available_at=[T0] * 2 + [T0 + pd.Timedelta(days=1)] * 5)
    check_label_availability(rows.head(2), T0)  # available exactly at the cutoff is fine
    with pytest.raises(LeakageError, match=r"5 rows: u2@2025-06-01T00:00:00\+00:00 \(label_available_at=2025-06-02"):
        check_label_availability(rows, T0)
    with pytest.raises(LeakageError, match="no label_available_at"):
        check_label_availability(_rows(1), T0)


def test_feature_ts_guard_allows_equal_and_missing_and_names_newer_rows():
    seconds = T0.timestamp()
    ok = _rows(3).assign(view_a_ts=[seconds, np.nan, seconds - 86400.0])
    check_feature_timestamps(ok)
    bad = _rows(8).assign(view_a_ts=seconds + 1e-6 * np.arange(8), view_b_ts=seconds)
    with pytest.raises(LeakageError) as err:
        check_feature_timestamps(bad)
    msg = str(err.value)
    assert "view_a_ts" in msg and "view_b_ts" not in msg and "7 rows: u1@" in msg and "and 2 more" in msg


# --- the label canary: a Feast view whose value IS the future label, timestamped when it is known ----

@pytest.fixture(scope="module")
def canary(backtest_ws):
    """Register ``label_canary`` (future spend over (g, g + H], stamped at g + H) and a service with it."""
    cfg, ws = backtest_ws, Workspace(backtest_ws.data_dir)
    t = load_curated(ws)
    c = cutoffs()[1]
    grid = [c - pd.Timedelta(days=30 * k) for k in range(8)]
    labels = build_labels(t["users"], t["orders"], grid, cfg.horizon_days, cfg.tiers, tiers=t["tiers"])
    table = pd.DataFrame({"user_id": labels["user_id"], "event_timestamp": labels["label_available_at"],
                          "future_spend": labels["purchasing_power"], "label_cutoff": labels["event_timestamp"]})
    feast_store.write_feature_table(ws, "label_canary", table.drop(columns="label_cutoff"))
    defs = feast_store.definitions(cfg)
    source = FileSource(name="label_canary_source", path=str(ws.feature_table("label_canary")),
                        timestamp_field="event_timestamp")
    view = FeatureView(name="label_canary", entities=[defs.entity], ttl=timedelta(0), source=source, online=False,
                       schema=[Field(name="future_spend", dtype=Float64), Field(name="label_canary_ts", dtype=Float64)])
    service = FeatureService(name="canary_v1", features=[defs.views["user_transactions"], view])
    store = feast_store.open_store(cfg)
    store.apply([defs.entity, source, view, service])
    return store, table, c


def test_canary_retrieved_at_the_cutoff_is_null_or_old(canary):
    store, table, c = canary
    users = table.loc[table["label_cutoff"] == c, "user_id"]
    got = feast_store.historical_features(store, pd.DataFrame({"user_id": users, "event_timestamp": c}), "canary_v1")
    old = table[table["label_cutoff"] == c - pd.Timedelta(days=90)].set_index("user_id")["future_spend"]
    future = table[table["label_cutoff"] == c].set_index("user_id")["future_spend"]
    want = old.reindex(got["user_id"]).to_numpy()
    np.testing.assert_array_equal(got["future_spend"].to_numpy(dtype=float), want)  # NaN where no closed window
    differs = future.reindex(got["user_id"]).to_numpy() != np.nan_to_num(want, nan=-1.0)
    assert differs.sum() > 10  # the future label would have been visible had the join leaked
    assert got["future_spend"].isna().any()
    check_feature_timestamps(got)


def test_guard_fires_when_the_canary_is_joined_on_user_id_only(backtest_ws, canary):
    store, table, c = canary
    plan = BacktestPlan(tuple(cutoffs()), backtest_ws.horizon_days, 30, 3)
    frame, names = retrieve(backtest_ws, store, plan)
    naive = table[table["label_cutoff"] == c][["user_id", "future_spend", "event_timestamp"]]
    naive = naive.rename(columns={"event_timestamp": "known_at"})
    naive["label_canary_ts"] = to_utc_us(naive.pop("known_at")).astype("int64") / 1e6  # as the view stores it
    leaky = frame.merge(naive, on="user_id", how="left")  # bypasses the point-in-time join
    with pytest.raises(LeakageError, match=r"label_canary_ts newer than event_timestamp in \d+ rows: u\d+@"):
        run_cutoff(leaky, plan, c, TrainParams.from_config(backtest_ws), names + ["future_spend"], 0.2)
    run_cutoff(frame, plan, c, TrainParams.from_config(backtest_ws), names, 0.2)  # the honest frame passes


def test_guard_fires_when_training_labels_close_after_the_cutoff(backtest_ws, canary):
    store, _, c = canary
    plan = BacktestPlan(tuple(cutoffs()), backtest_ws.horizon_days, 30, 3)
    frame, names = retrieve(backtest_ws, store, plan)
    # A plan that believes H is 30 days picks the 90-day labels of c - 30: known only at c + 60.
    short = BacktestPlan(tuple(cutoffs()), 30, 30, 3)
    with pytest.raises(LeakageError, match="training labels not yet available at cutoff"):
        run_cutoff(frame, short, c, TrainParams.from_config(backtest_ws), names, 0.2)


def test_cli_turns_a_leak_into_a_user_error(backtest_ws, monkeypatch):
    real = backtest_flow.training_frame

    def tampered(*args, **kwargs):
        frame, names = real(*args, **kwargs)
        frame.loc[0, "user_transactions_ts"] = frame.loc[0, "event_timestamp"].timestamp() + 86400.0
        return frame, names

    monkeypatch.setattr(backtest_flow, "training_frame", tampered)
    ws = backtest_ws.data_dir
    result = CliRunner().invoke(app, ["backtest", "--start", START, "--end", END, "--config",
                                      str(ws / "powertier.yaml")], env={"POWERTIER_DATA_DIR": str(ws)})
    text = " ".join(result.output.replace("│", " ").split())  # the error panel wraps long lines
    assert result.exit_code == 2 and "leak guard" in text and "user_transactions_ts newer than" in text
    assert "Traceback" not in text
