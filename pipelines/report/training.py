"""The run report: one self-contained HTML page (inline SVG, no external assets)."""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np
import pandas as pd

from pipelines.report import svg
from ranking.metrics import gain_curve

KINDS = ("lightgbm", "linear")
SETS = ("XY", "X", "Y")
STYLE = ("body{font-family:sans-serif;max-width:1180px;margin:20px auto;color:#222}"
         "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
         "th{background:#f3f3f3}.plots{display:flex;flex-wrap:wrap;gap:12px}.note{color:#666}")


def _get(d: dict, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def ablation_section(metrics: dict) -> str:
    """Grouped bars of each headline metric over {lightgbm, linear} × {XY, X, Y} + persistence."""
    plots = []
    for target, names in (("purchasing_power", ("gini", "rmse", "spearman", "top10_share")),
                          ("tier", ("qwk", "macro_f1", "accuracy", "auc_ovr"))):
        for name in names:
            series = {kind: [_get(metrics, target, kind, fs, name) for fs in SETS] for kind in KINDS}
            base = _get(metrics, target, "persistence", name)
            series["persistence"] = [base if fs == "Y" else None for fs in SETS]
            if any(v is not None for vs in series.values() for v in vs):
                plots.append(svg.bar_chart(f"{target}: {name}", list(SETS), series, name))
    note = "<p class='note'>Persistence (spend over the last H days; current tier) is drawn under Y.</p>"
    return "<h2>Ablations (test split)</h2>" + note + f"<div class='plots'>{''.join(plots)}</div>"


def gain_section(pred: pd.DataFrame) -> str:
    """Gain (cumulative share of spend captured) and decile calibration of purchasing power."""
    y = pred["purchasing_power_true"].to_numpy(dtype=float)
    keep = ~np.isnan(y)
    if not keep.any() or y[keep].sum() <= 0:
        return "<h2>Purchasing power curves</h2><p>No positive purchasing power in the test split.</p>"
    y = y[keep]
    series = {}
    for name, col in (("lightgbm", "purchasing_power_pred"), ("persistence", "purchasing_power_persistence")):
        if col in pred.columns:
            x, c = gain_curve(y, pred[col].to_numpy(dtype=float)[keep])
            series[name] = _thin(x, c)
    series["oracle"] = _thin(*gain_curve(y, y))
    series["random"] = ([0.0, 1.0], [0.0, 1.0])
    gain = svg.line_chart("Gain curve", series, "share of users (ranked by prediction)", "share of spend")
    p = pred["purchasing_power_pred"].to_numpy(dtype=float)[keep]
    deciles = pd.qcut(pd.Series(p).rank(method="first"), 10, labels=False)
    cal = pd.DataFrame({"p": p, "y": y, "d": deciles}).groupby("d").mean()
    calib = svg.line_chart("Calibration by predicted decile", {"lightgbm": (cal["p"].tolist(), cal["y"].tolist())},
                           "mean predicted", "mean actual", diagonal=True)
    return f"<h2>Purchasing power curves</h2><div class='plots'>{gain}{calib}</div>"


def _thin(x: np.ndarray, c: np.ndarray, points: int = 200) -> tuple[list[float], list[float]]:
    grid = np.linspace(0, 1, points)
    return grid.tolist(), np.interp(grid, x, c).tolist()


def tier_section(metrics: dict, main_fs: str, tiers: list[str]) -> str:
    """Confusion matrix and per-class recall of the main LightGBM tier model."""
    m = _get(metrics, "tier", "lightgbm", main_fs) or {}
    if "confusion" not in m:
        return f"<h2>Tier</h2><p>{escape(str(m.get('skipped', 'no tier model')))}</p>"
    heat = svg.heatmap("Confusion matrix (LightGBM)", m["confusion"], tiers, tiers, "true tier", "predicted tier")
    recall = svg.bar_chart("Recall per tier", tiers, {"lightgbm": [m["recall"].get(t) for t in tiers]}, "recall")
    return f"<h2>Tier</h2><div class='plots'>{heat}{recall}</div>"


def importance_section(importance: dict) -> str:
    """Mean |contribution| per explanation group for each target."""
    plots = [svg.hbar_chart(f"{target}: mean |contribution| per group", imp["contribution"], "raw-score units")
             for target, imp in importance.items()]
    return f"<h2>Global importance (grouped TreeSHAP)</h2><div class='plots'>{''.join(plots)}</div>"


def segment_section(metrics: dict) -> str:
    """Headline metrics per segment value for the main LightGBM model and persistence."""
    plots = []
    for col, values in metrics.get("segments", {}).items():
        cats = list(values)
        for target, name in (("purchasing_power", "gini"), ("purchasing_power", "mae"), ("tier", "qwk")):
            series = {kind: [_get(values, v, target, kind, name) for v in cats] for kind in (*KINDS, "persistence")}
            if any(x is not None for xs in series.values() for x in xs):
                plots.append(svg.bar_chart(f"{target} {name} by {col}", cats, series, name))
    return f"<h2>Segments</h2><div class='plots'>{''.join(plots)}</div>"


def metrics_table(metrics: dict, target: str, names: tuple[str, ...]) -> str:
    """Every model × feature set as a table row."""
    rows = [(f"{kind} / {fs}", _get(metrics, target, kind, fs) or {}) for kind in KINDS for fs in SETS]
    rows.append(("persistence", metrics.get(target, {}).get("persistence", {})))
    if target == "purchasing_power":
        rows.append(("BTYD (BG/NBD x Gamma-Gamma)", metrics.get(target, {}).get("btyd", {})))
    head = "<tr><th>model</th>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
    body = "".join("<tr><th>" + escape(label) + "</th>" + "".join(_cell(m, n) for n in names) + "</tr>"
                   for label, m in rows)
    return f"<h3>{target}</h3><table>{head}{body}</table>"


def _cell(m: dict, name: str) -> str:
    if "skipped" in m:
        return f"<td title='{escape(m['skipped'])}'>–</td>"
    v = m.get(name)
    return f"<td>{v:.4g}</td>" if isinstance(v, (int, float)) else "<td></td>"


def build_report(metrics: dict, predictions: pd.DataFrame, importance: dict, info: dict) -> str:
    """The whole page. ``info``: tiers, notes (what was trained), split description, run id."""
    main_fs = metrics.get("main_feature_set", "XY")
    notes = "".join(f"<li>{escape(n)}</li>" for n in info.get("notes", []))
    split = escape(str(info.get("split", {}).get("rows", "")))
    parts = [f"<h1>PowerTier training run {escape(str(info.get('run_id', '')))}</h1>",
             f"<p>Main model: LightGBM on <b>{escape(main_fs)}</b>. Split: "
             f"{escape(str(info.get('split', {}).get('strategy', '')))}, rows {split}.</p><ul>{notes}</ul>",
             "<h2>Test metrics</h2>",
             metrics_table(metrics, "purchasing_power", ("mae", "rmse", "r2", "spearman", "gini", "top10_share",
                                                         "top10_share_oracle")),
             metrics_table(metrics, "tier", ("accuracy", "macro_f1", "qwk", "auc_ovr")),
             ablation_section(metrics), gain_section(predictions),
             tier_section(metrics, main_fs, list(info.get("tiers", []))),
             importance_section(importance), segment_section(metrics)]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>PowerTier run</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
