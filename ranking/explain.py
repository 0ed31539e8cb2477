"""Explanations of a LightGBM model, summed into readable groups: each text profile and each
transactional family.

Two attributions, both exact in the sense that a row's contributions plus the bias add up to its
raw score:

- **path** (the reasons' default, ``train.reasons``): each split on the row's root-to-leaf path
  gives its feature the change in the expected output (count-weighted mean leaf value) between the
  node and the child taken (Saabas; XGBoost's ``approx_contribs``). It depends only on the leaf
  reached, so a table of (tree, leaf) -> grouped contributions, built once per model, turns a
  row's explanation into one ``pred_leaf`` call and a gather: 0.17 ms against TreeSHAP's 1.44 ms for
  a served row of the demo run (docs/BENCHMARKS.md, "Serving"). Unlike Shapley values it favours
  features split near the root; on that run's rows the top reason was TreeSHAP's for 87% of rows.
- **treeshap**: LightGBM's ``pred_contrib`` (path-dependent TreeSHAP, exact Shapley values);
  what the global importance in reports uses, and the reasons' method under ``reasons: treeshap``.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from ranking.dataset import FeatureSpec
from ranking.gbm import predict_threads

REASON_METHODS = ("path", "treeshap")
_GATHER_CELLS = 1 << 22  # rows x trees x groups gathered at once by path_contribution_array (32 MiB)


def feature_groups(spec: FeatureSpec, columns: list[str]) -> dict[str, str]:
    """Explanation group of every Z column: ``<view>_profile`` for X, the family name for Y."""
    groups = {}
    for col in columns:
        view = next((v for v in spec.text_views if col.startswith(f"{v}_")), None)
        if col in spec.families:
            groups[col] = spec.families[col]
        else:
            groups[col] = f"{view}_profile" if view is not None else "other"
    return groups


def group_membership(columns: list[str], groups: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """Sorted group names and the 0/1 matrix (columns x groups) that sums feature contributions
    into them; fixed per model, so serving builds it once."""
    of = np.array([groups[c] for c in columns], dtype=object)
    names = sorted(set(of))
    return names, (of[:, None] == np.array(names, dtype=object)[None, :]).astype(np.float64)


def grouped_contribution_array(booster: lgb.Booster, Z: np.ndarray, member: np.ndarray, num_iteration: int,
                               class_index: np.ndarray | None = None) -> np.ndarray:
    """:func:`group_contributions` as a bare array (rows x groups of ``member``): no pandas frame,
    which cost more than LightGBM's own TreeSHAP for one served row."""
    contrib = np.asarray(booster.predict(Z, pred_contrib=True, num_iteration=num_iteration, **predict_threads(len(Z))))
    width = member.shape[0] + 1
    if contrib.shape[1] > width:  # multiclass: K blocks of (features + bias)
        blocks = contrib.reshape(len(Z), -1, width)
        idx = np.zeros(len(Z), dtype=int) if class_index is None else np.asarray(class_index, dtype=int)
        contrib = blocks[np.arange(len(Z)), idx]
    return contrib[:, :-1] @ member


def path_table(booster: lgb.Booster, member: np.ndarray, num_iteration: int) -> np.ndarray:
    """(trees, leaves, groups) path contributions of every leaf of the first ``num_iteration``
    iterations' trees, in LightGBM's tree order (``pred_leaf``'s columns)."""
    trees = booster.dump_model(num_iteration=num_iteration)["tree_info"]
    table = np.zeros((len(trees), max(t["num_leaves"] for t in trees), member.shape[1]))
    for t, tree in enumerate(trees):
        _fill_leaves(tree["tree_structure"], np.zeros(member.shape[1]), member, table[t])
    return table


def _expected(node: dict) -> tuple[float, float]:
    """(expected output, data count) of a dumped tree node: leaf values weighted by their counts,
    as TreeSHAP's expected value weights them. Cached on the node."""
    if "_expected" not in node:
        if "split_feature" not in node:
            node["_expected"] = (float(node["leaf_value"]), float(node.get("leaf_count", 0)))
        else:
            (lv, lc), (rv, rc) = _expected(node["left_child"]), _expected(node["right_child"])
            count = lc + rc
            node["_expected"] = ((lv * lc + rv * rc) / count if count else 0.5 * (lv + rv), count)
    return node["_expected"]


