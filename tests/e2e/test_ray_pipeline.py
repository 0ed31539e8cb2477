"""``engine: ray`` end to end through the real CLI on a local Ray cluster: generate -> pipeline
(ingest -> features -> embed -> apply -> materialize -> train -> score) -> backtest, on tiny data."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.support.backtest_data import DAYS, END, EVERY, SEED, START, USERS
from tests.support.cli_helpers import cli_ok
from tests.support.ray_cluster import OBJECT_STORE_MB, RAY_CPUS

pytestmark = pytest.mark.slow


def test_whole_batch_path_and_backtest_on_ray(ray_cluster, data_dir, tmp_path, monkeypatch):
    for key, value in {"ENGINE": "ray", "RAY__NUM_CPUS": RAY_CPUS, "RAY__OBJECT_STORE_MB": OBJECT_STORE_MB,
                       "RAY__USERS_PER_PARTITION": 60, "TRAIN__TRIALS": 2, "TRAIN__PARALLEL_TRIALS": 2,
                       "TRAIN__N_CUTOFFS": 3, "TRAIN__NUM_BOOST_ROUND": 60, "ENCODER__DEVICE": "cpu"}.items():
        monkeypatch.setenv(f"POWERTIER_{key}", str(value))
    raw = tmp_path / "raw"
    cli_ok("generate", "--users", str(USERS), "--days", str(DAYS), "--seed", str(SEED), "--out", str(raw))
    cli_ok("pipeline", "--raw", str(raw))
    manifest = json.loads((data_dir / "embeddings" / "embed_manifest.json").read_text())
    assert manifest["device"].startswith("ray (2 actors") and manifest["encoded"] > 0
    store_yaml = (data_dir / "feast" / "feature_store.yaml").read_text()
    assert "type: ray\n" in store_yaml and "type: ray.engine" in store_yaml
    run = data_dir / "runs" / "latest"
    assert "lightgbm" in json.loads((run / "metrics.json").read_text())["purchasing_power"]
    shown = cli_ok("features", "online", "--user", "u000001")  # materialized by the Ray engine
    assert "spend_30d" in shown
    cli_ok("backtest", "--start", START, "--end", END, "--every", f"{EVERY}d")
    info = json.loads((data_dir / "backtests" / "latest" / "backtest.json").read_text())
    assert len(info["summaries"]) == 3
    assert len(pd.read_parquet(data_dir / "backtests" / "latest" / "predictions.parquet")) > 0
