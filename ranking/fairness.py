"""Fair assessment: calibration and error of the main model per segment, and a disparity flag.

For every segment column (tenure, region, signup channel and any other user attribute) and each of
its values with at least ``min_rows`` labelled rows:

* purchasing power: mean predicted vs mean actual spend (``calibration`` = their ratio, 1 = calibrated)
  and the error relative to the segment's spend level (``relative_mae`` = MAE / mean actual), so that
  segments of rich and poor users compare on one scale;
* tier: ``error_rate`` (1 - accuracy) and ``calibration_error`` (mean |predicted - observed| share
  over the tiers).

A column is flagged when, between its best and worst value, an error metric differs by more than
``ratio`` (worst / best) or the spend calibration ratio does (the larger over the smaller).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

ERROR_METRICS = ("relative_mae", "error_rate", "calibration_error")


def pp_segment(y: np.ndarray, p: np.ndarray) -> dict[str, float | int | None]:
    """Calibration and relative error of purchasing power on one segment's labelled rows."""
    keep = ~np.isnan(y)
    y, p = y[keep], p[keep]
    if len(y) == 0:
        return {"n": 0}
    mean_true, mean_pred = float(y.mean()), float(p.mean())
    mae = float(np.abs(y - p).mean())
    return {"n": int(len(y)), "mean_true": mean_true, "mean_pred": mean_pred,
            "calibration": mean_pred / mean_true if mean_true > 0 else None,
            "mae": mae, "relative_mae": mae / mean_true if mean_true > 0 else None}


def tier_segment(y: np.ndarray, proba: np.ndarray) -> dict[str, float | int | None]:
    """Error rate and calibration error of tier probabilities on one segment's labelled rows."""
    keep = ~np.isnan(y)
    y, proba = y[keep].astype(int), proba[keep]
    if len(y) == 0:
        return {"n": 0}
    observed = np.bincount(y, minlength=proba.shape[1]) / len(y)
    return {"n": int(len(y)), "error_rate": float((np.argmax(proba, axis=1) != y).mean()),
            "calibration_error": float(np.abs(proba.mean(axis=0) - observed).mean())}


def _spread(values: list[float], calibration: bool) -> float | None:
    """Worst over best (error metrics), or the larger over the smaller calibration ratio."""
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if len(vals) < 2:
        return None
    lo, hi = min(vals), max(vals)
    if lo <= 0:
        return None if hi <= 0 or calibration else float("inf")
    return hi / lo


def disparity(values: dict[str, dict[str, Any]], ratio: float) -> tuple[dict[str, float | None], list[str]]:
    """Spread of each metric over a column's values and the metrics past ``ratio``."""
    spreads = {name: _spread([v.get(name) for v in values.values()], calibration=False) for name in ERROR_METRICS}
    spreads["calibration"] = _spread([v.get("calibration") for v in values.values()], calibration=True)
    flagged = [name for name, s in spreads.items() if s is not None and s > ratio]
    return spreads, flagged


def segment_fairness(y_pp: np.ndarray, p_pp: np.ndarray, y_tier: np.ndarray | None, proba: np.ndarray | None,
                     masks: dict[str, dict[str, np.ndarray]], ratio: float, min_rows: int) -> dict[str, Any]:
    """``{"ratio", "min_rows", "columns": {col: {"values": {value: metrics}, "disparity", "flagged"}}}``.

    ``masks`` maps segment column -> value -> boolean row mask (as ``evaluation.segment_masks``);
    values with fewer than ``min_rows`` labelled rows are reported but left out of the disparity."""
    columns = {}
    for col, segs in masks.items():
        values = {}
        for value, m in segs.items():
            row = pp_segment(y_pp[m], p_pp[m])
            if y_tier is not None and proba is not None:
                tier = tier_segment(y_tier[m], proba[m])
                row.update({"n_tier": tier.pop("n"), **tier})
            values[value] = row
        eligible = {v: r for v, r in values.items() if r.get("n", 0) >= min_rows}
        spreads, flagged = disparity(eligible, ratio)
        columns[col] = {"values": values, "disparity": spreads, "flagged": flagged,
                        "compared": sorted(eligible)}
    return {"ratio": ratio, "min_rows": min_rows, "columns": columns}


def from_predictions(pred: pd.DataFrame, tiers: list[str] | tuple[str, ...],
                     masks: dict[str, dict[str, np.ndarray]], ratio: float, min_rows: int) -> dict[str, Any]:
    """:func:`segment_fairness` on a prediction frame (``evaluation.prediction_frame`` layout)."""
    y_pp = pred["purchasing_power_true"].to_numpy(dtype=float)
    p_pp = pred["purchasing_power_pred"].to_numpy(dtype=float)
    y_tier = proba = None
    cols = [f"tier_proba_{t}" for t in tiers]
    if "tier_true" in pred.columns and all(c in pred.columns for c in cols):
        index = {t: i for i, t in enumerate(tiers)}
        y_tier = np.array([index.get(t, np.nan) if isinstance(t, str) else np.nan for t in pred["tier_true"]],
                          dtype=float)
        proba = pred[cols].to_numpy(dtype=float)
    return segment_fairness(y_pp, p_pp, y_tier, proba, masks, ratio, min_rows)
