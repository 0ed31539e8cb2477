"""The tier model's one-standard-error choice among tuning trials (issue 14, item 13: serving
explains every prediction with TreeSHAP, whose cost grows with the leaves walked)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from ranking.gbm import tier_log_loss
from ranking.tuning import leaf_count, simplest_within_one_se

PARAMS = {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1, "seed": 0,
          "deterministic": True, "force_row_wise": True, "min_data_in_leaf": 5}


def _data(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = np.digitize(X[:, 0] + X[:, 1] ** 2 / 2 + noise * rng.standard_normal(n), [-0.3, 0.9])
    return X, y


def _fit(X, y, leaves: int, rounds: int) -> lgb.Booster:
    booster = lgb.train({**PARAMS, "num_leaves": leaves}, lgb.Dataset(X, y), rounds)
    booster.best_iteration = rounds
    return booster


def test_leaf_count_counts_the_trees_up_to_the_best_iteration():
    X, y = _data(300, 0, 0.3)
    booster = _fit(X, y, 7, 10)
    assert leaf_count(booster) == sum(t["num_leaves"] for t in booster.dump_model()["tree_info"])
    booster.best_iteration = 4
    assert leaf_count(booster) == sum(t["num_leaves"] for t in booster.dump_model()["tree_info"][:4 * 3])


def _losses(by_booster: dict[int, np.ndarray]):
    return lambda booster: by_booster[id(booster)]


def test_a_larger_model_inside_the_noise_loses_to_the_smaller_one():
    X, y = _data(300, 1, 0.5)
    big, small = _fit(X, y, 31, 40), _fit(X, y, 4, 10)
    rng = np.random.default_rng(0)
    base = rng.exponential(0.5, 400)  # per-row losses: mean ~0.5, standard error ~0.025
    se = base.std() / np.sqrt(len(base))
    rows = {id(big): base, id(small): base + 0.5 * se}  # half a standard error worse
    chosen, why = simplest_within_one_se([big, small], _losses(rows), np.ones(len(base)))
    assert why["best_trial"] == 0 and why["leaves"][1] < why["leaves"][0]
    assert chosen == 1


def test_a_clearly_better_model_is_kept_even_when_larger():
    X, y = _data(300, 2, 0.5)
    big, small = _fit(X, y, 31, 40), _fit(X, y, 4, 10)
    base = np.random.default_rng(1).exponential(0.5, 400)
    se = base.std() / np.sqrt(len(base))
    rows = {id(big): base, id(small): base + 1.5 * se}  # beyond one standard error
    chosen, why = simplest_within_one_se([small, big], _losses(rows), np.ones(len(base)))
    assert chosen == 1 == why["best_trial"]


def test_weights_enter_the_mean_and_its_standard_error():
    X, y = _data(400, 5, 0.5)
    Xv, yv = _data(200, 6, 0.5)
    booster = _fit(X, y, 7, 10)
    w = np.where(yv == 2, 3.0, 1.0)
    _, why = simplest_within_one_se([booster], lambda b: tier_log_loss(b, Xv, yv), w)
    loss = tier_log_loss(booster, Xv, yv)
    mean = np.sum(w * loss) / np.sum(w)
    assert why["valid_losses"][0] == np.float64(mean)
    assert np.isclose(why["best_se"], np.sqrt(np.sum(w ** 2 * (loss - mean) ** 2)) / np.sum(w))
