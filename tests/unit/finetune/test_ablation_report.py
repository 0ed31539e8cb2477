"""``finetune``'s ablation step on a real run dir (Feast retrieval replaced by the run's own frame):
ablation.json in the run, its three rows scored on the run's test rows, and the re-rendered report
with the "Encoder ablation" section and every section it had before."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from pipelines.common.config import load_config
from pipelines.common.errors import UserError
from pipelines.finetune import job as ft_job
from pipelines.finetune.ablation import keys_digest, pit_vectors
from pipelines.train import job as train_job
from ranking.synthetic import synthetic_frame

SECTION = "Encoder ablation: none / frozen / fine-tuned"


def _cfg(tmp_path):
    return load_config(None, data_dir=str(tmp_path), train__trials=1, train__num_boost_round=40,
                       train__early_stopping_rounds=5, train__projection_dims=4)


@pytest.fixture
def trained(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    frame = synthetic_frame(n_users=200, n_cutoffs=6, dim=8, seed=4)
    # A profile keeps its last value until the next text: the frame as Feast would return it.
    stored = frame.loc[frame["review_embedding"].notna(), ["user_id", "event_timestamp", "review_embedding"]]
    frame["review_embedding"] = pit_vectors(frame, stored, "review_embedding")
    run_dir = tmp_path / "runs" / "r1"
    train_job.run_training(frame, cfg, run_dir, feature_service="powertier_v1", encoder={"id": "e5", "dim": 8})
    (tmp_path / "features").mkdir()
    stored.to_parquet(tmp_path / "features" / "user_review_profile.parquet")
    monkeypatch.setattr("pipelines.features.frames.training_frame", lambda *_a: (frame.copy(), []))
    monkeypatch.setattr("pipelines.storage.feast_store.open_store", lambda _cfg: None)
    # One "review" per (user, cutoff), a day before it, whose vector carries that row's label.
    reviews = pd.DataFrame({"user_id": frame["user_id"].astype(str),
                            "ts": frame["event_timestamp"] - pd.Timedelta(days=1)})
    vectors = np.zeros((len(frame), 8), dtype=np.float32)
    vectors[:, 0] = np.log1p(frame["purchasing_power"].to_numpy(float))
    return cfg, run_dir, reviews, vectors


def test_ablation_is_written_into_the_run_and_its_report_on_the_same_test_rows(trained):
    cfg, run_dir, reviews, vectors = trained
    before = (run_dir / "report.html").read_text()
    doc = ft_job.add_ablation(cfg, run_dir, reviews, vectors, {"model_id": "ft-x", "label": "log_pp"}, print)
    saved = json.loads((run_dir / "finetune" / "ablation.json").read_text())
    assert saved["rows"].keys() == {"none", "frozen", "fine_tuned"} and saved["trials"] == 0
    run_keys = keys_digest(pd.read_parquet(run_dir / "predictions.parquet"))
    assert {r["test_keys"] for r in saved["rows"].values()} == {run_keys}
    assert [saved["rows"][r]["feature_set"] for r in ("none", "frozen", "fine_tuned")] == ["Y", "XY", "XY"]
    assert doc["rows"]["fine_tuned"]["test"] != doc["rows"]["frozen"]["test"]  # it used its own X
    html = (run_dir / "report.html").read_text()
    assert SECTION in html and SECTION not in before and "the same test rows (one digest)" in html
    for label in ("none (Y only)", "frozen (base encoder X)", "fine-tuned (X from the fine-tuned encoder)"):
        assert label in html
    titles = lambda text: re.findall(r"<h2[^>]*>(.*?)</h2>", text)  # noqa: E731
    assert titles(before) and titles(html) == [*titles(before), SECTION]  # every earlier section kept


def test_a_run_whose_test_rows_changed_is_refused(trained):
    cfg, run_dir, reviews, vectors = trained
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    preds.iloc[1:].to_parquet(run_dir / "predictions.parquet")
    with pytest.raises(UserError, match="test rows differ"):
        ft_job.add_ablation(cfg, run_dir, reviews, vectors, {}, print)
    assert not (run_dir / "finetune" / "ablation.json").exists()


def test_stored_profiles_that_disagree_with_the_frame_are_refused(trained, tmp_path):
    cfg, run_dir, reviews, vectors = trained
    path = tmp_path / "features" / "user_review_profile.parquet"
    stored = pd.read_parquet(path)
    stored["review_embedding"] = [np.asarray(v) + 0.5 for v in stored["review_embedding"]]
    stored.to_parquet(path)
    with pytest.raises(UserError, match="do not match"):
        ft_job.add_ablation(cfg, run_dir, reviews, vectors, {}, print)
