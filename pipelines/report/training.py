"""The training run report: one offline HTML page (Jinja2 template, inline SVG charts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from pipelines.report.fairness import fairness_section
from pipelines.report.page import Page, Section, Table, charts, count, money, num, render
from pipelines.report.tables import decile_lift, expected_calibration_error, reliability
from pipelines.report import svg
from ranking.btyd import is_baseline, run_baselines, run_label
from ranking.gbm import SELECTION_RULE
from ranking.metrics import calibration_deciles, gain_curve
from ranking.splits import overlap_warning

KINDS = ("lightgbm", "linear")
SETS = ("XY", "X", "Y")
PP_COLUMNS = ("n", "mae", "rmse", "r2", "spearman", "gini", "top10_share", "top10_share_oracle")
TIER_COLUMNS = ("n", "accuracy", "macro_f1", "qwk", "auc_ovr")
# (target, metric, higher is better) compared against the persistence baseline.
VERDICT_METRICS = (("purchasing_power", "gini", True), ("purchasing_power", "rmse", False),
                   ("tier", "qwk", True))


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _cell(m: dict, name: str) -> str:
    if "skipped" in m:
        return "–"
    return count(m.get(name)) if name == "n" else num(m.get(name))


def metrics_section(metrics: dict) -> Section:
    """Every model × feature set plus persistence on the test split (counts as integers)."""
    tables = []
    for target, names in (("purchasing_power", PP_COLUMNS), ("tier", TIER_COLUMNS)):
        rows = [[f"{kind} / {fs}", *[_cell(_get(metrics, target, kind, fs) or {}, n) for n in names]]
                for kind in KINDS for fs in SETS]
        rows.append(["persistence", *[_cell(_get(metrics, target, "persistence") or {}, n) for n in names]])
        if target == "purchasing_power":
            rows += [[f"BTYD ({name})", *[_cell(metrics[target][key], n) for n in names]]
                     for key, name in run_baselines(metrics).items()]
        tables.append(Table(["model", *names], rows, target.replace("_", " ")))
    skipped = sorted({m["skipped"] for t in ("purchasing_power", "tier") for k in KINDS for m in
                      (_get(metrics, t, k, fs) or {} for fs in SETS) if "skipped" in m})
    return Section("Test metrics", "– marks a model that was not trained.", tables, notes=skipped)


def baseline_warnings(metrics: dict) -> list[str]:
    """One sentence per headline metric where the main LightGBM model loses to persistence."""
    fs = metrics.get("main_feature_set", "XY")
    out = []
    for target, name, higher in VERDICT_METRICS:
        model, base = _get(metrics, target, "lightgbm", fs, name), _get(metrics, target, "persistence", name)
        if isinstance(model, (int, float)) and isinstance(base, (int, float)):
            if (model < base) if higher else (model > base):
                out.append(f"{target.replace('_', ' ')} {name}: LightGBM {fs} {num(model)} is worse than the "
                           f"persistence baseline {num(base)} ({'higher' if higher else 'lower'} is better).")
    return out


def gate_section(gate: dict[str, Any] | None) -> Section | None:
    """The promotion gate's rule and verdict (``ranking.gate``), as stored in ``run.json``."""
    if not gate:
        return None
    verdict = "passed (train --promote gate makes this run the serving runs/latest)" if gate.get("passed") else \
        "NOT passed (train --promote gate leaves runs/latest where it was; `powertier runs promote --force` overrides)"
    rows = [[name, count(c.get("wins")), count(c.get("compared")), ", ".join(c.get("losses", [])) or "–"]
            for name, c in gate.get("baselines", {}).items() if "skipped" not in c]
    return Section("Promotion gate", f"Rule: {gate.get('rule', '')}. Verdict: {verdict}.",
                   [Table(["against", "at least as good on", "of", "loses on"], rows)] if rows else [],
                   flags=list(gate.get("reasons", [])))


SELECTION_METRICS = ("mae", "rmse", "r2", "spearman", "gini", "top10_share")


