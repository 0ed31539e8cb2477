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


def test_concurrent_fits_never_share_a_dataset(monkeypatch):
    """LightGBM's train() rewrites its validation Dataset's feature names; two threads doing that on
    one Dataset read back freed memory (the intermittent "special JSON characters" error). Each of
    the ``parallel`` fits of a batch gets its own pair."""
    import ranking.tuning as tuning

    seen: list[tuple[int, int, int]] = []
    fit = tuning.train_once

    def recording(params, dtrain, dvalid, *rest):
        seen.append((id(dtrain), id(dvalid), id(dvalid.reference)))
        return fit(params, dtrain, dvalid, *rest)

    monkeypatch.setattr(tuning, "train_once", recording)
    dtrain, dvalid = _data()
    tune(BASE, dtrain, dvalid, trials=6, seed=11, num_boost_round=60, early_stopping_rounds=10, parallel=3)
    assert len(seen) == 6
    assert len({t for t, _, _ in seen}) == 3 and len({v for _, v, _ in seen}) == 3
    assert all(ref == t for t, _, ref in seen)  # each validation copy is binned by its own training copy


def test_parallel_fits_on_copies_score_as_on_the_original_datasets():
    """The copies bin exactly as the originals: every trial of a parallel search has the validation
    loss and rounds that the same parameters get on the original pair."""
    dtrain, dvalid = _data()
    for h in _history(3):
        booster = train_once({**BASE, **h["params"]}, dtrain, dvalid, 60, 10)
        assert (valid_score(booster, "l2"), booster.best_iteration) == (h["valid_loss"], h["best_iteration"])


def test_a_copied_pair_keeps_weights_init_scores_and_the_shared_reference():
    from ranking.tuning import copy_dataset, dataset_slots

    rng = np.random.default_rng(5)
    Z, y = rng.normal(size=(300, 4)), rng.gamma(2.0, size=300)
    names = ["a", "b", "c", "d"]
    base = make_dataset(Z, y, names)
    start = np.log(y[:200].mean())  # a log-link init score, as the Tweedie candidates have
    dtrain = make_dataset(Z[:200], y[:200], names, weight=rng.uniform(0.5, 2, 200), reference=base,
                          init_score=np.full(200, start))
    dvalid = make_dataset(Z[200:], y[200:], names, reference=dtrain, init_score=np.full(100, start))
    (t0, v0), (t1, v1) = dataset_slots(dtrain, dvalid, 2)
    assert (t0, v0) == (dtrain, dvalid) and t1 is not dtrain and t1.reference is base and v1.reference is t1
    np.testing.assert_array_equal(t1.get_weight(), dtrain.get_weight())
    np.testing.assert_array_equal(v1.get_init_score(), dvalid.get_init_score())
    params = {**BASE, "objective": "tweedie", "metric": "tweedie", **DEFAULTS}
    a, b = (train_once(params, t, v, 40, 5) for t, v in ((t0, v0), (t1, v1)))
    assert a.model_to_string() == b.model_to_string()
    assert copy_dataset(dvalid, reference=dtrain).feature_name == names
