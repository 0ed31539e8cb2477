"""The backtest report: one offline HTML page (Jinja2 template, inline SVG charts on date axes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipelines.backtest.verdicts import NEVER_LOST
from pipelines.report.fairness import fairness_section, flags
from pipelines.report.page import Page, Section, Table, charts, count, num, render
from pipelines.report import svg
from ranking.btyd import is_baseline

MODELS = ("lightgbm", "linear", "persistence", "btyd")
OVER_TIME = (("purchasing_power", ("gini", "rmse", "spearman", "top10_share")),
             ("tier", ("qwk", "macro_f1", "accuracy", "auc_ovr")))
COUNT_COLUMNS = (("n_train", "training examples"), ("n_train_users", "training users"), ("n_scored", "scored users"))
METRIC_COLUMNS = (("pp_gini", "pp gini"), ("pp_gini_persistence", "persistence"), ("pp_gini_btyd", "BTYD"),
                  ("pp_rmse", "pp rmse"), ("pp_rmse_persistence", "persistence"), ("pp_rmse_btyd", "BTYD"),
                  ("pp_mean_ratio", "mean pred / truth"), ("tier_qwk", "tier qwk"),
                  ("tier_qwk_persistence", "persistence"), ("prediction_psi", "prediction PSI"))
AGEING_NOTE = ("Ageing inputs ({names}) grow with the calendar for every user: tenure and lifetime totals of a "
               "young, growing user base are higher at each new cutoff whether or not behaviour changed, so "
               "their PSI is large by construction. They are listed as flagged but do not trigger the retrain "
               "advice on their own; 'max input PSI' is over the other inputs.")


def over_time(title: str, cutoffs: list[pd.Timestamp], series: dict[str, Sequence[float | None]], y_label: str,
              integer: bool = False) -> str:
    """A line per series over the cutoff dates (bars for a single cutoff: a line needs two points)."""
    series = {k: v for k, v in series.items() if any(x is not None and not pd.isna(x) for x in v)}
    if not series:
        return ""
    if len(cutoffs) == 1:
        return svg.bar_chart(title, [cutoffs[0].date().isoformat()], {k: list(v) for k, v in series.items()},
                             y_label, integer=integer)
    lines = {k: ([c.to_pydatetime() for c, v in zip(cutoffs, vs) if v is not None and not pd.isna(v)],
                 [float(v) for v in vs if v is not None and not pd.isna(v)]) for k, vs in series.items()}
    return svg.line_chart(title, lines, "cutoff", y_label, integer_y=integer)


def metrics_section(results: pd.DataFrame, cutoffs: list[pd.Timestamp]) -> Section:
    """Headline metrics of every model over the cutoffs (both BTYD baselines where the run has them)."""
    models = [*MODELS, *sorted(m for m in results["model"].unique() if m not in MODELS and is_baseline(m))]
    plots = []
    for target, names in OVER_TIME:
        for name in names:
            sub = results[(results["target"] == target) & (results["metric"] == name)]
            by = sub.set_index(["model", "cutoff"])["value"]
            plots.append(over_time(f"{target}: {name}", cutoffs, {m: [by.get((m, c)) for c in cutoffs]
                                                                  for m in models}, name))
    return Section("Metrics over time", "Scored users at each cutoff, against their realised outcomes.",
                   charts=charts(*plots))


def counts_section(summary: pd.DataFrame, cutoffs: list[pd.Timestamp]) -> Section:
    """Training examples/users and scored users per cutoff (integer axis)."""
    series = {label: summary[col].tolist() for col, label in COUNT_COLUMNS}
    return Section("Training and scored users", charts=charts(over_time("Rows per cutoff", cutoffs, series,
                                                                         "rows", integer=True)))


def drift_section(summary: pd.DataFrame, drift: pd.DataFrame, cutoffs: list[pd.Timestamp], threshold: float,
                  ageing: Sequence[str]) -> Section:
    """PSI (training rows vs scored rows) of the predictions and the inputs; flagged inputs."""
    series = {"max input PSI (non-ageing)": summary["max_feature_psi"].tolist(),
              "prediction PSI": summary["prediction_psi"].tolist(), "threshold": [threshold] * len(cutoffs)}
    chart = over_time("PSI, training rows vs scored rows", cutoffs, series, "PSI")
    flagged = drift[drift["psi"] > threshold].sort_values(["cutoff", "psi"], ascending=[True, False])
    rows = [[c.date().isoformat(), str(k), str(col), f"{v:.3f}",
             "ageing: reported, not a retrain reason" if col in ageing else "counts for retrain advice"]
            for c, k, col, v in zip(flagged["cutoff"], flagged["kind"], flagged["column"], flagged["psi"])]
    top = drift.groupby("column")["psi"].max().sort_values(ascending=False).head(15).dropna()
    bars = svg.hbar_chart("Largest PSI over all cutoffs", top.to_dict(), "PSI") if len(top) else ""
    table = Table(["cutoff", "kind", "column", "PSI", "role"], rows, "Flagged") if rows else None
    intro = f"PSI over the training rows' deciles (plus a missing-value bin); flagged above {threshold}."
    return Section("Drift", intro, [table] if table else [], charts(chart, bars),
                   notes=[] if rows else [f"No input or prediction above PSI {threshold}."])


def baselines_section(summary: pd.DataFrame, rule: str, losses: Sequence[str]) -> Section:
    """Per cutoff and baseline: the main spend model's wins, the metrics it lost, and train's gate."""
    rows = []
    for r in summary.to_dict("records"):
        v, day = r.get("verdict"), pd.Timestamp(r["cutoff"]).date().isoformat()
        if not isinstance(v, dict):
            rows.append([day, "–", "no main model", "", ""])
            continue
        for name, c in v["baselines"].items():
            won = "skipped: " + c["skipped"] if "skipped" in c else f"{c['wins']} of {c['compared']}"
            rows.append([day, name, won, ", ".join(c.get("losses", [])) or "–", "yes" if v["passed"] else "no"])
    intro = f"The main spend model against each baseline at each cutoff, by train's rule: {rule}."
    table = Table(["cutoff", "baseline", "at least as good on", "loses on", "cutoff passes the gate"], rows)
    beat = [] if losses else [NEVER_LOST[0].upper() + NEVER_LOST[1:] + "."]
    return Section("Against the baselines", intro, [table], notes=beat, flags=list(losses))


def summary_section(summary: pd.DataFrame, ageing: Sequence[str]) -> Section:
    """One row per cutoff: counts, headline metrics vs persistence, drift, retrain advice."""
    headers = ["cutoff", *[label for _, label in COUNT_COLUMNS], *[label for _, label in METRIC_COLUMNS],
               "max input PSI (non-ageing)", "ageing inputs flagged", "retrain?"]
    rows = []
    for r in summary.to_dict("records"):
        ageing_flagged = [c for c in r.get("flagged_features") or [] if c in ageing]
        top = f"{num(r.get('max_feature_psi'), 3)} ({r.get('max_feature')})" if r.get("max_feature") else ""
        rows.append([pd.Timestamp(r["cutoff"]).date().isoformat(), *[count(r.get(c)) for c, _ in COUNT_COLUMNS],
                     *[num(r.get(c)) for c, _ in METRIC_COLUMNS], top, ", ".join(ageing_flagged) or "–",
                     "; ".join(r.get("retrain") or []) or "no"])
    return Section("Per cutoff", AGEING_NOTE.format(names=", ".join(ageing)), [Table(headers, rows)])


def _fairness(summary: pd.DataFrame) -> list[Section]:
    """The newest cutoff's calibration and error per segment, with the flags of every cutoff."""
    if "fairness" not in summary.columns:
        return []
    records = [r for r in summary.to_dict("records") if isinstance(r.get("fairness"), dict)]
    if not records:
        return []
    every = [f for r in records for f in flags(r["fairness"], f"{pd.Timestamp(r['cutoff']).date().isoformat()} ")]
    last = pd.Timestamp(records[-1]["cutoff"]).date().isoformat()
    section = fairness_section(records[-1]["fairness"], f"Fairness by segment (cutoff {last})", every,
                               "the users scored at that cutoff")
    return [section] if section is not None else []


