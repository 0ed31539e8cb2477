"""Metrics of both targets. Every function returns plain JSON-able numbers (undefined → None)."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.stats import spearmanr
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (accuracy_score, cohen_kappa_score, confusion_matrix, f1_score, mean_absolute_error,
                             mean_squared_error, r2_score, recall_score, roc_auc_score)


def _num(x: float) -> float | None:
    """JSON-safe float: NaN/inf (an undefined metric) becomes None."""
    x = float(x)
    return x if math.isfinite(x) else None


def gain_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative share of users (x) vs share of total ``y`` they hold (c), users ranked by ``p``
    descending. Tied predictions form one step, so the curve is the average over tie orders."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    _, inverse = np.unique(-p, return_inverse=True)
    counts = np.bincount(inverse)
    sums = np.bincount(inverse, weights=y)
    x = np.concatenate([[0.0], np.cumsum(counts) / len(y)])
    total = y.sum()
    c = np.concatenate([[0.0], np.cumsum(sums) / total]) if total > 0 else np.full(len(x), np.nan)
    return x, c


def gini(y: np.ndarray, p: np.ndarray) -> float:
    """Gini of the ranking by ``p``: 2 × (area under the gain curve − 1/2)."""
    x, c = gain_curve(y, p)
    return float(2.0 * (np.trapezoid(c, x) - 0.5))


def normalised_gini(y: np.ndarray, p: np.ndarray) -> float | None:
    """Gini of the prediction ranking divided by the Gini of the oracle ranking (1 = perfect order)."""
    oracle = gini(y, y)
    return _num(gini(y, p) / oracle) if oracle > 0 else None


def top_share(y: np.ndarray, p: np.ndarray, fraction: float = 0.1) -> float | None:
    """Share of total ``y`` held by the top ``fraction`` of users ranked by ``p``."""
    x, c = gain_curve(y, p)
    return _num(np.interp(fraction, x, c))


def regression_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """Purchasing-power metrics on the money scale."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if len(y) == 0:
        return {"n": 0}
    rho = spearmanr(y, p).statistic if len(y) > 1 and np.ptp(y) > 0 and np.ptp(p) > 0 else float("nan")
    return {
        "n": int(len(y)), "mae": _num(mean_absolute_error(y, p)), "rmse": _num(math.sqrt(mean_squared_error(y, p))),
        "r2": _num(r2_score(y, p)) if len(y) > 1 else None, "spearman": _num(rho),
        "gini": normalised_gini(y, p), "top10_share": top_share(y, p), "top10_share_oracle": top_share(y, y),
        "mean_true": _num(y.mean()), "mean_pred": _num(p.mean()),
    }


def auc_ovr(y: np.ndarray, proba: np.ndarray) -> float | None:
    """Macro one-vs-rest ROC AUC over the classes present in ``y`` (None if fewer than two)."""
    present = np.unique(y)
    if len(present) < 2:
        return None
    return _num(np.mean([roc_auc_score(y == k, proba[:, k]) for k in present]))


def tier_metrics(y: np.ndarray, proba: np.ndarray, names: list[str] | tuple[str, ...]) -> dict:
    """Tier metrics from true indices and class probabilities (prediction = most probable tier)."""
    y = np.asarray(y, dtype=np.int64)
    if len(y) == 0:
        return {"n": 0}
    pred = np.argmax(proba, axis=1)
    labels = list(range(len(names)))
    present = np.unique(y)
    recall = recall_score(y, pred, labels=labels, average=None, zero_division=0)
    return {
        "n": int(len(y)), "accuracy": _num(accuracy_score(y, pred)),
        "macro_f1": _num(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "qwk": _qwk(y, pred, labels), "auc_ovr": auc_ovr(y, proba),
        "recall": {names[k]: (_num(recall[k]) if k in present else None) for k in labels},
        "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
    }


def _qwk(y: np.ndarray, pred: np.ndarray, labels: list[int]) -> float | None:
    """Quadratic weighted kappa (None when undefined, e.g. a single class everywhere)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # undefined is reported as None
        return _num(cohen_kappa_score(y, pred, labels=labels, weights="quadratic"))


# The few numbers the CLI and the backtest table show: (target, metric) per headline key.
HEADLINE = {"pp_gini": ("purchasing_power", "gini"), "pp_rmse": ("purchasing_power", "rmse"),
            "tier_qwk": ("tier", "qwk")}


def headline(scored: dict[str, dict[str, dict]]) -> dict[str, float | None]:
    """``{target: {model kind: metrics}}`` -> pp gini/rmse and tier qwk of lightgbm and of
    persistence (``<key>_persistence``) and BTYD (``<key>_btyd``), None where absent."""
    out: dict[str, float | None] = {}
    for key, (target, name) in HEADLINE.items():
        for kind, suffix in (("lightgbm", ""), ("persistence", "_persistence"), ("btyd", "_btyd")):
            out[key + suffix] = scored.get(target, {}).get(kind, {}).get(name)
    return out


def calibration_deciles(y: np.ndarray, p: np.ndarray, deciles: int = 10) -> dict:
    """Money calibration by predicted decile: rows ranked by ``p`` ascending (stable on ties) and cut
    into equal-count groups (1 = lowest predicted; fewer groups when there are fewer rows). Per
    group and ``overall``: rows, mean_pred, mean_true and ratio = mean_pred / mean_true (None when
    the mean truth is 0). Rows with a NaN label or prediction are left out."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"calibration_deciles: {len(y)} labels but {len(p)} predictions")
    keep = ~np.isnan(y) & ~np.isnan(p)
    y, p = y[keep], p[keep]
    n = len(y)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(p, kind="stable")] = np.arange(n)
    group = rank * min(deciles, n) // max(n, 1)
    rows = [{"decile": int(g) + 1, **_calibration_row(y[group == g], p[group == g])} for g in np.unique(group)]
    return {"deciles": rows, "overall": _calibration_row(y, p)}


def _calibration_row(y: np.ndarray, p: np.ndarray) -> dict:
    """rows, mean_pred, mean_true and their ratio (None where undefined)."""
    if len(y) == 0:
        return {"rows": 0, "mean_pred": None, "mean_true": None, "ratio": None}
    mean_pred, mean_true = float(p.mean()), float(y.mean())
    return {"rows": int(len(y)), "mean_pred": _num(mean_pred), "mean_true": _num(mean_true),
            "ratio": _num(mean_pred / mean_true) if mean_true != 0 else None}