def _fill_leaves(node: dict, acc: np.ndarray, member: np.ndarray, out: np.ndarray) -> None:
    """Write into ``out[leaf]`` the grouped contributions accumulated on the path to each leaf."""
    if "split_feature" not in node:
        out[node.get("leaf_index", 0)] = acc  # a one-leaf tree has no index and explains nothing
        return
    here, group = _expected(node)[0], member[node["split_feature"]]
    for side in ("left_child", "right_child"):
        _fill_leaves(node[side], acc + (_expected(node[side])[0] - here) * group, member, out)


def path_contribution_array(booster: lgb.Booster, table: np.ndarray, Z: np.ndarray, num_iteration: int,
                            class_index: np.ndarray | None = None) -> np.ndarray:
    """Grouped path contributions (rows x groups) from a :func:`path_table` of the same booster and
    ``num_iteration``; a booster with K outputs per iteration explains output ``class_index`` (per
    row; default 0), whose trees are ``k, k + K, ...``."""
    leaves = np.asarray(booster.predict(Z, pred_leaf=True, num_iteration=num_iteration,
                                        **predict_threads(len(Z))), dtype=np.int64).reshape(len(Z), -1)
    k_count = booster.num_model_per_iteration()
    idx = np.zeros(len(Z), dtype=np.int64) if class_index is None else np.asarray(class_index, dtype=np.int64)
    out = np.zeros((len(Z), table.shape[2]))
    for k in np.unique(idx):
        rows = np.flatnonzero(idx == k)
        part, own = table[k::k_count], leaves[rows, k::k_count]
        step = max(1, _GATHER_CELLS // max(1, part.shape[0] * part.shape[2]))
        for start in range(0, len(rows), step):  # bounded memory on large batches
            chunk = own[start:start + step]
            out[rows[start:start + step]] = part[np.arange(part.shape[0]), chunk].sum(axis=1)
    return out


def group_contributions(booster: lgb.Booster, Z: np.ndarray, columns: list[str], groups: dict[str, str],
                        num_iteration: int, class_index: np.ndarray | None = None,
                        table: np.ndarray | None = None) -> pd.DataFrame:
    """Per row, the raw-score contribution of each group (the bias term is left out): TreeSHAP, or
    path contributions when the booster's :func:`path_table` is given.

    For a multi-output booster, ``class_index`` picks which output's contributions each row gets."""
    names, member = group_membership(columns, groups)
    values = (grouped_contribution_array(booster, Z, member, num_iteration, class_index) if table is None
              else path_contribution_array(booster, table, Z, num_iteration, class_index))
    return pd.DataFrame(values, columns=names)


def top_reasons(contrib: pd.DataFrame, k: int = 3) -> list[list[dict]]:
    """For each row, the ``k`` groups with the largest absolute contribution, largest first."""
    return top_reasons_array(contrib.to_numpy(), list(contrib.columns), k)


def top_reasons_array(values: np.ndarray, names: list[str], k: int = 3) -> list[list[dict]]:
    """:func:`top_reasons` of a rows x groups array whose columns are ``names``."""
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    return [[{"group": str(names[j]), "contribution": float(values[i, j])} for j in row]
            for i, row in enumerate(order)]


def global_importance(contrib: pd.DataFrame) -> dict[str, float]:
    """Mean absolute contribution per group over the rows given, largest first."""
    mean_abs = contrib.abs().mean(axis=0).sort_values(ascending=False)
    return {str(k): float(v) for k, v in mean_abs.items()}


def gain_importance(booster: lgb.Booster, columns: list[str], groups: dict[str, str]) -> dict[str, float]:
    """Share of total split gain per group, largest first."""
    gain = pd.Series(booster.feature_importance(importance_type="gain"), index=columns)
    by_group = gain.groupby(pd.Series(groups)).sum()
    total = by_group.sum()
    shares = (by_group / total if total > 0 else by_group).sort_values(ascending=False)
    return {str(k): float(v) for k, v in shares.items()}