def selection_section(metrics: dict, split: dict | None = None) -> Section | None:
    """The spend-model candidates of the main feature set: validation scores that chose one, and test;
    flagged when the split's training labels reach into the validation window."""
    fs = metrics.get("main_feature_set", "XY")
    block = _get(metrics, "purchasing_power", "lightgbm", fs) or {}
    cands = block.get("objectives") or {}
    if not cands:
        return None
    rows = []
    for name, c in cands.items():
        valid, test = c.get("valid") or {}, c.get("test") or {}
        mark = " (chosen)" if name == block.get("objective") else ""
        rows.append([name + mark, num(c.get("valid_mean_rank")), num(c.get("btyd_blend_weight")),
                     num(c.get("p_buy_sharpen")), num(c.get("mean_scale")), *[num(valid.get(k)) for k in SELECTION_METRICS],
                     *[num(test.get(k)) for k in SELECTION_METRICS]])
    head = ["candidate", "valid mean rank", "weight vs BTYD", "P(buy) sharpen", "mean scale",
            *[f"valid {k}" for k in SELECTION_METRICS], *[f"test {k}" for k in SELECTION_METRICS]]
    overlap = (split or {}).get("valid_label_overlap_days")
    return Section("Spend model selection", f"Rule: the {SELECTION_RULE}.", [Table(head, rows)],
                   flags=[overlap_warning(overlap)] if overlap else [])


def hyperparameter_section(hyper: dict[str, dict[str, Any]]) -> Section:
    """The chosen (tuned) LightGBM parameters of each fitted booster."""
    keys = sorted({k for params in hyper.values() for k in params})
    rows = [[k, *[num(params.get(k)) for params in hyper.values()]] for k in keys]
    return Section("Chosen hyper-parameters", "Best Optuna trial per booster (best_iteration from early "
                   "stopping on the validation split).", [Table(["parameter", *hyper], rows)])


def lift_section(pred: pd.DataFrame) -> Section:
    """Decile lift table and gain curve of purchasing power (calibration: :func:`calibration_section`)."""
    y = pred["purchasing_power_true"].to_numpy(dtype=float)
    p = pred["purchasing_power_pred"].to_numpy(dtype=float)
    keep = ~np.isnan(y)
    if not keep.any() or y[keep].sum() <= 0:
        return Section("Purchasing power: lift", "No positive purchasing power in the test split.")
    lift = decile_lift(y[keep], p[keep])
    rows = [[str(int(r.decile)), count(r.users), money(r.mean_pred), money(r.mean_true), f"{r.share:.1%}",
             f"{r.cum_share:.1%}", f"{r.lift:.2f}"] for r in lift.itertuples()]
    table = Table(["decile (1 = highest predicted)", "users", "mean predicted", "mean actual", "share of spend",
                   "cumulative share", "lift"], rows, "Decile lift (LightGBM, test split)")
    return Section("Purchasing power: lift",
                   "Lift = the decile's mean actual spend over the overall mean (1 = random targeting).",
                   [table], charts(_gain_chart(pred, y, keep)))


CALIBRATION_MODELS = ("lightgbm", "btyd")


def calibration_tables(metrics: dict, pred: pd.DataFrame) -> dict[str, dict]:
    """``metrics.json``'s purchasing_power.calibration_deciles, or (runs written before it) the same
    computed from the prediction frame's LightGBM and BTYD columns."""
    stored = _get(metrics, "purchasing_power", "calibration_deciles")
    if stored:  # metrics.json sorts its keys: LightGBM first again
        return {k: stored[k] for k in (*CALIBRATION_MODELS, *stored) if k in stored}
    if "purchasing_power_true" not in pred.columns:
        return {}
    y = pred["purchasing_power_true"].to_numpy(dtype=float)
    columns = {"lightgbm": "purchasing_power_pred", **_btyd_columns(pred)}
    return {kind: calibration_deciles(y, pred[col].to_numpy(dtype=float))
            for kind, col in columns.items() if col in pred.columns}


def _btyd_columns(pred: pd.DataFrame) -> dict[str, str]:
    """{model kind: column} of the BTYD baselines in a prediction frame (``purchasing_power_btyd``, ...)."""
    return {kind: col for col in pred.columns if is_baseline(kind := col.removeprefix("purchasing_power_"))}


