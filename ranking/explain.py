"""Explanations from LightGBM's exact per-feature contributions (``pred_contrib``, TreeSHAP),
summed into readable groups: each text profile and each transactional family."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from ranking.dataset import FeatureSpec
from ranking.gbm import predict_threads


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


def group_contributions(booster: lgb.Booster, Z: np.ndarray, columns: list[str], groups: dict[str, str],
                        num_iteration: int, class_index: np.ndarray | None = None) -> pd.DataFrame:
    """Per row, the raw-score contribution of each group (the bias term is left out).

    For a multiclass booster, ``class_index`` picks which class's contributions each row gets."""
    names, member = group_membership(columns, groups)
    return pd.DataFrame(grouped_contribution_array(booster, Z, member, num_iteration, class_index), columns=names)


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
