"""Pure summaries the reports show: decile lift, tier reliability, fairness per segment.

Frames and arrays in, frames out; no I/O. Rows without a label are left out (they have no outcome
to compare with)."""

from __future__ import annotations

import numpy as np
import pandas as pd

DECILES = 10


def decile_lift(y: np.ndarray, p: np.ndarray, deciles: int = DECILES) -> pd.DataFrame:
    """Users ranked by prediction, highest first, cut into equal-count deciles (1 = top).

    Columns: decile, users, mean_pred, mean_true, share (of all realised spend), cum_share and lift
    (the decile's mean outcome over the overall mean; 1 = no better than random)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    keep = ~np.isnan(y) & ~np.isnan(p)
    y, p = y[keep], p[keep]
    n = len(y)
    if n == 0:
        return pd.DataFrame(columns=["decile", "users", "mean_pred", "mean_true", "share", "cum_share", "lift"])
    order = np.argsort(-p, kind="stable")
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(n)
    decile = rank * min(deciles, n) // n + 1
    frame = pd.DataFrame({"decile": decile, "p": p, "y": y})
    out = frame.groupby("decile").agg(users=("y", "size"), mean_pred=("p", "mean"), mean_true=("y", "mean"),
                                      total=("y", "sum")).reset_index()
    total, mean = y.sum(), y.mean()
    out["share"] = out["total"] / total if total > 0 else np.nan
    out["cum_share"] = out["share"].cumsum()
    out["lift"] = out["mean_true"] / mean if mean > 0 else np.nan
    return out.drop(columns="total")


def reliability(y: np.ndarray, proba: np.ndarray, names: list[str], bins: int = 10,
                min_rows: int = 5) -> pd.DataFrame:
    """One-vs-rest reliability of tier probabilities: per tier and equal-width probability bin,
    the mean predicted probability and the observed share of that tier (bins with fewer than
    ``min_rows`` rows are left out: their share is noise)."""
    y, proba = np.asarray(y, dtype=float), np.asarray(proba, dtype=float)
    keep = ~np.isnan(y)
    y, proba = y[keep].astype(int), proba[keep]
    rows = []
    for k, name in enumerate(names):
        which = np.minimum((proba[:, k] * bins).astype(int), bins - 1)
        for b in np.unique(which):
            m = which == b
            if m.sum() >= min_rows:
                rows.append({"tier": name, "bin": int(b), "rows": int(m.sum()),
                             "mean_pred": float(proba[m, k].mean()), "observed": float((y[m] == k).mean())})
    return pd.DataFrame(rows, columns=["tier", "bin", "rows", "mean_pred", "observed"])


def expected_calibration_error(table: pd.DataFrame) -> dict[str, float]:
    """Row-weighted mean |predicted - observed| per tier of a :func:`reliability` table."""
    out = {}
    for tier, t in table.groupby("tier", sort=False):
        out[str(tier)] = float(np.average((t["mean_pred"] - t["observed"]).abs(), weights=t["rows"]))
    return out


def tag_relations(tags: pd.DataFrame, spend: np.ndarray, tier: np.ndarray | None,
                  tiers: list[str]) -> dict[str, dict]:
    """Per profile tag column (``tag_<name>``) on labelled rows: rows with a value, its Spearman
    correlation with the purchasing-power label, and its mean per true tier class (``tier``:
    class indices, NaN where unlabelled; None without a tier label)."""
    from scipy.stats import spearmanr

    spend = np.asarray(spend, dtype=float)
    out: dict[str, dict] = {}
    for column in tags.columns:
        values = tags[column].to_numpy(dtype=float)
        keep = ~np.isnan(values) & ~np.isnan(spend)
        rho = float(spearmanr(values[keep], spend[keep])[0]) if keep.sum() > 2 and np.ptp(values[keep]) > 0 else None
        by_tier = {}
        if tier is not None:
            for j, name in enumerate(tiers):
                member = ~np.isnan(values) & (np.asarray(tier, dtype=float) == j)
                by_tier[name] = float(values[member].mean()) if member.any() else None
        out[column] = {"n": int(keep.sum()), "spearman_pp": rho, "mean_by_tier": by_tier}
    return out
