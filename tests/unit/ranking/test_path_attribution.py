"""Path contributions (ranking.explain.path_table / path_contribution_array) against brute force,
TreeSHAP where the two must agree, and the raw scores they decompose."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from ranking.explain import group_membership, grouped_contribution_array, path_contribution_array, path_table


def _data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[rng.random(n) < 0.1, 2] = np.nan  # missing values take the learned default branch
    return X, X[:, 0] * 2 + np.where(np.isnan(X[:, 2]), 1.0, X[:, 2]) * X[:, 1] + rng.normal(0, 0.3, n)


def _fit(params: dict, X: np.ndarray, y: np.ndarray, rounds: int = 20) -> lgb.Booster:
    return lgb.train({"verbosity": -1, "seed": 0, "num_threads": 1, "min_data_in_leaf": 5, **params},
                     lgb.Dataset(X, y), rounds)


IDENTITY = np.eye(5)  # one group per feature


def _brute_force(booster: lgb.Booster, x: np.ndarray, num_iteration: int, member: np.ndarray,
                 output: int = 0) -> np.ndarray:
    """Walk each tree of ``output`` from the root with the row, crediting each split's feature
    with the change of the count-weighted mean leaf value below the nodes (an independent walk
    over ``trees_to_dataframe``)."""
    trees = booster.trees_to_dataframe()
    k_count = booster.num_model_per_iteration()
    out = np.zeros(member.shape[1])
    for t in range(output, num_iteration * k_count, k_count):
        nodes = trees[trees.tree_index == t].set_index("node_index")

        def expected(name: str) -> float:
            leaves = _leaves_under(nodes, name)
            return float(np.average(nodes.loc[leaves, "value"], weights=nodes.loc[leaves, "count"]))

        name = f"{t}-S0" if f"{t}-S0" in nodes.index else f"{t}-L0"
        while not name.split("-")[1].startswith("L"):
            row = nodes.loc[name]
            j = int(row.split_feature.replace("Column_", ""))
            v = x[j]
            go_left = (row.missing_direction == "left") if np.isnan(v) else v <= row.threshold
            child = row.left_child if go_left else row.right_child
            out += (expected(child) - expected(name)) * member[j]
            name = child
    return out


def _leaves_under(nodes, name: str) -> list[str]:
    if "-L" in name:
        return [name]
    row = nodes.loc[name]
    return _leaves_under(nodes, row.left_child) + _leaves_under(nodes, row.right_child)


def test_path_contributions_equal_a_brute_force_walk_of_every_tree():
    X, y = _data()
    booster = _fit({"objective": "regression", "num_leaves": 15}, X, y)
    table = path_table(booster, IDENTITY, 12)
    got = path_contribution_array(booster, table, X[:25], 12)
    want = np.array([_brute_force(booster, x, 12, IDENTITY) for x in X[:25]])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_contributions_plus_treeshaps_bias_give_the_raw_score():
    """Local accuracy: the same expected value as TreeSHAP's bias column, so raw - sum is that bias."""
    X, y = _data()
    booster = _fit({"objective": "regression", "num_leaves": 31}, X, y)
    got = path_contribution_array(booster, path_table(booster, IDENTITY, 20), X, 20)
    bias = booster.predict(X, pred_contrib=True)[:, -1]
    np.testing.assert_allclose(got.sum(axis=1) + bias, booster.predict(X, raw_score=True), rtol=1e-9, atol=1e-9)


def test_on_stumps_path_contributions_are_the_shapley_values():
    """With one split per tree the split's feature is the only player: TreeSHAP gives it exactly
    the path attribution, so the two must agree to rounding."""
    X, y = _data()
    booster = _fit({"objective": "regression", "num_leaves": 2}, X, y, rounds=30)
    got = path_contribution_array(booster, path_table(booster, IDENTITY, 30), X[:100], 30)
    np.testing.assert_allclose(got, grouped_contribution_array(booster, X[:100], IDENTITY, 30), atol=1e-10)


def test_groups_sum_their_features_and_a_multiclass_row_gets_its_own_class():
    X, y = _data()
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    booster = _fit({"objective": "multiclass", "num_class": 3, "num_leaves": 7}, X, labels, rounds=10)
    names, member = group_membership([f"f{i}" for i in range(5)], {"f0": "a", "f1": "b", "f2": "b", "f3": "c", "f4": "c"})
    assert names == ["a", "b", "c"]
    classes = np.array([0, 1, 2, 2, 1, 0])
    per_feature = path_contribution_array(booster, path_table(booster, IDENTITY, 10), X[:6], 10, classes)
    grouped = path_contribution_array(booster, path_table(booster, member, 10), X[:6], 10, classes)
    np.testing.assert_allclose(grouped, per_feature @ member, atol=1e-12)
    for i, k in enumerate(classes):
        np.testing.assert_allclose(per_feature[i], _brute_force(booster, X[i], 10, IDENTITY, output=int(k)),
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("rows", [1, 7])
def test_large_batches_are_gathered_in_chunks_with_the_same_result(monkeypatch, rows):
    import ranking.explain as explain

    X, y = _data()
    booster = _fit({"objective": "regression", "num_leaves": 15}, X, y)
    table = path_table(booster, IDENTITY, 20)
    whole = path_contribution_array(booster, table, X, 20)
    monkeypatch.setattr(explain, "_GATHER_CELLS", rows * 20 * 5)  # `rows` rows per gather
    np.testing.assert_array_equal(path_contribution_array(booster, table, X, 20), whole)
