"""Column groups, projection and linear reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from ranking.dataset import feature_family, infer_feature_spec, segment_columns
from ranking.linear import LinearReference
from ranking.projection import TextProjector
from ranking.synthetic import synthetic_frame


@pytest.fixture(scope="module")
def frame():
    return synthetic_frame(n_users=50, n_cutoffs=2, dim=12, seed=4)


def test_feature_spec_comes_from_the_frame_and_excludes_provenance(frame):
    spec = infer_feature_spec(frame)
    assert spec.text_views == ("review", "search") and spec.text_counts == ("review_count", "search_count")
    assert "spend_90d" in spec.y_features and "region" not in spec.y_features
    assert not {"user_transactions_ts", "signup_ts_s", "last_order_ts_s", "review_profile_ts",
                "purchasing_power", "tier_next", "label_available_at"} & set(spec.y_features)
    assert segment_columns(frame, spec) == ["region"]
    only = infer_feature_spec(frame, ["spend_7d", "orders_7d", "signup_ts_s"])
    assert only.y_features == ("spend_7d", "orders_7d") and only.text_views == ()
    with pytest.raises(ValueError, match="non-numeric"):
        infer_feature_spec(frame, ["spend_7d", "region"])
    with pytest.raises(ValueError, match="missing from the frame"):
        infer_feature_spec(frame, ["spend_7d", "nope"])


@pytest.mark.parametrize("name,family", [
    ("spend_7d", "spend"), ("lifetime_spend", "spend"), ("orders_365d", "orders"), ("lifetime_orders", "orders"),
    ("avg_order_value_30d", "order_value"), ("discount_share_365d", "returns_discounts"),
    ("return_rate_365d", "returns_discounts"), ("cancels_365d", "returns_discounts"),
    ("category_entropy_365d", "category"), ("days_since_last_order", "recency_tenure"),
    ("tenure_days", "recency_tenure"), ("searches_30d", "engagement"), ("review_mean_rating", "engagement"),
    ("current_tier", "tier"), ("mystery", "other")])
def test_families_by_name_pattern(name, family):
    assert feature_family(name) == family


def test_projection_fits_on_rows_with_vectors_normalises_and_maps_null_to_nan(frame):
    proj = TextProjector(("review",), "pca", 3, seed=0)
    assert proj.fit(frame) is proj
    has = frame["review_embedding"].map(lambda v: v is not None).to_numpy()
    assert proj.fit_rows_["review"] == has.sum() and proj.input_dim_["review"] == 12
    out = proj.transform(frame)
    assert list(out.columns) == ["review_pc00", "review_pc01", "review_pc02"]
    np.testing.assert_allclose(np.linalg.norm(out[has].to_numpy(), axis=1), 1.0)
    assert out[~has].isna().all().all()
    meta, arrays = proj.get_state()
    again = TextProjector.from_state(meta, arrays).transform(frame)
    pd.testing.assert_frame_equal(out, again, check_exact=True)


def test_projection_none_keeps_the_raw_dimension_and_rejects_other_dims(frame):
    out = TextProjector(("search",), "none").fit(frame).transform(frame)
    assert out.shape[1] == 12
    bad = frame.head(3).copy()
    bad["search_embedding"] = [np.ones(5, dtype=np.float32)] * 3
    with pytest.raises(ValueError, match="dimension 5"):
        TextProjector(("search",), "pca", 2).fit(frame).transform(bad)


def test_linear_reference_contract_and_state_roundtrip():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((200, 4))
    Z[rng.random(200) < 0.3, 1] = np.nan
    Z[:, 3] = np.nan  # a column that is always missing must not break imputation
    y = np.exp(Z[:, 0]) * (rng.random(200) < 0.5)
    reg = LinearReference("regression")
    assert reg.fit(Z, y) is reg and clone(reg).get_params() == reg.get_params()
    assert (reg.predict(Z) >= 0).all() and list(reg.missing_cols_) == [1, 3]
    cls = LinearReference("classification", n_classes=4).fit(Z, (Z[:, 0] > 0).astype(int) * 2)
    proba = cls.predict_proba(Z)
    assert proba.shape == (200, 4) and np.allclose(proba.sum(axis=1), 1) and (proba[:, [1, 3]] == 0).all()
    for model in (reg, cls):
        params, arrays = model.get_state()
        copy = LinearReference.from_state(params, arrays)
        np.testing.assert_array_equal(copy.decision_function(Z), model.decision_function(Z))


def test_linear_reference_glm_converges_on_heavy_tailed_money_without_warnings():
    """Issue 16: lbfgs stopped at max_iter on the Poisson GLM and printed a ConvergenceWarning in
    every pipeline; the fit must converge (the same frame reproduced the warning before the fix)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    frame = synthetic_frame(n_users=300, n_cutoffs=4, seed=0)
    Z = frame.select_dtypes("number").drop(columns=["purchasing_power", "tier_next"]).to_numpy(float)
    y = frame["purchasing_power"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LinearReference().fit(Z, y)
    # Converged Poisson GLM with an intercept: the fitted mean matches the training mean.
    assert model.predict(Z).mean() == pytest.approx(y.mean(), rel=0.02)
