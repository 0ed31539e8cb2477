"""Stage-2 run end to end on a tiny frame: ablations, metrics layout, run dir, reload."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines.storage.artifact import load_run
from pipelines.common.config import load_config
from pipelines.train.job import run_training
from ranking.synthetic import synthetic_frame

PP_METRICS = {"mae", "rmse", "r2", "spearman", "gini", "top10_share", "top10_share_oracle"}
TIER_METRICS = {"accuracy", "macro_f1", "qwk", "auc_ovr", "recall", "confusion"}


def _cfg(tmp_path, **kw):
    return load_config(None, data_dir=str(tmp_path), train__trials=1, train__num_boost_round=30,
                       train__early_stopping_rounds=5, train__projection_dims=4, **kw)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    frame = synthetic_frame(n_users=150, n_cutoffs=6, dim=8, seed=21)
    summary = run_training(frame, _cfg(tmp), tmp / "runs" / "r1", feature_service="powertier_v1",
                           encoder={"id": "all-MiniLM-L6-v2", "dim": 8})
    return frame, summary, tmp / "runs" / "r1"


def test_metrics_layout_has_every_ablation_and_baseline(run):
    _, summary, run_dir = run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for target, names in (("purchasing_power", PP_METRICS), ("tier", TIER_METRICS)):
        for kind in ("lightgbm", "linear"):
            assert set(metrics[target][kind]) == {"XY", "X", "Y"}
            for fs in ("XY", "X", "Y"):
                assert names <= set(metrics[target][kind][fs])
        assert names <= set(metrics[target]["persistence"])
    compare = metrics["purchasing_power"]["lightgbm"]["XY"]["objectives"]
    assert set(compare) == {"tweedie", "log1p_l2", "tweedie_btyd_offset", "ziln", "ensemble"} and PP_METRICS <= set(compare["tweedie"]["test"])
    assert metrics["purchasing_power"]["lightgbm"]["XY"]["objective"] == "ensemble"  # declared a priori
    assert all(c["valid_mean_rank"] is not None for c in compare.values())
    chosen = compare[metrics["purchasing_power"]["lightgbm"]["XY"]["objective"]]
    assert chosen["valid"]["mean_pred"] == pytest.approx(chosen["valid"]["mean_true"], rel=1e-6)  # calibrated
    assert set(metrics["segments"]["tenure"]) == {"new", "established"}
    assert set(metrics["segments"]["region"]) == {"north", "south"}
    assert PP_METRICS <= set(metrics["segments"]["tenure"]["new"]["purchasing_power"]["lightgbm"])
    assert summary["headline"]["feature_set"] == "XY"
    calib, main = metrics["purchasing_power"]["calibration_deciles"], metrics["purchasing_power"]["lightgbm"]["XY"]
    assert len(calib["lightgbm"]["deciles"]) == 10 and sum(d["rows"] for d in calib["lightgbm"]["deciles"]) == main["n"]
    assert calib["lightgbm"]["overall"]["ratio"] == pytest.approx(main["mean_pred"] / main["mean_true"])
    assert ("btyd" in calib) == ("skipped" not in metrics["purchasing_power"]["btyd"])
    # Both classic BTYD models on the same test rows, labelled, calibrated and in the verdict.
    assert metrics["btyd_baselines"] == {"btyd": "BG/NBD × Gamma-Gamma",
                                         "btyd_pareto_nbd": "Pareto/NBD × Gamma-Gamma"}
    pp = metrics["purchasing_power"]
    assert pp["btyd_pareto_nbd"]["n"] == pp["btyd"]["n"] == main["n"]
    assert "btyd_pareto_nbd" in calib
    run_json = json.loads((run_dir / "run.json").read_text())
    assert "btyd_pareto_nbd" in run_json["verdict"]["baselines"]


def test_run_dir_is_complete_and_reloads_to_identical_predictions(run):
    frame, _, run_dir = run
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.json", "boosters", "arrays", "config.json", "features.json", "metrics.json",
            "predictions.parquet", "report.html", "run.json"} <= names
    assert (run_dir / "boosters" / "tier.txt").read_text().startswith("tree")
    loaded = load_run(run_dir)
    assert loaded["features"]["feature_service"] == "powertier_v1" and loaded["features"]["encoder"]["dim"] == 8
    assert loaded["config"]["train"]["trials"] == 1
    pred = loaded["predictions"]
    assert {"user_id", "event_timestamp", "purchasing_power_true", "purchasing_power_pred", "tier_true",
            "tier_pred", "tier_proba_bronze", "tier_proba_platinum", "purchasing_power_btyd",
            "purchasing_power_btyd_pareto_nbd"} <= set(pred.columns)
    test = frame[frame["event_timestamp"] == frame["event_timestamp"].max()].reset_index(drop=True)
    again = loaded["model"].predict(test, reasons=False)
    pd.testing.assert_series_equal(again["purchasing_power"], pred["purchasing_power_pred"], check_names=False,
                                   check_exact=True)
    assert (again["tier"].astype("string") == pred["tier_pred"]).all()


def test_report_is_self_contained_with_plots(run):
    html = (run[2] / "report.html").read_text()
    assert html.count("<svg") >= 10 and "Gain curve" in html and "Confusion matrix" in html
    assert '<section id="purchasing-power-decile-calibration">' in html and "Decile calibration (log1p axes)" in html
    assert "src=\"http" not in html and "<script" not in html
    assert "BTYD (BG/NBD × Gamma-Gamma)" in html and "BTYD (Pareto/NBD × Gamma-Gamma), test split" in html
    assert ">BTYD Pareto/NBD</text>" in html  # the calibration plot's legend: short enough to show whole
    assert ">btyd_pareto_nbd</text>" in html  # its gain curve
    assert "Spend model selection" in html and "(chosen)" in html and "mean rank over the six validation" in html
    # monthly cutoffs, 90-day labels: the two training cutoffs' labels reach 60 days past the validation cutoff
    assert json.loads((run[2] / "run.json").read_text())["split"]["valid_label_overlap_days"] == 60
    assert "training labels reach 60 days into the validation window" in html


def test_y_only_and_pp_only_run_says_what_it_trained(tmp_path):
    frame = synthetic_frame(n_users=100, dim=8, seed=22, text=False).drop(columns=["tier_next"])
    summary = run_training(frame, _cfg(tmp_path), tmp_path / "r")
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert set(summary["skipped"]) == {"XY", "X"} and metrics["main_feature_set"] == "Y"
    assert "skipped" in metrics["purchasing_power"]["lightgbm"]["X"]
    assert "tier model not trained" in metrics["tier"]["lightgbm"]["Y"]["skipped"]
    assert any("tier: not trained" in n for n in summary["notes"])
    pred = pd.read_parquet(tmp_path / "r" / "predictions.parquet")
    assert "tier_pred" not in pred.columns and "purchasing_power_pred" in pred.columns


def test_profile_tags_in_the_frame_are_reported_against_spend_and_tier_but_not_used(tmp_path):
    import numpy as np

    frame = synthetic_frame(n_users=150, n_cutoffs=6, dim=8, seed=21)
    features = [c for c in frame.columns if c not in {"user_id", "event_timestamp", "purchasing_power", "tier_next",
                                                      "label_available_at", "region"}]
    rng = np.random.default_rng(0)
    frame["tag_premium"] = np.log1p(frame["purchasing_power"].fillna(0))  # ranks like the label
    frame["tag_noise"] = rng.normal(size=len(frame))
    summary = run_training(frame, _cfg(tmp_path), tmp_path / "runs" / "r", feature_names=features)
    metrics = json.loads((tmp_path / "runs" / "r" / "metrics.json").read_text())
    assert set(metrics["tags"]) == {"tag_premium", "tag_noise"}
    assert metrics["tags"]["tag_premium"]["spearman_pp"] > 0.99 and 0.3 > abs(metrics["tags"]["tag_noise"]["spearman_pp"])
    assert set(metrics["tags"]["tag_premium"]["mean_by_tier"]) == {"bronze", "silver", "gold", "platinum"}
    assert not any(c.startswith("tag_") for c in json.loads((tmp_path / "runs" / "r" / "features.json").read_text())
                   ["features"])
    assert "Profile tags (test split)" in (tmp_path / "runs" / "r" / "report.html").read_text()
    assert summary["headline"]


class _Recorder:
    """A Progress that keeps every call, to check what the bars would show."""

    def __init__(self):
        self.totals, self.done, self.finished = {}, {}, []

    def start(self, task, total=None):
        self.totals[task], self.done[task] = total, 0

    def advance(self, task, n=1):
        self.done[task] = self.done.get(task, 0) + n

    def finish(self, task):
        self.finished.append(task)


def test_progress_advances_once_per_lightgbm_fit_within_its_planned_total(tmp_path):
    from pipelines.train.flow import FITS_TASK, fit_and_evaluate
    from ranking import tuning

    frame = synthetic_frame(n_users=100, n_cutoffs=6, dim=8, seed=23)
    cfg = load_config(None, data_dir=str(tmp_path), train__trials=2, train__num_boost_round=20,
                      train__early_stopping_rounds=5, train__projection_dims=4)
    fits, real = [], tuning.train_once
    progress = _Recorder()
    with pytest.MonkeyPatch.context() as mp:  # count the real LightGBM fits beside the bar
        mp.setattr(tuning, "train_once", lambda *a, **k: fits.append(1) or real(*a, **k))
        fit_and_evaluate(frame, cfg, "r", progress=progress)
    assert progress.done[FITS_TASK] == len(fits) > 0
    assert len(fits) <= progress.totals[FITS_TASK] and FITS_TASK in progress.finished
