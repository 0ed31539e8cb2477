"""End-to-end through the real CLI on tiny data: pipeline (ingest -> features -> embed -> apply ->
materialize -> train -> score), then predict and the online scores; and the degraded paths."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.support.cli_helpers import cli_ok as _ok

pytestmark = pytest.mark.slow


def test_pipeline_then_predict_and_online_scores(raw_dir, data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("POWERTIER_TRAIN__TRIALS", "1")
    # 300 tiny users: the gate decides nothing useful here; this test is about the plumbing.
    monkeypatch.setenv("POWERTIER_TRAIN__PROMOTE", "always")
    out = _ok("pipeline", "--raw", str(raw_dir))
    assert "gate: promote if" in out and "promoted: runs/latest" in out
    run = Path(out.split("run:")[1].split()[0]) if "run:" in out else data_dir / "runs" / "latest"
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"lightgbm", "linear", "persistence"} <= set(metrics["purchasing_power"])
    assert set(metrics["purchasing_power"]["lightgbm"]) == {"XY", "Y", "X"}
    features = json.loads((run / "features.json").read_text())
    assert features["feature_service"] == "purchasing_power_v3" and features["encoder"]["dim"] == 384
    preds = pd.read_parquet(run / "predictions.parquet")
    assert {"purchasing_power_true", "purchasing_power_pred", "tier_true", "tier_pred"} <= set(preds.columns)
    entities = preds[["user_id", "event_timestamp"]].head(20)
    entities.to_parquet(tmp_path / "e.parquet")
    _ok("predict", "--run", str(run), "--entities", str(tmp_path / "e.parquet"), "--out", str(tmp_path / "p.parquet"))
    batch = pd.read_parquet(tmp_path / "p.parquet")
    assert batch.user_id.tolist() == entities.user_id.tolist()
    assert batch.filter(like="tier_proba_").sum(axis=1).round(6).eq(1).all()
    scored = pd.read_parquet(data_dir / "features" / "user_predictions.parquet")
    shown = _ok("features", "online", "--user", str(scored.user_id.iloc[0]), "--service", "tier_model_v3")
    assert "review_embedding" in shown


def test_pipeline_without_texts_or_tiers_trains_what_it_can(raw_dir, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("POWERTIER_TRAIN__PROMOTE", "always")
    raw = tmp_path / "raw_min"
    raw.mkdir()
    for table in ("users", "orders"):
        (raw / f"{table}.parquet").write_bytes((raw_dir / f"{table}.parquet").read_bytes())
    out = _ok("pipeline", "--raw", str(raw))
    assert "skipping embed" in out
    run = data_dir / "runs" / "latest"
    model = json.loads((run / "run.json").read_text())
    assert model["targets"] == ["purchasing_power"]
    assert set(model["verdict"]) >= {"passed", "rule", "losses", "baselines", "mean_ratio"}
    assert any("tier" in note for note in model["notes"])