def calibration_section(metrics: dict, pred: pd.DataFrame) -> Section:
    """Per model: the decile calibration table (rows, mean predicted, mean actual, ratio, and the
    overall ratio) and one log-log plot of mean predicted vs mean actual with the y = x diagonal."""
    title = "Purchasing power: decile calibration"
    tables, series = [], {}
    labels = {"btyd": run_label(metrics), **run_baselines(metrics)}
    for kind, cal in calibration_tables(metrics, pred).items():
        if not cal["overall"]["rows"]:
            continue
        name = {"lightgbm": "LightGBM", **{k: f"BTYD ({v})" for k, v in labels.items()}}.get(kind, kind)
        rows = [[str(d["decile"]), count(d["rows"]), money(d["mean_pred"]), money(d["mean_true"]),
                 num(d["ratio"], 3)] for d in cal["deciles"]]
        o = cal["overall"]
        rows.append(["all", count(o["rows"]), money(o["mean_pred"]), money(o["mean_true"]), num(o["ratio"], 3)])
        tables.append(Table(["decile (1 = lowest predicted)", "rows", "mean predicted", "mean actual",
                             "ratio (predicted / actual)"], rows, f"{name}, test split"))
        points = [(d["mean_pred"], d["mean_true"]) for d in cal["deciles"]
                  if d["mean_pred"] is not None and d["mean_true"] is not None]
        # The legend has room for about 20 characters: "BTYD Pareto/NBD", the "× Gamma-Gamma" implied.
        series[name.replace(" (", " ").split(" × ")[0]] = ([a for a, _ in points], [b for _, b in points])
    if not tables:
        return Section(title, "No purchasing-power labels in the test split.")
    plot = svg.line_chart("Decile calibration (log1p axes)", series, "mean predicted (log scale)",
                          "mean actual", diagonal=True, log_y=True)
    return Section(title, "Each model's test rows sorted by its own prediction into 10 equal-count deciles; a "
                   "calibrated model has ratio 1 and its points on the dashed y = x line. Both axes are "
                   "log10(1 + money), so deciles that predict 0 still show.", tables, charts(plot))


def _gain_chart(pred: pd.DataFrame, y: np.ndarray, keep: np.ndarray) -> str:
    series = {}
    columns = {"lightgbm": "purchasing_power_pred", "persistence": "purchasing_power_persistence",
               **_btyd_columns(pred)}
    for name, col in columns.items():
        if col in pred.columns:
            series[name] = _thin(*gain_curve(y[keep], pred[col].to_numpy(dtype=float)[keep]))
    series["oracle"] = _thin(*gain_curve(y[keep], y[keep]))
    series["random"] = ([0.0, 1.0], [0.0, 1.0])
    return svg.line_chart("Gain curve", series, "share of users (ranked by prediction)", "share of spend",
                          unit_range=True, markers=False)


def _thin(x: np.ndarray, c: np.ndarray, points: int = 200) -> tuple[list[float], list[float]]:
    grid = np.linspace(0, 1, points)
    return grid.tolist(), np.interp(grid, x, c).tolist()


