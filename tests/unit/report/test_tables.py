"""Decile lift, tier reliability and fairness per segment, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.report.tables import decile_lift, expected_calibration_error, reliability
from ranking.fairness import segment_fairness


def test_decile_lift_ranks_by_prediction_and_sums_to_all_spend():
    y = np.arange(1.0, 101.0)  # spend 1..100
    lift = decile_lift(y, p=y.copy())  # a perfect ranking
    assert lift["users"].tolist() == [10] * 10
    assert lift.loc[0, "mean_true"] == pytest.approx(95.5) and lift.loc[9, "mean_true"] == pytest.approx(5.5)
    assert lift["cum_share"].iloc[-1] == pytest.approx(1.0)
    assert lift.loc[0, "lift"] == pytest.approx(95.5 / 50.5)
    reversed_lift = decile_lift(y, p=-y)
    assert reversed_lift.loc[0, "lift"] < 1 < reversed_lift.loc[9, "lift"]


def test_decile_lift_ignores_unlabelled_rows():
    lift = decile_lift(np.array([1.0, np.nan, 3.0]), np.array([1.0, 2.0, 3.0]))
    assert lift["users"].sum() == 2


def test_reliability_of_a_calibrated_and_an_overconfident_model():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20_000)
    y = (rng.uniform(0, 1, len(p)) < p).astype(float)  # class 1 happens with probability p
    calibrated = np.column_stack([1 - p, p])
    table = reliability(y, calibrated, ["low", "high"])
    assert expected_calibration_error(table)["high"] < 0.02
    sharp = np.column_stack([1 - np.round(p), np.round(p)])  # says 0 or 1 with certainty
    assert expected_calibration_error(reliability(y, sharp, ["low", "high"]))["high"] > 0.2


def test_disparity_is_flagged_past_the_ratio_only():
    n = 200
    y = np.full(2 * n, 100.0)
    p = np.concatenate([np.full(n, 100.0 + 10), np.full(n, 100.0 + 30)])  # relative MAE 0.1 vs 0.3
    masks = {"region": {"north": np.arange(2 * n) < n, "south": np.arange(2 * n) >= n},
             "channel": {"web": np.ones(2 * n, bool), "tiny": np.arange(2 * n) < 3}}
    fair = segment_fairness(y, p, None, None, masks, ratio=1.25, min_rows=30)
    region = fair["columns"]["region"]
    assert region["values"]["south"]["relative_mae"] == pytest.approx(0.3)
    assert region["disparity"]["relative_mae"] == pytest.approx(3.0)
    assert "relative_mae" in region["flagged"] and "calibration" not in region["flagged"]  # 1.3 / 1.1 < 1.25
    assert fair["columns"]["channel"]["compared"] == ["web"] and fair["columns"]["channel"]["flagged"] == []
    loose = segment_fairness(y, p, None, None, masks, ratio=5.0, min_rows=30)
    assert loose["columns"]["region"]["flagged"] == []


def test_tag_relations_rank_against_spend_and_average_per_true_tier():
    import pandas as pd

    from pipelines.report.tables import tag_relations
    from pipelines.report.training import tag_section

    spend = np.array([0.0, 10.0, 20.0, 30.0, np.nan, 50.0])
    tier = np.array([0, 0, 1, 1, np.nan, 1])
    tags = pd.DataFrame({"tag_premium": [0.1, 0.2, 0.3, 0.4, 0.9, np.nan],  # rises with spend
                         "tag_price_sensitive": [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]})
    got = tag_relations(tags, spend, tier, ["bronze", "silver"])
    assert got["tag_premium"]["n"] == 4 and got["tag_premium"]["spearman_pp"] == pytest.approx(1.0)
    assert got["tag_price_sensitive"]["spearman_pp"] == pytest.approx(-1.0)
    assert got["tag_premium"]["mean_by_tier"] == {"bronze": pytest.approx(0.15), "silver": pytest.approx(0.35)}
    assert got["tag_price_sensitive"]["mean_by_tier"]["silver"] == pytest.approx((0.4 + 0.3 + 0.1) / 3)
    flat = tag_relations(pd.DataFrame({"tag_x": [0.5] * 6}), spend, None, ["bronze", "silver"])
    assert flat["tag_x"]["spearman_pp"] is None and flat["tag_x"]["mean_by_tier"] == {}
    section = tag_section(got, ["bronze", "silver", "gold"])
    assert section.tables[0].headers == ["tag", "rows", "Spearman with purchasing power", "mean (bronze)",
                                         "mean (silver)"]  # a tier no row has is left out
    assert section.tables[0].rows[0][:3] == ["premium", "4", "1"] and tag_section({}, ["bronze"]) is None
