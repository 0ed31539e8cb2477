"""The spend model's mean calibration: out-of-fold on training rows, never on validation or test rows."""

from __future__ import annotations

import numpy as np
import pytest

from ranking import gbm
from ranking.params import TrainParams

NAMES = ["f0", "f1", "f2"]


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-inflated spend driven by the first feature."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    buys = rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))
    return X, np.where(buys, np.exp(2 + 0.5 * X[:, 1] + rng.normal(0, 0.5, n)), 0.0)


@pytest.fixture(scope="module")
def tweedie():
    X, y = _data(400, 0)
    Xv, yv = _data(150, 1)
    params = {**gbm.base_params(TrainParams(seed=0, num_threads=1)), **gbm.PP_OBJECTIVES["tweedie"],
              "learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 20}
    dtrain = gbm.make_dataset(X, y, NAMES)
    booster = gbm._fit_fixed(params, dtrain, 30)
    groups = np.repeat(np.arange(200), 2)  # two rows (cutoffs) per user
    folds = gbm.user_folds(groups, 3, seed=0)
    return X, y, Xv, yv, params, dtrain, booster, groups, folds


def test_user_folds_keep_each_users_rows_together_and_use_every_fold(tweedie):
    *_, groups, folds = tweedie
    assert set(folds) == {0, 1, 2}
    for user in np.unique(groups):
        assert len(set(folds[groups == user])) == 1
    assert gbm.user_folds(np.arange(10), 3, seed=0) is None  # too few users: validation mean instead


def test_out_of_fold_prediction_never_sees_its_own_rows_labels(tweedie):
    X, y, _, _, params, dtrain, _, _, folds = tweedie
    oof = gbm.oof_boosters("tweedie", params, X, y, NAMES, {}, 30, folds, dtrain)
    y2 = y.copy()
    y2[folds == 0] *= 50  # fold 0's labels changed: fold 0's own predictions must not move
    oof2 = gbm.oof_boosters("tweedie", params, X, y2, NAMES, {}, 30, folds, dtrain)
    cand = {"blend": None, "sharpen": 1.0}
    a, b = gbm.oof_prediction(oof, "tweedie", X, 30, cand), gbm.oof_prediction(oof2, "tweedie", X, 30, cand)
    np.testing.assert_allclose(a[folds == 0], b[folds == 0])
    assert not np.allclose(a[folds != 0], b[folds != 0])


def test_scale_comes_from_training_rows_not_validation_labels(tweedie):
    X, y, Xv, yv, params, dtrain, booster, _, folds = tweedie
    oof = (gbm.oof_boosters("tweedie", params, X, y, NAMES, {}, 30, folds, dtrain), X, y)
    variants = [{"blend": None, "sharpen": 1.0}]
    cand, _, _ = gbm._best_variant(booster, "tweedie", 30, variants, Xv, yv, 0, oof)
    cand10, _, _ = gbm._best_variant(booster, "tweedie", 30, variants, Xv, yv * 10, 0, oof)
    expected = np.mean(y) / np.mean(gbm.oof_prediction(oof[0], "tweedie", X, 30, variants[0]))
    assert cand["scale"] == pytest.approx(expected) and cand10["scale"] == pytest.approx(expected)
    assert cand["scale_source"].startswith("out-of-fold")
    old, _, _ = gbm._best_variant(booster, "tweedie", 30, variants, Xv, yv * 10, 0)  # no folds: validation mean
    assert old["scale_source"] == "validation mean" and old["scale"] > 5 * cand["scale"]


@pytest.mark.parametrize("split, source", [("user", "out-of-fold"), ("time", "validation mean")])
def test_the_split_decides_where_the_scale_is_fitted(split, source):
    X, y = _data(300, 2)
    Xv, yv = _data(100, 3)
    p = TrainParams(seed=0, trials=0, num_threads=1, num_boost_round=40, split=split)
    _, selected, info = gbm.fit_purchasing_power(X, y, Xv, yv, NAMES, p, groups=np.arange(len(y)) // 2)
    assert all(i["scale_source"].startswith(source) for o, i in info.items() if o != "ensemble")


def test_the_main_model_is_the_declared_ensemble_mean_of_its_members():
    X, y = _data(300, 4)
    Xv, yv = _data(100, 5)
    p = TrainParams(seed=0, trials=0, num_threads=1, num_boost_round=40, split="time")  # no refit
    boosters, selected, info = gbm.fit_purchasing_power(X, y, Xv, yv, NAMES, p)
    assert selected == "ensemble" and info["ensemble"]["members"] == list(gbm.ENSEMBLE)
    members = [gbm.predict_pp(boosters[o], o, Xv, info[o]["best_iteration"], info[o]) for o in gbm.ENSEMBLE]
    np.testing.assert_allclose(gbm.predict_selected(boosters, selected, info, Xv), np.mean(members, axis=0))
    assert info["ensemble"]["valid_rmse"] == pytest.approx(np.sqrt(np.mean((np.mean(members, axis=0) - yv) ** 2)))
    assert gbm.explained_objective(selected, info) == "ziln"
    assert gbm.predict_selected(boosters, "tweedie", info, Xv) == pytest.approx(members[1])


def test_user_split_refits_on_training_and_validation_rows_and_time_split_does_not():
    X, y = _data(300, 6)
    Xv, yv = _data(100, 7)
    for split, rows in (("user", 400), ("time", 300)):
        p = TrainParams(seed=0, trials=0, num_threads=1, num_boost_round=40, split=split)
        boosters, _, info = gbm.fit_purchasing_power(X, y, Xv, yv, NAMES, p)
        for objective in ("tweedie", "ziln"):  # rows at the first tree's root: what the booster learned from
            assert boosters[objective].dump_model()["tree_info"][0]["tree_structure"]["internal_count"] == rows
            assert (info[objective].get("refit") == "training + validation rows") == (split == "user")
        if split == "user":
            assert info["ziln"]["scale_source"].startswith("out-of-fold training + validation")


def _with_btyd_p(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Zero-inflated spend plus a ``btyd_p_buy`` column: the true buy probability, blurred by ``noise``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    p_true = 1 / (1 + np.exp(-2 * X[:, 0]))
    y = np.where(rng.random(n) < p_true, np.exp(2 + 0.5 * X[:, 1] + rng.normal(0, 0.5, n)), 0.0)
    p_btyd = np.clip(p_true + rng.normal(0, noise, n), 0.01, 0.99)
    return np.c_[X, p_btyd], y


@pytest.mark.parametrize("noise, shared", [(0.45, True), (0.0, False)])
def test_candidates_are_sharpened_by_zilns_p_buy_only_when_it_beats_btyds_on_validation(noise, shared):
    names = NAMES + [gbm.P_BUY_COLUMN]
    X, y = _with_btyd_p(600, 8, noise)
    Xv, yv = _with_btyd_p(300, 9, noise)
    p = TrainParams(seed=0, trials=0, num_threads=1, num_boost_round=60, split="user")
    boosters, _, info = gbm.fit_purchasing_power(X, y, Xv, yv, names, p)
    losses = info["ziln"].get("p_buy_log_loss")
    assert (losses is not None and losses["ziln"] < losses["btyd"]) == shared
    assert (info["tweedie"].get("p_source") == "ziln") == shared and "p_source" not in info["ziln"]
    sharp = {**info, "tweedie": {**info["tweedie"], "sharpen": 2.0}}  # force a sharpening to see its P(buy)
    got = gbm.predict_selected(boosters, "tweedie", sharp, Xv)
    p_ziln = gbm._model_pp(boosters["ziln"], "ziln", Xv, info["ziln"]["best_iteration"], info["ziln"])[1]
    own = gbm.predict_pp(boosters["tweedie"], "tweedie", Xv, info["tweedie"]["best_iteration"], sharp["tweedie"],
                         p_ziln if shared else None)
    np.testing.assert_allclose(got, own)
    plain = gbm.predict_pp(boosters["tweedie"], "tweedie", Xv, info["tweedie"]["best_iteration"], sharp["tweedie"])
    assert np.allclose(got, plain) != shared  # without the ZILN P(buy): BTYD's column


class _Counting:
    """A booster stand-in that counts its ``predict`` calls."""

    def __init__(self, booster):
        self.booster, self.calls = booster, 0

    def predict(self, *args, **kwargs):
        self.calls += 1
        return self.booster.predict(*args, **kwargs)


def test_an_ensemble_predicts_each_booster_once_when_one_members_p_buy_sharpens_another():
    names = NAMES + [gbm.P_BUY_COLUMN]
    X, y = _with_btyd_p(600, 8, 0.45)
    Xv, yv = _with_btyd_p(300, 9, 0.45)
    p = TrainParams(seed=0, trials=0, num_threads=1, num_boost_round=60, split="user")
    boosters, _, info = gbm.fit_purchasing_power(X, y, Xv, yv, names, p)
    sharp = {**info, "tweedie": {**info["tweedie"], "sharpen": 2.0, "p_source": "ziln"},
             "ensemble": {**info.get("ensemble", {}), "members": ["ziln", "tweedie"]}}
    want = np.mean([gbm.predict_pp(boosters["ziln"], "ziln", Xv, info["ziln"]["best_iteration"], sharp["ziln"]),
                    gbm.predict_pp(boosters["tweedie"], "tweedie", Xv, info["tweedie"]["best_iteration"],
                                   sharp["tweedie"], gbm._model_pp(boosters["ziln"], "ziln", Xv,
                                                                   info["ziln"]["best_iteration"], info["ziln"])[1])],
                   axis=0)
    counting = {o: _Counting(b) for o, b in boosters.items()}
    np.testing.assert_allclose(gbm.predict_selected(counting, "ensemble", sharp, Xv), want)
    assert counting["ziln"].calls == 1 and counting["tweedie"].calls == 1


def test_the_likelihood_candidates_start_from_their_regularised_first_trials():
    """Tweedie and ZILN's first trial (the whole fit under trials 0) is their own slower, smaller
    one; log1p-L2 keeps the shared defaults."""
    from ranking.tuning import DEFAULTS

    X, y = _data(300, 12)
    Xv, yv = _data(100, 13)
    p = TrainParams(seed=0, trials=0, num_threads=1, num_boost_round=60, split="time")
    _, _, info = gbm.fit_purchasing_power(X, y, Xv, yv, NAMES, p)
    for objective in ("tweedie", "ziln"):
        assert info[objective]["params"] == {**DEFAULTS, **gbm.PP_OBJECTIVES[objective]["defaults"]}
        assert info[objective]["params"]["learning_rate"] < DEFAULTS["learning_rate"]
        assert info[objective]["params"]["num_leaves"] < DEFAULTS["num_leaves"]
    assert info["log1p_l2"]["params"] == DEFAULTS
