"""The backtest report: one self-contained HTML page (inline SVG charts from :mod:`pipelines.report.svg`)."""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd

from pipelines.report import svg
from pipelines.report.training import STYLE

MODELS = ("lightgbm", "linear", "persistence", "btyd")
OVER_TIME = (("purchasing_power", ("gini", "rmse", "spearman", "top10_share")),
             ("tier", ("qwk", "macro_f1", "accuracy", "auc_ovr")))
TABLE_COLUMNS = (("cutoff", "cutoff"), ("n_train", "training examples"), ("n_train_users", "training users"),
                 ("n_scored", "scored users"), ("pp_gini", "pp gini"), ("pp_gini_persistence", "persistence"),
                 ("pp_gini_btyd", "BTYD"), ("pp_rmse", "pp rmse"), ("pp_rmse_persistence", "persistence"),
                 ("pp_rmse_btyd", "BTYD"), ("tier_qwk", "tier qwk"),
                 ("tier_qwk_persistence", "persistence"), ("max_feature_psi", "max feature PSI"),
                 ("prediction_psi", "prediction PSI"))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    return escape(str(value)) if value is not None else ""


def _days(cutoffs: list[pd.Timestamp]) -> list[float]:
    """Cutoffs as days since the first one (the charts' x axis)."""
    return [(c - cutoffs[0]).total_seconds() / 86400 for c in cutoffs]


def over_time(title: str, cutoffs: list[pd.Timestamp], series: dict[str, list[float | None]], y_label: str) -> str:
    """A line per series over the cutoffs (bars when there is a single cutoff: a line needs two points)."""
    series = {k: v for k, v in series.items() if any(x is not None and not pd.isna(x) for x in v)}
    if not series:
        return ""
    if len(cutoffs) == 1:
        return svg.bar_chart(title, [cutoffs[0].date().isoformat()], series, y_label)
    x = _days(cutoffs)
    lines = {k: ([xi for xi, v in zip(x, vs) if v is not None and not pd.isna(v)],
                 [v for v in vs if v is not None and not pd.isna(v)]) for k, vs in series.items()}
    return svg.line_chart(title, lines, f"days since {cutoffs[0].date().isoformat()}", y_label)


def metrics_section(results: pd.DataFrame, cutoffs: list[pd.Timestamp]) -> str:
    """Headline metrics of every model over the cutoffs."""
    plots = []
    for target, names in OVER_TIME:
        for name in names:
            sub = results[(results["target"] == target) & (results["metric"] == name)]
            by = sub.set_index(["model", "cutoff"])["value"]
            series = {m: [by.get((m, c)) for c in cutoffs] for m in MODELS}
            plots.append(over_time(f"{target}: {name}", cutoffs, series, name))
    return "<h2>Metrics over time (scored users, realised outcomes)</h2>" \
           f"<div class='plots'>{''.join(plots)}</div>"


def counts_section(summary: pd.DataFrame, cutoffs: list[pd.Timestamp]) -> str:
    """Training examples/users and scored users per cutoff."""
    series = {"training examples": summary["n_train"].tolist(), "training users": summary["n_train_users"].tolist(),
              "scored users": summary["n_scored"].tolist()}
    chart = over_time("Rows per cutoff", cutoffs, series, "rows")
    return f"<h2>Training and scored users</h2><div class='plots'>{chart}</div>"


def drift_section(summary: pd.DataFrame, drift: pd.DataFrame, cutoffs: list[pd.Timestamp], threshold: float) -> str:
    """PSI (training rows vs scored rows) of the predictions and the most drifting inputs; flagged inputs."""
    series = {"max input PSI": summary["max_feature_psi"].tolist(),
              "prediction PSI": summary["prediction_psi"].tolist(), "threshold": [threshold] * len(cutoffs)}
    chart = over_time("PSI, training rows vs scored rows", cutoffs, series, "PSI")
    flagged = drift[drift["psi"] > threshold].sort_values(["cutoff", "psi"], ascending=[True, False])
    rows = "".join(f"<tr><td>{c.date().isoformat()}</td><td>{escape(k)}</td><th>{escape(str(col))}</th>"
                   f"<td>{v:.3f}</td></tr>"
                   for c, k, col, v in zip(flagged["cutoff"], flagged["kind"], flagged["column"], flagged["psi"]))
    table = (f"<table><tr><th>cutoff</th><th>kind</th><th>column</th><th>PSI</th></tr>{rows}</table>" if rows
             else f"<p>No input or prediction above PSI {threshold}.</p>")
    top = drift.groupby("column")["psi"].max().sort_values(ascending=False).head(15)
    bars = svg.hbar_chart("Largest PSI over all cutoffs", top.dropna().to_dict(), "PSI") if top.notna().any() else ""
    return (f"<h2>Drift</h2><p class='note'>PSI over the training rows' deciles (plus a missing-value bin); "
            f"flagged above {threshold}.</p><div class='plots'>{chart}{bars}</div><h3>Flagged</h3>{table}")


def summary_table(summary: pd.DataFrame) -> str:
    """One row per cutoff: counts, headline metrics vs persistence, drift, retrain advice."""
    head = "".join(f"<th>{escape(label)}</th>" for _, label in TABLE_COLUMNS) + "<th>retrain?</th>"
    body = "".join("<tr>" + "".join(f"<td>{_fmt(row.get(col))}</td>" for col, _ in TABLE_COLUMNS)
                   + f"<td style='text-align:left'>{escape('; '.join(row.get('retrain') or [])) or 'no'}</td></tr>"
                   for row in summary.to_dict("records"))
    return f"<h2>Per cutoff</h2><table><tr>{head}</tr>{body}</table>"


def build_backtest_report(results: pd.DataFrame, summary: pd.DataFrame, drift: pd.DataFrame, info: dict) -> str:
    """The whole page. ``info``: id, args (start, end, every, horizon, trials), notes, psi_threshold."""
    cutoffs = [pd.Timestamp(c) for c in summary["cutoff"]]
    results = results.assign(cutoff=pd.to_datetime(results["cutoff"], utc=True))
    drift = drift.assign(cutoff=pd.to_datetime(drift["cutoff"], utc=True))
    args = info.get("args", {})
    notes = "".join(f"<li>{escape(n)}</li>" for n in info.get("notes", []))
    parts = [f"<h1>PowerTier backtest {escape(str(info.get('id', '')))}</h1>",
             f"<p>{len(cutoffs)} cutoffs from {escape(str(args.get('start')))} to {escape(str(args.get('end')))} "
             f"every {escape(str(args.get('every_days')))} days; horizon {escape(str(args.get('horizon_days')))} days; "
             f"Optuna trials {escape(str(args.get('trials')))}. Each cutoff trains on examples whose label windows "
             f"closed by the cutoff and scores every user signed up by it.</p><ul>{notes}</ul>",
             summary_table(summary), metrics_section(results, cutoffs), counts_section(summary, cutoffs),
             drift_section(summary, drift, cutoffs, float(info.get("psi_threshold", 0.2)))]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>PowerTier backtest</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
