"""The array scorer's per-class tier boosters (issue 14, item 13): the same raw scores and
TreeSHAP contributions as the multiclass model, from a quarter of the trees."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from pipelines.serve.scoring import class_boosters


def test_class_boosters_reproduce_each_class_of_the_multiclass_model():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 8))
    y = np.digitize(X[:, :3].sum(axis=1), [-1.5, 0.0, 1.5])
    booster = lgb.train({"objective": "multiclass", "num_class": 4, "verbose": -1, "num_threads": 1,
                         "num_leaves": 7, "min_data_in_leaf": 5}, lgb.Dataset(X, y), 25)
    best = 18  # cut before the end, as early stopping does
    full = booster.predict(X[:40], pred_contrib=True, num_iteration=best).reshape(40, 4, -1)
    raw = booster.predict(X[:40], raw_score=True, num_iteration=best)
    parts = class_boosters(booster, best)
    assert [b.num_trees() for b in parts] == [best] * 4
    for k, part in enumerate(parts):
        np.testing.assert_array_equal(part.predict(X[:40], pred_contrib=True), full[:, k])
        np.testing.assert_array_equal(part.predict(X[:40], raw_score=True), raw[:, k])


def test_class_boosters_keep_only_the_requested_outputs_with_their_exact_contributions():
    """The spend reasons explain output 0 of a multi-output booster (the ZILN's P(buy) logit):
    the scorer keeps that output's trees only, with the bits of the full model's block 0."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 6))
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1,
                         "num_leaves": 7, "min_data_in_leaf": 5}, lgb.Dataset(X, y), 20)
    full = booster.predict(X[:30], pred_contrib=True, num_iteration=15).reshape(30, 3, -1)
    (first,) = class_boosters(booster, 15, classes=[0])
    assert first.num_trees() == 15
    np.testing.assert_array_equal(first.predict(X[:30], pred_contrib=True), full[:, 0])
