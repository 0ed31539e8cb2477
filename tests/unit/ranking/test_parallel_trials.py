"""Optuna trials fitted in parallel threads give the same search for a fixed seed, whatever the
timing; one at a time it is exactly the plain sequential ``study.optimize`` search."""

from __future__ import annotations

import numpy as np
import optuna

from ranking.gbm import base_params, make_dataset
from ranking.params import TrainParams
from ranking.tuning import DEFAULTS, suggest, train_once, tune, valid_score


def _data():
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(600, 5))
    y = Z[:, 0] * 2 + np.sin(Z[:, 1]) + rng.normal(scale=0.3, size=600)
    dtrain = make_dataset(Z[:400], y[:400], [f"f{i}" for i in range(5)])
    return dtrain, make_dataset(Z[400:], y[400:], [f"f{i}" for i in range(5)], reference=dtrain)


BASE = {**base_params(TrainParams()), "objective": "regression", "metric": "l2"}


def _history(parallel: int) -> list[dict]:
    dtrain, dvalid = _data()
    return tune(BASE, dtrain, dvalid, trials=6, seed=11, num_boost_round=60, early_stopping_rounds=10,
                parallel=parallel)[2]


def test_parallel_search_is_reproducible_and_keeps_trial_order():
    first, again = _history(3), _history(3)
    assert first == again and [h["trial"] for h in first] == list(range(6))
    assert first[0]["params"] == DEFAULTS


def test_one_at_a_time_equals_the_sequential_optimize_search():
    dtrain, dvalid = _data()
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=11))
    study.enqueue_trial(DEFAULTS)
    study.optimize(lambda t: valid_score(train_once({**BASE, **suggest(t)}, dtrain, dvalid, 60, 10), "l2"),
                   n_trials=6)
    assert [h["valid_loss"] for h in _history(1)] == [t.value for t in study.trials]
