"""PSI and the retrain advice (pure, no workspace)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.backtest.drift import psi, psi_frame, relative_drop, retrain_reasons


def test_psi_is_zero_for_the_same_sample_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, rng.normal(size=5000)) < 0.02  # same distribution, new draw
    assert psi(ref, rng.normal(loc=1.0, size=5000)) > 0.2


def test_psi_sees_missingness_and_handles_constants_and_empties():
    ref = np.r_[np.zeros(900), np.full(100, np.nan)]
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    more_missing = np.r_[np.zeros(500), np.full(500, np.nan)]
    assert psi(ref, more_missing) > 0.2
    assert np.isnan(psi(ref, np.array([])))
    assert np.isfinite(psi(np.full(10, np.nan), np.ones(10)))  # all-missing reference: one bin


def test_psi_frame_sorts_largest_first():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    cur = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(loc=2.0, size=2000)})
    out = psi_frame(ref, cur)
    assert list(out.index) == ["b", "a"] and out["b"] > 0.2 > out["a"]


def test_retrain_reasons_from_drift_and_metric_drop():
    first = {"pp_gini": 0.5, "tier_qwk": 0.8, "max_feature_psi": 0.05, "max_feature": "x", "prediction_psi": 0.01}
    assert retrain_reasons(first, first, 0.2, 0.1) == []
    worse = {**first, "pp_gini": 0.4, "max_feature_psi": 0.3, "max_feature": "spend_30d"}
    reasons = retrain_reasons(worse, first, 0.2, 0.1)
    assert len(reasons) == 2 and "spend_30d" in reasons[0] and "pp_gini fell 20%" in reasons[1]
    assert relative_drop(None, 0.3) is None and relative_drop(0.5, 0.6) == pytest.approx(-0.2)
