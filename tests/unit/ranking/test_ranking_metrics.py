"""Metric definitions on hand-checkable inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.metrics import gain_curve, normalised_gini, regression_metrics, tier_metrics, top_share

TIERS = ("bronze", "silver", "gold", "platinum")


def test_gini_is_one_for_the_oracle_order_and_about_zero_for_a_constant():
    y = np.array([0, 0, 0, 10, 0, 5, 0, 1.0])
    assert normalised_gini(y, y) == pytest.approx(1.0)
    assert normalised_gini(y, np.zeros_like(y)) == pytest.approx(0.0, abs=1e-12)
    assert normalised_gini(y, -y) < 0


def test_ties_are_averaged_not_ordered_by_position():
    y = np.array([10.0, 0.0])
    assert normalised_gini(y, np.array([1.0, 1.0])) == normalised_gini(y[::-1], np.array([1.0, 1.0])) == 0.0


def test_top_share_and_gain_curve():
    y = np.array([100.0] + [0.0] * 9)
    assert top_share(y, y, 0.1) == pytest.approx(1.0)
    assert top_share(y, -y, 0.1) == pytest.approx(0.0)
    x, c = gain_curve(y, np.arange(10.0))
    assert x[0] == c[0] == 0 and x[-1] == c[-1] == 1


def test_regression_metrics_values_and_undefined_cases():
    m = regression_metrics(np.array([0.0, 1, 2, 3]), np.array([0.0, 1, 2, 5]))
    assert m["mae"] == pytest.approx(0.5) and m["rmse"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    assert m["gini"] == pytest.approx(1.0) and m["n"] == 4
    zeros = regression_metrics(np.zeros(3), np.ones(3))
    assert zeros["gini"] is None and zeros["spearman"] is None and zeros["top10_share"] is None
    assert regression_metrics(np.array([]), np.array([])) == {"n": 0}


def test_tier_metrics():
    y = np.array([0, 0, 1, 2, 3, 3])
    proba = np.eye(4)[[0, 1, 1, 2, 3, 2]] * 0.7 + 0.075
    m = tier_metrics(y, proba, TIERS)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["recall"] == {"bronze": 0.5, "silver": 1.0, "gold": 1.0, "platinum": 0.5}
    assert m["confusion"][0] == [1, 1, 0, 0] and np.sum(m["confusion"]) == 6
    assert 0 < m["qwk"] < 1 and 0.5 < m["auc_ovr"] <= 1
    perfect = tier_metrics(y, np.eye(4)[y], TIERS)
    assert perfect["qwk"] == pytest.approx(1.0) and perfect["macro_f1"] == pytest.approx(1.0)


def test_tier_metrics_with_a_single_class_present():
    m = tier_metrics(np.array([1, 1]), np.eye(4)[[1, 1]], TIERS)
    assert m["auc_ovr"] is None and m["recall"]["bronze"] is None and m["recall"]["silver"] == 1.0