def tier_section(metrics: dict, pred: pd.DataFrame, tiers: list[str]) -> Section:
    """Confusion matrix, recall per tier and the reliability (calibration) plot of the tier model."""
    m = _get(metrics, "tier", "lightgbm", metrics.get("main_feature_set", "XY")) or {}
    if "confusion" not in m:
        return Section("Tier", str(m.get("skipped", "no tier model")))
    heat = svg.heatmap("Confusion matrix (LightGBM)", m["confusion"], tiers, tiers, "true tier", "predicted tier")
    recall = svg.bar_chart("Recall per tier", tiers, {"lightgbm": [m["recall"].get(t) for t in tiers]}, "recall")
    names = [t for t in tiers if f"tier_proba_{t}" in pred.columns]
    index = {t: i for i, t in enumerate(names)}
    y = np.array([index.get(t, np.nan) if isinstance(t, str) else np.nan for t in pred["tier_true"]], dtype=float)
    rel = reliability(y, pred[[f"tier_proba_{t}" for t in names]].to_numpy(dtype=float), names)
    lines = {t: (g["mean_pred"].tolist(), g["observed"].tolist()) for t, g in rel.groupby("tier", sort=False)}
    plot = svg.line_chart("Tier reliability (one vs rest)", lines, "predicted probability", "observed share",
                          diagonal=True, unit_range=True) if lines else ""
    ece = expected_calibration_error(rel)
    table = Table(["tier", "test rows", "mean predicted probability", "observed share", "calibration error (ECE)"],
                  [[t, count(np.sum(~np.isnan(y))), f"{pred[f'tier_proba_{t}'].mean():.3f}",
                    f"{np.nanmean(y == index[t]) if len(y) else float('nan'):.3f}", f"{ece.get(t, float('nan')):.3f}"]
                   for t in names])
    return Section("Tier", "A calibrated model's points lie on the dashed diagonal.", [table],
                   charts(heat, recall, plot))


def importance_section(importance: dict) -> Section:
    """Mean |contribution| per explanation group for each target."""
    return Section("Global importance (grouped TreeSHAP)", charts=charts(*[
        svg.hbar_chart(f"{target}: mean |contribution| per group", imp["contribution"], "raw-score units")
        for target, imp in importance.items()]))


def ablation_section(metrics: dict) -> Section:
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
    return Section("Ablations (test split)", "Persistence (spend over the last H days; current tier) is drawn "
                   "under Y.", charts=charts(*plots))


def segment_section(metrics: dict) -> Section:
    """Test rows per segment value (integers) and headline metrics per segment."""
    rows, plots = [], []
    for col, values in metrics.get("segments", {}).items():
        for value, seg in values.items():
            rows.append([f"{col} = {value}", count(_get(seg, "purchasing_power", "lightgbm", "n")),
                         count(_get(seg, "tier", "lightgbm", "n"))])
        cats = list(values)
        for target, name in (("purchasing_power", "gini"), ("purchasing_power", "mae"), ("tier", "qwk")):
            series = {kind: [_get(values, v, target, kind, name) for v in cats] for kind in (*KINDS, "persistence")}
            if any(x is not None for xs in series.values() for x in xs):
                plots.append(svg.bar_chart(f"{target} {name} by {col}", cats, series, name))
    table = Table(["segment", "rows (purchasing power)", "rows (tier)"], rows, "Test rows per segment")
    return Section("Segments", tables=[table] if rows else [], charts=charts(*plots))


def tag_section(tags: dict | None, tiers: list[str]) -> Section | None:
    """Profile tags on the test split: Spearman with the purchasing-power label, mean per tier."""
    if not tags:
        return None
    shown = [t for t in tiers if any(_get(r, "mean_by_tier", t) is not None for r in tags.values())]
    rows = [[name.removeprefix("tag_"), count(r.get("n")), num(r.get("spearman_pp")),
             *[num(_get(r, "mean_by_tier", t)) for t in shown]] for name, r in tags.items()]
    table = Table(["tag", "rows", "Spearman with purchasing power", *[f"mean ({t})" for t in shown]], rows)
    return Section("Profile tags (test split)", "Each tag is the cosine of the user's review/search profiles to "
                   "the tag's prototype phrases as of the cutoff, centred within its group (docs/EMBEDDINGS.md); "
                   "tags are served by "
                   "/v1/predict and are not model inputs. Mean per tier uses the true next-horizon tier.",
                   [table])


def cutoff_section(rows_per_cutoff: dict[str, int]) -> Section | None:
    """Training-frame rows per cutoff on a date axis."""
    if not rows_per_cutoff:
        return None
    dates = [datetime.fromisoformat(c) for c in rows_per_cutoff]
    chart = svg.line_chart("Rows per cutoff", {"rows": (dates, list(rows_per_cutoff.values()))}, "cutoff",
                           "rows", integer_y=True)
    return Section("Examples per cutoff", charts=charts(chart))


ENCODER_ROWS = (("none", "none (Y only)"), ("frozen", "frozen (base encoder X)"),
                ("fine_tuned", "fine-tuned (X from the fine-tuned encoder)"))
