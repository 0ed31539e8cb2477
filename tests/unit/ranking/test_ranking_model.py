"""Stage-2 model: estimator contract, determinism, save/load, behaviour, cold start, reduced paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from pipelines.storage.artifact import load_model, save_model_files
from ranking.model import TwoStageModel, fit_two_stage
from ranking.splits import time_split
from ranking.synthetic import synthetic_frame
from tests.support.ranking_data import PARAMS

# ``split`` and ``model`` (fitted at PARAMS) are the package's fixtures (conftest.py).


def test_fit_returns_self_and_learned_attributes_end_with_underscore(split):
    est = TwoStageModel(PARAMS, "Y")
    assert est.get_params()["feature_set"] == "Y" and not any(k.endswith("_") for k in vars(est))
    assert est.fit(split.train, split.valid) is est
    learned = set(vars(est)) - set(est.get_params())
    assert learned and all(k.endswith("_") for k in learned)
    assert clone(est).get_params()["params"] == PARAMS


def test_refit_is_deterministic(split, model):
    again = fit_two_stage(split.train, split.valid, PARAMS)
    a, b = model.predict(split.test, reasons=False), again.predict(split.test, reasons=False)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert model.pp_info_ == again.pp_info_


def test_fit_inputs_alone_gives_the_design_the_full_fit_trains_on(split, model):
    inputs = TwoStageModel(PARAMS, "XY").fit_inputs(split.train)
    assert inputs.feature_columns_ == model.feature_columns_ and inputs.groups_ == model.groups_
    assert not hasattr(inputs, "pp_boosters_")
    pd.testing.assert_frame_equal(inputs.design(split.test), model.design(split.test), check_exact=True)


def test_a_second_fit_takes_its_btyd_columns_from_the_new_rows_not_the_old_model(split):
    est = TwoStageModel(PARAMS, "Y").fit_inputs(split.train)
    est.feature_columns_ = [c for c in est.feature_columns_ if c != "btyd_p_buy"]  # as a model saved before it
    assert "btyd_p_buy" in est.fit_inputs(split.train).feature_columns_


def test_save_load_gives_identical_predictions(tmp_path, split, model):
    save_model_files(tmp_path, model)
    loaded = load_model(tmp_path)
    pd.testing.assert_frame_equal(model.predict(split.test), loaded.predict(split.test), check_exact=True)
    Z = model.design(split.test)
    np.testing.assert_array_equal(model.predict_pp_z(Z, "linear"), loaded.predict_pp_z(Z, "linear"))
    np.testing.assert_array_equal(model.predict_tier_proba_z(Z, "linear"), loaded.predict_tier_proba_z(Z, "linear"))
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))


def test_more_past_spend_does_not_lower_prediction_on_average(split, model):
    richer = split.test.copy()
    for col in [c for c in richer.columns if c.startswith("spend_") or c == "lifetime_spend"]:
        richer[col] = richer[col] * 3 + 50.0
    base = model.predict(split.test, reasons=False)["purchasing_power"].mean()
    assert model.predict(richer, reasons=False)["purchasing_power"].mean() >= base


def test_prediction_columns_and_tier_probabilities_sum_to_one(split, model):
    out = model.predict(split.test.head(40))
    proba = out[[f"tier_proba_{t}" for t in PARAMS.tiers]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert set(out["tier"]) <= set(PARAMS.tiers)
    assert (out["tier"] == np.asarray(PARAMS.tiers)[out["tier_index"]]).all()
    assert (out["purchasing_power"] >= 0).all()
    reasons = out["reasons"].iloc[0]
    assert len(reasons) == 3 and {"group", "contribution"} <= set(reasons[0])
    assert abs(reasons[0]["contribution"]) >= abs(reasons[-1]["contribution"])


def test_cold_start_rows_with_all_null_features(split, model):
    cold = split.test.head(5).copy()
    for col in model.required_columns():
        cold[col] = None if col.endswith("_embedding") else np.nan
    out = model.predict(cold)
    assert out["purchasing_power"].notna().all() and out["tier"].notna().all()
    projected = model.design(cold).filter(like="_pc")
    assert projected.shape[1] == 8 and projected.isna().all().all()


def test_missing_input_column_is_a_clear_error(split, model):
    with pytest.raises(ValueError, match="lacks model input columns.*spend_30d"):
        model.predict(split.test.drop(columns=["spend_30d"]))


def test_explanation_groups_cover_text_profiles_and_families(model):
    groups = set(model.groups_.values())
    assert {"review_profile", "search_profile", "spend", "orders", "order_value", "returns_discounts",
            "category", "recency_tenure", "engagement", "tier", "btyd"} == groups
    assert model.groups_["btyd_expected_spend"] == "btyd" and model.groups_["btyd_repeat_purchases"] == "btyd"
    assert model.groups_["review_count"] == "review_profile" and model.groups_["review_mean_rating"] == "engagement"
    assert not any(c.endswith("_ts") or c.endswith("_ts_s") for c in model.feature_columns_)


def test_y_only_when_text_is_absent():
    s = time_split(synthetic_frame(n_users=120, dim=8, seed=5, text=False), 0.2, 90, seed=0)
    m = fit_two_stage(s.train, s.valid, PARAMS)
    assert m.feature_set == "Y" and m.projector_ is None
    assert "inputs (Y)" in m.notes_[0] and m.targets == ["purchasing_power", "tier"]


def test_purchasing_power_only_when_tier_labels_are_absent(tmp_path):
    frame = synthetic_frame(n_users=120, dim=8, seed=6).drop(columns=["tier_next"])
    s = time_split(frame, 0.2, 90, seed=0)
    m = fit_two_stage(s.train, s.valid, PARAMS)
    assert m.targets == ["purchasing_power"] and m.tier_booster_ is None
    assert any(n.startswith("tier: not trained") for n in m.notes_)
    out = m.predict(s.test)
    assert "tier" not in out.columns and "purchasing_power" in out.columns
    save_model_files(tmp_path, m)
    pd.testing.assert_frame_equal(out, load_model(tmp_path).predict(s.test), check_exact=True)


def test_btyd_baseline_is_the_expected_spend_of_the_fitted_btyd(split, model):
    from ranking import btyd

    X, customer = btyd.statistics_matrix(split.test[list(btyd.STATISTICS)].to_numpy(dtype="float64"))
    assert customer.any()
    baseline = model.btyd_spend(split.test)
    np.testing.assert_allclose(baseline[customer], model.btyd_.predict(X[customer]), rtol=1e-9)
    assert (baseline[~customer] == 0).all()
    p_buy = model.design(split.test)["btyd_p_buy"].to_numpy()
    assert ((p_buy[customer] > 0) & (p_buy[customer] <= 1)).all()


def test_a_run_saved_before_a_new_btyd_output_still_predicts(tmp_path, split):
    """A run trained when BTYD had four outputs (before ``btyd_p_buy``) keeps its own inputs: the
    design follows the saved feature columns, not today's output list (serving loaded such a run
    with 70 columns for a 69-column booster and failed)."""
    from ranking import btyd

    full, real = btyd.OUTPUTS, btyd.btyd_outputs

    def four_outputs(model, stats):
        btyd.OUTPUTS = full  # today's function fills all outputs; the old code had the first four
        try:
            return real(model, stats)[:, :4]
        finally:
            btyd.OUTPUTS = full[:4]

    with pytest.MonkeyPatch.context() as mp:  # the code as it was: four outputs
        mp.setattr(btyd, "OUTPUTS", full[:4])
        mp.setattr(btyd, "btyd_outputs", four_outputs)
        old = fit_two_stage(split.train, split.valid, PARAMS)
        before = old.predict(split.test)
        save_model_files(tmp_path, old)
    assert "btyd_p_buy" not in old.feature_columns_ and old.btyd_ is not None
    pd.testing.assert_frame_equal(load_model(tmp_path).predict(split.test), before, check_exact=True)
