"""Columns no tree can split on the training rows (constant, or all missing) must not change a fit:
LightGBM's feature_fraction draw once counted them, so a constant season column of a single
calibration cutoff moved every CDNOW prediction."""

from __future__ import annotations

import numpy as np

from ranking import gbm
from ranking.params import TrainParams

PARAMS = TrainParams(seed=3, num_threads=1, trials=2, num_boost_round=60, early_stopping_rounds=10, split="time")


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four live features; zero-inflated spend and a 3-class tier driven by them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    buys = rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))
    spend = np.where(buys, np.exp(2 + 0.5 * X[:, 1] + 0.3 * X[:, 2] + rng.normal(0, 0.5, n)), 0.0)
    tier = np.digitize(X[:, 0] + X[:, 3] + rng.normal(0, 0.5, n), [-0.5, 0.8])
    return X, spend, tier


def _with_dead(X: np.ndarray) -> np.ndarray:
    """The same rows with a constant and an all-NaN column in front and behind."""
    n = len(X)
    return np.hstack([np.ones((n, 1)), X, np.full((n, 1), np.nan)])


NAMES = [f"f{i}" for i in range(4)]
DEAD_NAMES = ["const", *NAMES, "missing"]


def test_dead_columns_do_not_move_the_spend_model():
    (X, y, _), (Xv, yv, _) = _rows(600, 0), _rows(200, 1)
    b, sel, info = gbm.fit_purchasing_power(X, y, Xv, yv, NAMES, PARAMS)
    bd, seld, infod = gbm.fit_purchasing_power(_with_dead(X), y, _with_dead(Xv), yv, DEAD_NAMES, PARAMS)
    assert sel == seld
    np.testing.assert_allclose(gbm.predict_selected(bd, seld, infod, _with_dead(Xv)),
                               gbm.predict_selected(b, sel, info, Xv), rtol=1e-9)


def test_dead_columns_do_not_move_the_tier_model():
    (X, _, t), (Xv, _, tv) = _rows(600, 0), _rows(200, 1)
    b, info = gbm.fit_tier(X, t, Xv, tv, NAMES, 3, PARAMS)
    bd, infod = gbm.fit_tier(_with_dead(X), t, _with_dead(Xv), tv, DEAD_NAMES, 3, PARAMS)
    assert info["params"] == infod["params"]
    np.testing.assert_allclose(gbm.predict_tier_proba(bd, _with_dead(Xv), bd.best_iteration),
                               gbm.predict_tier_proba(b, Xv, b.best_iteration), rtol=1e-9)