ENCODER_METRICS = (("pp_gini", "pp gini"), ("pp_rmse", "pp RMSE"), ("pp_r2", "pp R²"), ("tier_qwk", "tier QWK"))


def encoder_ablation_rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows of the none / frozen / fine-tuned table (the CLI prints the same)."""
    head = ["encoder", "test rows", *[n for _, n in ENCODER_METRICS], "new-user rows",
            *[f"new: {n}" for _, n in ENCODER_METRICS]]
    rows = []
    for key, label in ENCODER_ROWS:
        r = doc["rows"].get(key)
        if r is None:
            continue
        rows.append([label, count(r["test_rows"]), *[num(r["test"].get(k)) for k, _ in ENCODER_METRICS],
                     count(r["new_user_rows"]), *[num(r["new_users"].get(k)) for k, _ in ENCODER_METRICS]])
    return head, rows


def encoder_ablation_section(doc: dict[str, Any] | None) -> Section | None:
    """Encoder ablation: LightGBM on Y only, on X ‖ Y with the base encoder's X, and with the
    fine-tuned encoder's X, fitted and tested on this run's split (``powertier finetune``)."""
    if not doc:
        return None
    head, rows = encoder_ablation_rows(doc)
    keys = {r["test_keys"] for r in doc["rows"].values()}
    same = "the same test rows (one digest)" if len(keys) == 1 else "DIFFERENT test rows"
    ft = doc.get("fine_tuned") or {}
    intro = (f"Stage 2 refitted three times on this run's split with its parameters (LightGBM trials "
             f"{doc.get('trials')}), scored on {same}; new users: tenure <= 90 days. Fine-tuned encoder "
             f"{ft.get('model_id')} (from {ft.get('base_model')}, label {ft.get('label')}, labels available by "
             f"{ft.get('label_end')}). Views: " + "; ".join(f"{k}: {v}" for k, v in (doc.get("views") or {}).items()))
    flags = [] if len(keys) == 1 else ["The three rows were not scored on the same test rows."]
    return Section("Encoder ablation: none / frozen / fine-tuned", intro, [Table(head, rows)], flags=flags)


def build_page(metrics: dict, predictions: pd.DataFrame, importance: dict, info: dict) -> Page:
    """The page model. ``info``: run_id, notes, split, tiers; optional hyperparameters,
    rows_per_cutoff, warnings (a verdict computed elsewhere) and extra_sections."""
    main_fs = metrics.get("main_feature_set", "XY")
    split = info.get("split", {})
    rows = ", ".join(f"{k} {count(v)}" for k, v in split.get("rows", {}).items())
    sections = [s for s in (gate_section(info.get("gate")),) if s is not None]
    sections += [metrics_section(metrics), *[x for x in (selection_section(metrics, split),) if x is not None],
                 lift_section(predictions), calibration_section(metrics, predictions),
                tier_section(metrics, predictions, list(info.get("tiers", [])))]
    if info.get("hyperparameters"):
        sections.append(hyperparameter_section(info["hyperparameters"]))
    sections += [ablation_section(metrics), importance_section(importance), segment_section(metrics)]
    sections += [s for s in (tag_section(metrics.get("tags"), list(info.get("tiers", []))),
                             fairness_section(metrics.get("fairness")), cutoff_section(info.get("rows_per_cutoff", {})))
                 if s is not None]
    sections += [s for s in (encoder_ablation_section(info.get("encoder_ablation")),) if s is not None]
    sections += list(info.get("extra_sections", []))
    warnings = info["warnings"] if "warnings" in info else baseline_warnings(metrics)
    return Page(f"PowerTier training run {info.get('run_id', '')}",
                f"Main model: LightGBM on {main_fs}. Split: {split.get('strategy', '')}; rows {rows}.",
                list(info.get("notes", [])), warnings, "The main model loses to a baseline or an ablation", sections)


def build_report(metrics: dict, predictions: pd.DataFrame, importance: dict, info: dict) -> str:
    """The whole HTML document."""
    return render(build_page(metrics, predictions, importance, info))