def build_page(results: pd.DataFrame, summary: pd.DataFrame, drift: pd.DataFrame, info: dict) -> Page:
    """The page model. ``info``: id, args, notes, psi_threshold, ageing_inputs; optional extra_sections."""
    cutoffs = [pd.Timestamp(c) for c in summary["cutoff"]]
    results = results.assign(cutoff=pd.to_datetime(results["cutoff"], utc=True))
    drift = drift.assign(cutoff=pd.to_datetime(drift["cutoff"], utc=True))
    a = info.get("args", {})
    ageing = list(info.get("ageing_inputs", []))
    text = (f"{len(cutoffs)} cutoffs from {a.get('start')} to {a.get('end')} every {a.get('every_days')} days; "
            f"horizon {a.get('horizon_days')} days; Optuna trials {a.get('trials')}. Each cutoff trains on examples "
            "whose label windows closed by the cutoff and scores every user signed up by it.")
    advised = [f"{pd.Timestamp(r['cutoff']).date().isoformat()}: {'; '.join(r['retrain'])}"
               for r in summary.to_dict("records") if r.get("retrain")]
    sections = [baselines_section(summary, info.get("rule", ""), info.get("losses", [])),
                summary_section(summary, ageing), metrics_section(results, cutoffs),
                counts_section(summary, cutoffs),
                drift_section(summary, drift, cutoffs, float(info.get("psi_threshold", 0.2)), ageing),
                *_fairness(summary), *info.get("extra_sections", [])]
    return Page(f"PowerTier backtest {info.get('id', '')}", text, list(info.get("notes", [])), advised,
                "Retrain advised", sections)


def build_backtest_report(results: pd.DataFrame, summary: pd.DataFrame, drift: pd.DataFrame,
                          info: dict[str, Any]) -> str:
    """The whole HTML document."""
    return render(build_page(results, summary, drift, info))
