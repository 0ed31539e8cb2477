"""The zero-inflated lognormal objective: exact gradients, and a fit that recovers P(buy) and the mean."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from ranking import gbm, ziln


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x ~ U(0, 1); P(buy) = 0.2 + 0.6x; log spend | buy ~ N(2 + 2x, 0.5^2). Returns (X, y, p, mean)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=n)
    p, mu, sigma = 0.2 + 0.6 * x, 2 + 2 * x, 0.5
    y = np.where(rng.uniform(size=n) < p, np.exp(rng.normal(mu, sigma)), 0.0)
    return x[:, None], y, p, p * np.exp(mu + sigma ** 2 / 2)


def test_gradient_matches_finite_differences_of_the_loss():
    rng = np.random.default_rng(0)
    y = np.where(rng.uniform(size=40) < 0.5, rng.lognormal(1.0, 1.0, size=40), 0.0)
    z = rng.normal(size=(40, 3))
    grad, hess = ziln.objective(z, lgb.Dataset(np.zeros((40, 1)), label=y).construct())
    assert (hess > 0).all()
    eps = 1e-6
    for j in range(3):
        step = np.zeros_like(z)
        step[:, j] = eps
        per_row = [(ziln.negative_log_likelihood(z[i:i + 1] + step[i:i + 1], y[i:i + 1])
                    - ziln.negative_log_likelihood(z[i:i + 1] - step[i:i + 1], y[i:i + 1])) / (2 * eps)
                   for i in range(len(y))]
        np.testing.assert_allclose(grad[:, j], per_row, rtol=1e-4, atol=1e-6)


def test_init_scores_need_both_zero_and_positive_spend():
    with pytest.raises(ValueError, match="both zero and positive"):
        ziln.init_scores(np.zeros(5))
    with pytest.raises(ValueError, match="both zero and positive"):
        ziln.init_scores(np.ones(5))


def test_fit_recovers_p_buy_and_the_mean_and_is_not_capped_on_the_money_scale():
    X, y, p_true, mean_true = _data(6000, 1)
    Xv, yv, _, _ = _data(2000, 2)
    info = {"ziln_init": ziln.init_scores(y)}
    params = {**gbm.PP_OBJECTIVES["ziln"], "seed": 0, "verbose": -1, "num_threads": 1}
    params.update(params.pop("defaults"))
    feval = params.pop("feval")
    params["metric"] = "None"
    dtrain = lgb.Dataset(X, y, init_score=gbm.offset(X, info))
    dvalid = lgb.Dataset(Xv, yv, init_score=gbm.offset(Xv, info), reference=dtrain)
    booster = lgb.train(params, dtrain, 600, valid_sets=[dvalid], feval=feval,
                        callbacks=[lgb.early_stopping(30, verbose=False)])
    spend, p_buy = gbm._model_pp(booster, "ziln", X, booster.best_iteration, info)
    assert np.corrcoef(p_buy, p_true)[0, 1] > 0.95 and np.abs(p_buy - p_true).mean() < 0.05
    assert spend.mean() == pytest.approx(y.mean(), rel=0.1)
    assert np.corrcoef(np.log(spend), np.log(mean_true))[0, 1] > 0.95
    assert spend.max() > np.quantile(y[y > 0], 0.75)  # the top of the range is reached, not squashed
