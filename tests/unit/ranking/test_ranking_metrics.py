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


def test_calibration_deciles_on_a_hand_made_array():
    from ranking.metrics import calibration_deciles

    p_sorted = np.arange(20.0)  # two rows per decile
    y_sorted = np.array([0, 0, 1, 3, 4, 6, 5, 5, 10, 10, 8, 12, 20, 10, 14, 14, 0, 40, 30, 50.0])
    order = np.random.default_rng(3).permutation(20)  # the input order must not matter
    y = np.concatenate([y_sorted[order], [np.nan, 7.0]])  # one unlabelled row, one without a prediction
    p = np.concatenate([p_sorted[order], [100.0, np.nan]])
    got = calibration_deciles(y, p)
    assert [d["decile"] for d in got["deciles"]] == list(range(1, 11))
    assert [d["rows"] for d in got["deciles"]] == [2] * 10
    assert [d["mean_pred"] for d in got["deciles"]] == pytest.approx([0.5 + 2 * k for k in range(10)])
    assert [d["mean_true"] for d in got["deciles"]] == pytest.approx([0, 2, 5, 5, 10, 10, 15, 14, 20, 40])
    ratios = [d["ratio"] for d in got["deciles"]]
    assert ratios[0] is None  # mean truth 0: undefined, not infinite
    assert ratios[1:] == pytest.approx([1.25, 0.9, 1.3, 0.85, 1.05, 12.5 / 15, 14.5 / 14, 0.825, 0.4625])
    assert got["overall"] == {"rows": 20, "mean_pred": pytest.approx(9.5), "mean_true": pytest.approx(12.1),
                              "ratio": pytest.approx(9.5 / 12.1)}


def test_calibration_deciles_with_few_rows_and_bad_input():
    from ranking.metrics import calibration_deciles

    got = calibration_deciles(np.array([3.0, 1.0, 2.0]), np.array([30.0, 10.0, 20.0]))
    assert [(d["decile"], d["rows"], d["ratio"]) for d in got["deciles"]] == [(1, 1, 10.0), (2, 1, 10.0),
                                                                              (3, 1, 10.0)]
    empty = calibration_deciles(np.array([np.nan]), np.array([1.0]))
    assert empty == {"deciles": [], "overall": {"rows": 0, "mean_pred": None, "mean_true": None, "ratio": None}}
    with pytest.raises(ValueError, match="2 labels but 3 predictions"):
        calibration_deciles(np.zeros(2), np.zeros(3))


def test_calibration_tables_cover_lightgbm_and_a_fitted_btyd_only():
    import pandas as pd

    from ranking.evaluation import calibration_tables

    frame = pd.DataFrame({"purchasing_power": [0.0, 10.0, np.nan, 30.0]})
    preds = {"lightgbm": np.array([1.0, 9.0, 5.0, 20.0]), "persistence": np.zeros(4)}
    tables = calibration_tables(frame, {**preds, "btyd": "no BTYD statistics"})
    assert list(tables) == ["lightgbm"] and tables["lightgbm"]["overall"]["rows"] == 3
    assert tables["lightgbm"]["overall"]["ratio"] == pytest.approx(30 / 40)
    with_btyd = calibration_tables(frame, {**preds, "btyd": np.array([2.0, 2.0, 2.0, 2.0])})
    assert with_btyd["btyd"]["overall"]["ratio"] == pytest.approx(6 / 40)
