"""``engine: ray`` end to end through the real CLI on a local Ray cluster (the 2-CPU loopback test
cluster): generate -> pipeline (ingest -> features -> embed -> apply -> materialize -> train ->
score) -> backtest, then the same backtest under ``engine: local`` on the same workspace gives
the same results and predictions."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from tests.support.cli_helpers import cli_ok as _ok

pytestmark = pytest.mark.slow
BACKTEST = ("backtest", "--start", "2025-09-01", "--end", "2025-10-01", "--every", "30d")


def _latest_backtest(data_dir) -> dict[str, pd.DataFrame]:
    latest = data_dir / "backtests" / "latest"
    return {name: pd.read_parquet(latest / f"{name}.parquet") for name in ("results", "predictions")}


def test_engine_ray_runs_the_batch_path_and_backtests_like_local(ray_cluster, data_dir, tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    _ok("generate", "--users", "150", "--days", "420", "--seed", "11", "--out", str(raw))
    for key, value in {"ENGINE": "ray", "RAY__NUM_CPUS": "2", "RAY__OBJECT_STORE_MB": "128", "TRAIN__TRIALS": "2",
                       "TRAIN__PARALLEL_TRIALS": "2", "TRAIN__PROMOTE": "always"}.items():
        monkeypatch.setenv(f"POWERTIER_{key}", value)
    out = _ok("pipeline", "--raw", str(raw))
    assert "promoted: runs/latest" in out
    store_yaml = yaml.safe_load((data_dir / "feast" / "feature_store.yaml").read_text())
    assert store_yaml["offline_store"]["type"] == "ray" and store_yaml["batch_engine"]["type"] == "ray.engine"
    manifest = json.loads((data_dir / "embeddings" / "embed_manifest.json").read_text())
    assert manifest["engine"] == "ray" and manifest["encoded"] > 0  # encoded by the actor pool
    metrics = json.loads((data_dir / "runs" / "latest" / "metrics.json").read_text())
    assert {"lightgbm", "persistence"} <= set(metrics["purchasing_power"])
    _ok("features", "online", "--user", "u000001", "--service", "tier_model_v3")  # materialized by Ray
    _ok(*BACKTEST)
    on_ray = _latest_backtest(data_dir)
    assert on_ray["results"]["cutoff"].nunique() == 2 and len(on_ray["predictions"]) > 0
    monkeypatch.setenv("POWERTIER_ENGINE", "local")
    _ok(*BACKTEST)  # DuckDB retrieval, cutoffs in order
    local = _latest_backtest(data_dir)
    for name, frame in local.items():
        pd.testing.assert_frame_equal(on_ray[name], frame, check_exact=True, obj=name)
