"""The verdict and the promotion gate: a deliberately worse run is refused, runs/latest stays."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.common.workspace import Workspace
from pipelines.storage.files import point_link
from pipelines.train.job import promote_run
from ranking.gate import GateRule, run_verdict, should_promote, verdict
from ranking.metrics import regression_metrics


def _metrics(main_pred: np.ndarray, y: np.ndarray, baseline_pred: np.ndarray) -> dict:
    pp = {"lightgbm": {"XY": regression_metrics(y, main_pred), "Y": regression_metrics(y, baseline_pred)},
          "linear": {"XY": {"skipped": "linear reference not fitted"}},
          "persistence": regression_metrics(y, baseline_pred), "btyd": regression_metrics(y, 0.9 * baseline_pred)}
    return {"main_feature_set": "XY", "purchasing_power": pp, "tier": {}}


@pytest.fixture(scope="module")
def spend() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.lognormal(3, 1.2, 2000) * (rng.random(2000) < 0.6)
    good = y * rng.lognormal(0, 0.3, len(y)) + 1.0
    return y, good


def test_worse_run_fails_the_gate_and_says_why(spend):
    y, good = spend
    worse = np.random.default_rng(1).permutation(good)  # right amounts, ranking destroyed
    v = run_verdict(_metrics(worse, y, good))
    assert not v.passed
    assert any("persistence" in r for r in v.reasons) and any("btyd" in r for r in v.reasons)
    assert any(loss.startswith("lightgbm XY loses to lightgbm Y on spearman") for loss in v.losses)
    assert "linear XY" in v.baselines and "skipped" in v.baselines["linear XY"]
    assert not should_promote(v, "gate") and should_promote(v, "always") and not should_promote(v.to_dict(), "gate")


def test_better_run_passes_but_a_biased_one_does_not(spend):
    y, good = spend
    assert run_verdict(_metrics(good * 1.0, y, 0.5 * good + 20)).passed
    biased = run_verdict(_metrics(good * 2.0, y, 0.5 * good + 20))  # same ranking, double the money
    assert not biased.passed and "mean prediction / mean truth" in biased.reasons[0]


def test_rule_is_declared_and_configurable():
    rule = GateRule(baselines=("persistence",), min_wins=6, ratio_range=(0.9, 1.1))
    assert ">= 6 of the 6 headline metrics" in rule.describe() and "[0.9, 1.1]" in rule.describe()
    main = {"n": 10, "mae": 1, "rmse": 2, "r2": 0.5, "spearman": 0.5, "gini": 0.5, "top10_share": 0.3,
            "mean_pred": 1.0, "mean_true": 1.0}
    tie_but_one = {**main, "gini": 0.6}
    v = verdict("m", main, {"persistence": tie_but_one}, rule)
    assert not v.passed and v.losses == ["m loses to persistence on gini: 0.5 vs 0.6"]
    assert verdict("m", main, {"persistence": main}, rule).passed  # ties count as at least as good
    with pytest.raises(ValueError):
        should_promote(v, "sometimes")


def test_refused_run_leaves_latest_alone(tmp_path, spend):
    y, good = spend
    ws = Workspace(tmp_path)
    old, new = ws.runs / "20260101T000000Z-s1", ws.runs / "20260102T000000Z-s1"
    old.mkdir(parents=True), new.mkdir()
    point_link(ws.runs / "latest", old)
    worse = run_verdict(_metrics(np.random.default_rng(1).permutation(good), y, good)).to_dict()
    messages: list[str] = []
    assert not promote_run(ws, new, worse, "gate", messages.append)
    assert (ws.runs / "latest").resolve() == old.resolve() and "NOT promoted" in messages[0]
    assert promote_run(ws, new, worse, "always", messages.append)
    assert (ws.runs / "latest").resolve() == new.resolve() and "gate NOT passed" in messages[1]
