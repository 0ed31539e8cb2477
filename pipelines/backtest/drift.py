"""Drift between training rows and scored rows (Population Stability Index), and when a backtest
says the model should have been retrained."""

from __future__ import annotations

import numpy as np
import pandas as pd

PSI_BINS = 10
PSI_FLOOR = 1e-4  # an empty bin would make the log term infinite


def _bin_index(reference: np.ndarray, values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin both samples on the reference's quantile edges; NaN gets its own last bin, because a
    change in missingness (e.g. a view that stopped being written) is drift too."""
    finite = reference[~np.isnan(reference)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])) if len(finite) else np.array([])
    n_bins = len(edges) + 2

    def index(x: np.ndarray) -> np.ndarray:
        out = np.searchsorted(edges, x, side="right")
        out[np.isnan(x)] = n_bins - 1
        return out

    return index(reference), index(values), n_bins


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """PSI = Σ (a − e) · ln(a / e) over the reference's quantile bins (plus a missing bin);
    0 = same distribution, > 0.2 is the usual "significant shift". NaN if a sample is empty."""
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    if len(ref) == 0 or len(cur) == 0:
        return float("nan")
    ref_idx, cur_idx, n_bins = _bin_index(ref, cur, bins)
    e = np.clip(np.bincount(ref_idx, minlength=n_bins) / len(ref), PSI_FLOOR, None)
    a = np.clip(np.bincount(cur_idx, minlength=n_bins) / len(cur), PSI_FLOOR, None)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_frame(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str] | None = None,
              bins: int = PSI_BINS) -> pd.Series:
    """PSI of each column (default: every column of ``reference``), largest first."""
    cols = list(reference.columns) if columns is None else columns
    values = {c: psi(pd.to_numeric(reference[c]).to_numpy("float64", na_value=np.nan),
                     pd.to_numeric(current[c]).to_numpy("float64", na_value=np.nan), bins) for c in cols}
    return pd.Series(values, dtype="float64").sort_values(ascending=False, kind="stable")


def relative_drop(first: float | None, now: float | None) -> float | None:
    """How much a higher-is-better metric fell since the first cutoff, relative to it."""
    if first is None or now is None or not np.isfinite(first) or not np.isfinite(now) or first == 0:
        return None
    return float((first - now) / abs(first))


def retrain_reasons(row: dict, first: dict, psi_threshold: float, metric_drop: float,
                    metrics: tuple[str, ...] = ("pp_gini", "tier_qwk")) -> list[str]:
    """Why the model should have been retrained at this cutoff (empty list: it need not have been).

    ``row``/``first``: per-cutoff summaries with ``max_feature_psi``, ``max_feature``,
    ``prediction_psi`` and the headline ``metrics``."""
    reasons = []
    if (row.get("max_feature_psi") or 0.0) > psi_threshold:
        reasons.append(f"feature drift: PSI({row['max_feature']}) = {row['max_feature_psi']:.2f} > {psi_threshold}")
    if (row.get("prediction_psi") or 0.0) > psi_threshold:
        reasons.append(f"prediction drift: PSI = {row['prediction_psi']:.2f} > {psi_threshold}")
    for name in metrics:
        drop = relative_drop(first.get(name), row.get(name))
        if drop is not None and drop > metric_drop:
            reasons.append(f"{name} fell {drop:.0%} since the first cutoff (> {metric_drop:.0%})")
    return reasons
