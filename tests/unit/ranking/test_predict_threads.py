"""Serving-sized predictions run LightGBM on one thread (its OpenMP team waited for a busy second
core: a single row's predict went from ~0.02 ms to 6-12 ms with both cores held); large batches keep the default."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from ranking import gbm
from ranking.explain import grouped_contribution_array


class Recording:
    """Wraps a booster and records the keywords of every ``predict`` call."""

    def __init__(self, booster: lgb.Booster):
        self.booster, self.calls = booster, []

    def predict(self, Z, **kw):
        self.calls.append(kw)
        return self.booster.predict(Z, **kw)


def _booster(num_class: int = 1) -> lgb.Booster:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1) if num_class > 1 else np.exp(X[:, 0])
    params = {"objective": "multiclass", "num_class": num_class} if num_class > 1 else {"objective": "tweedie"}
    return lgb.train({**params, "verbose": -1, "num_leaves": 7}, lgb.Dataset(X, y), 10)


def test_small_batches_predict_on_one_thread_and_large_ones_on_the_default():
    spend, tier = Recording(_booster()), Recording(_booster(3))
    member = np.eye(3)
    for n, want in ((1, 1), (32, 1), (gbm.SINGLE_THREAD_ROWS, None)):
        Z = np.zeros((n, 3))
        gbm.predict_pp(spend, "tweedie", Z, 10)
        gbm.predict_tier_proba(tier, Z, 10)
        grouped_contribution_array(tier, Z, member, 10)
        assert [c.get("num_threads") for c in spend.calls + tier.calls] == [want] * 3
        spend.calls.clear(), tier.calls.clear()


def test_one_thread_gives_the_same_numbers():
    booster = _booster(3)
    Z = np.random.default_rng(1).normal(size=(5, 3))
    np.testing.assert_array_equal(gbm.predict_tier_proba(booster, Z, 10),
                                  np.asarray(booster.predict(Z, num_iteration=10)).reshape(5, -1))
