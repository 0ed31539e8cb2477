"""Explanations from LightGBM's exact per-feature contributions (``pred_contrib``, TreeSHAP),
summed into readable groups: each text profile and each transactional family."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from ranking.dataset import FeatureSpec


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


def group_contributions(booster: lgb.Booster, Z: np.ndarray, columns: list[str], groups: dict[str, str],
                        num_iteration: int, class_index: np.ndarray | None = None) -> pd.DataFrame:
    """Per row, the raw-score contribution of each group (the bias term is left out).

    For a multiclass booster, ``class_index`` picks which class's contributions each row gets."""
    contrib = np.asarray(booster.predict(Z, pred_contrib=True, num_iteration=num_iteration))
    width = len(columns) + 1
    if contrib.shape[1] > width:  # multiclass: K blocks of (features + bias)
        blocks = contrib.reshape(len(Z), -1, width)
        idx = np.zeros(len(Z), dtype=int) if class_index is None else np.asarray(class_index, dtype=int)
        contrib = blocks[np.arange(len(Z)), idx]
    of = np.array([groups[c] for c in columns], dtype=object)
    names = sorted(set(of))
    member = (of[:, None] == np.array(names, dtype=object)[None, :]).astype(np.float64)
    return pd.DataFrame(contrib[:, :-1] @ member, columns=names)


def top_reasons(contrib: pd.DataFrame, k: int = 3) -> list[list[dict]]:
    """For each row, the ``k`` groups with the largest absolute contribution, largest first."""
    values = contrib.to_numpy()
    names = np.asarray(contrib.columns)
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
