"""Ablations {linear, lightgbm} × {XY, X, Y} plus persistence baselines, scored on the test split,
overall and by segment, assembled into the ``metrics.json`` layout."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from ranking import btyd
from ranking.dataset import FEATURE_SETS, FeatureSpec, infer_feature_spec, numeric_matrix, segment_columns
from ranking.explain import gain_importance, global_importance
from ranking.metrics import calibration_deciles, regression_metrics, tier_metrics
from ranking.model import TwoStageModel, pp_labels, tier_labels
from ranking.params import TrainParams

NEW_USER_DAYS = 90
IMPORTANCE_ROWS = 2_000  # TreeSHAP costs ~3 ms a row for the tier model: a seeded sample ranks groups fine


def ablation_plan(spec: FeatureSpec) -> tuple[list[str], dict[str, str]]:
    """Feature sets that can be trained on this frame, and why the others cannot."""
    runnable, skipped = [], {}
    for fs in FEATURE_SETS:
        r = spec.restrict(fs)
        if "X" in fs and not r.text_views:
            skipped[fs] = "no text views (no *_embedding columns): text tables absent"
        elif "Y" in fs and not r.y_features:
            skipped[fs] = "no transactional features"
        else:
            runnable.append(fs)
    return runnable, skipped


def fit_ablations(train: pd.DataFrame, valid: pd.DataFrame, params: TrainParams,
                  feature_names: list[str] | None = None, main: TwoStageModel | None = None,
                  on_fit: Callable[[], None] | None = None) -> tuple[dict[str, TwoStageModel], dict[str, str]]:
    """One fitted model per runnable feature set (reusing ``main`` for its own set)."""
    runnable, skipped = ablation_plan(infer_feature_spec(train, feature_names))
    names = None if feature_names is None else tuple(feature_names)
    models = {}
    for fs in runnable:
        reuse = main is not None and main.feature_set == fs
        models[fs] = main if reuse else TwoStageModel(params, fs, names).fit(train, valid, on_fit)
    return models, skipped


def model_predictions(model: TwoStageModel, Z: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """{target: {"lightgbm"|"linear": predictions}} from a design matrix (tier: probabilities)."""
    out: dict[str, dict[str, np.ndarray]] = {"purchasing_power": {"lightgbm": model.predict_pp_z(Z)}, "tier": {}}
    if model.linear_pp_ is not None:
        out["purchasing_power"]["linear"] = model.predict_pp_z(Z, "linear")
    if model.tier_booster_ is not None:
        out["tier"]["lightgbm"] = model.predict_tier_proba_z(Z)
        if model.linear_tier_ is not None:
            out["tier"]["linear"] = model.predict_tier_proba_z(Z, "linear")
    return out


def persistence_predictions(frame: pd.DataFrame, params: TrainParams, fallback_tier: int | None,
                            ) -> dict[str, np.ndarray | str]:
    """Baselines: spend over the last H days for purchasing power, the current tier for the tier
    (users without one get ``fallback_tier``, the most frequent training tier). A string says why
    a baseline is unavailable."""
    out: dict[str, np.ndarray | str] = {}
    spend = f"spend_{params.horizon_days}d"
    out["purchasing_power"] = (np.nan_to_num(numeric_matrix(frame, [spend])[:, 0], nan=0.0)
                               if spend in frame.columns else f"no {spend} feature")
    if "current_tier" not in frame.columns or fallback_tier is None:
        out["tier"] = "no current_tier feature or no tier labels"
        return out
    current = numeric_matrix(frame, ["current_tier"])[:, 0]
    idx = np.where(np.isnan(current), fallback_tier, current).astype(int).clip(0, len(params.tiers) - 1)
    out["tier"] = np.eye(len(params.tiers))[idx]
    return out


def score(preds: dict[str, dict[str, Any]], frame: pd.DataFrame, params: TrainParams,
          mask: np.ndarray | None = None) -> dict[str, dict[str, dict]]:
    """{target: {model kind: metrics}} on the labelled rows of ``frame`` (within ``mask``)."""
    keep = np.ones(len(frame), dtype=bool) if mask is None else mask
    y_pp, y_tier = pp_labels(frame), tier_labels(frame, len(params.tiers))
    out: dict[str, dict[str, dict]] = {"purchasing_power": {}, "tier": {}}
    for kind, p in preds["purchasing_power"].items():
        m = keep & ~np.isnan(y_pp)
        out["purchasing_power"][kind] = {"skipped": p} if isinstance(p, str) else regression_metrics(y_pp[m], p[m])
    for kind, proba in preds["tier"].items():
        m = keep & ~np.isnan(y_tier)
        out["tier"][kind] = {"skipped": proba} if isinstance(proba, str) else \
            tier_metrics(y_tier[m].astype(int), proba[m], params.tiers)
    return out


def segment_masks(frame: pd.DataFrame, spec: FeatureSpec) -> dict[str, dict[str, np.ndarray]]:
    """Segments: new (tenure <= 90 days) vs established users, and each user attribute's values."""
    out: dict[str, dict[str, np.ndarray]] = {}
    if "tenure_days" in frame.columns:
        tenure = numeric_matrix(frame, ["tenure_days"])[:, 0]
        seg = {"new": tenure <= NEW_USER_DAYS, "established": tenure > NEW_USER_DAYS, "unknown": np.isnan(tenure)}
        out["tenure"] = {k: v for k, v in seg.items() if v.any()}
    for col in segment_columns(frame, spec):
        values = frame[col].astype("string").fillna("(missing)").to_numpy()
        out[col] = {str(v): values == v for v in sorted(set(values))}
    return out


def btyd_predictions(models: dict[str, TwoStageModel], main_fs: str, frame: pd.DataFrame,
                     purchases: str | None = None) -> np.ndarray | str:
    """A BTYD baseline (BG/NBD or Pareto/NBD x Gamma-Gamma fitted on training rows; ``purchases``, by
    default the inputs' model) from the main model, or from any ablation that has the BTYD statistics;
    a string says why there is none."""
    ordered = [models[main_fs], *(m for fs, m in models.items() if fs != main_fs)]
    for model in ordered:
        spend = model.btyd_spend(frame, purchases)
        if spend is not None:
            return spend
    return "no BTYD statistics (btyd_* features) or too few repeat customers to fit BTYD"


def btyd_baselines(models: dict[str, TwoStageModel], main_fs: str, frame: pd.DataFrame,
                   params: TrainParams) -> dict[str, np.ndarray | str]:
    """Every BTYD baseline of a run by name (:func:`ranking.btyd.baseline_keys`): ``btyd`` (the inputs'
    purchase model) and the other classic one."""
    return {key: btyd_predictions(models, main_fs, frame, purchases)
            for key, purchases in btyd.baseline_keys(params.btyd_purchases).items()}


def fallback_tier(train: pd.DataFrame, params: TrainParams) -> int | None:
    """Most frequent training tier label (None without tier labels)."""
    y = tier_labels(train, len(params.tiers))
    y = y[~np.isnan(y)].astype(int)
    return int(np.bincount(y).argmax()) if len(y) else None


def objective_comparison(model: TwoStageModel, Z: pd.DataFrame, frame: pd.DataFrame) -> dict[str, dict]:
    """Both purchasing-power objectives: validation figures that chose between them, and test metrics."""
    y = pp_labels(frame)
    m = ~np.isnan(y)
    out = {}
    for obj, info in model.pp_info_.items():
        test = regression_metrics(y[m], model.predict_pp_z(Z, objective=obj)[m])
        blend = info.get("blend") or {}
        out[obj] = {"valid_rmse": info["valid_rmse"], "valid_mae": info["valid_mae"],
                    "valid": info.get("valid"), "valid_mean_rank": info.get("valid_mean_rank"),
                    "btyd_blend_weight": blend.get("weight"), "p_buy_sharpen": info.get("sharpen", 1.0),
                    "mean_scale": info.get("scale"), "mean_scale_source": info.get("scale_source"),
                    "season": _season_summary(info.get("season")),
                    "best_iteration": info["best_iteration"], "test": test}
    return out


def _season_summary(season: dict | None) -> dict | None:
    """The seasonal level's GLM (``gbm.fit_season``) without its column indices."""
    if season is None:
        return None
    return {k: season[k] for k in ("intercept", "coef", "center", "phases", "span_days")}


def evaluate(models: dict[str, TwoStageModel], skipped: dict[str, str], train: pd.DataFrame, test: pd.DataFrame,
             params: TrainParams, main_fs: str) -> tuple[dict, dict[str, dict[str, Any]]]:
    """(metrics in the ``metrics.json`` layout, predictions of the main model + persistence on test)."""
    metrics: dict[str, Any] = {t: {"lightgbm": {}, "linear": {}} for t in ("purchasing_power", "tier")}
    main_preds: dict[str, dict[str, Any]] = {}
    by_set: dict[str, dict[str, dict[str, Any]]] = {}
    for fs in FEATURE_SETS:
        if fs in skipped:
            for target in ("purchasing_power", "tier"):
                metrics[target]["lightgbm"][fs] = metrics[target]["linear"][fs] = {"skipped": skipped[fs]}
            continue
        Z = models[fs].design(test)
        preds = model_predictions(models[fs], Z)
        scored = score(preds, test, params)
        for target in ("purchasing_power", "tier"):
            for kind in ("lightgbm", "linear"):
                metrics[target][kind][fs] = scored[target].get(kind, {"skipped": _why_missing(models[fs], target)})
        metrics["purchasing_power"]["lightgbm"][fs]["objective"] = models[fs].pp_objective_
        metrics["purchasing_power"]["lightgbm"][fs]["objectives"] = objective_comparison(models[fs], Z, test)
        by_set[fs] = preds
        if fs == main_fs:
            main_preds = preds
    base = persistence_predictions(test, params, fallback_tier(train, params))
    base_pp = {"persistence": base["purchasing_power"], **btyd_baselines(models, main_fs, test, params)}
    for name, p in [*base_pp.items(), ("persistence_tier", base["tier"])]:
        target, kind = ("tier", "persistence") if name == "persistence_tier" else ("purchasing_power", name)
        main_preds[target][kind] = p
        metrics[target][kind] = score({"purchasing_power": {}, "tier": {}, target: {kind: p}},
                                      test, params)[target][kind]
    metrics["purchasing_power"]["calibration_deciles"] = calibration_tables(test, main_preds["purchasing_power"])
    spec = models[main_fs].spec_
    masks = segment_masks(test, spec)
    metrics["segments"] = {col: {value: score(main_preds, test, params, mask) for value, mask in segs.items()}
                           for col, segs in masks.items()}
    # The ablation per segment too: does text help new users more than established ones?
    metrics["segments_by_feature_set"] = {
        fs: {col: {value: score(preds, test, params, mask) for value, mask in segs.items()}
             for col, segs in masks.items()} for fs, preds in by_set.items()}
    metrics["main_feature_set"] = main_fs
    metrics["btyd_model"] = btyd.label(params.btyd_purchases)
    metrics["btyd_baselines"] = {key: btyd.label(m) for key, m in btyd.baseline_keys(params.btyd_purchases).items()}
    return metrics, main_preds


def calibration_tables(frame: pd.DataFrame, pp_preds: dict[str, Any]) -> dict[str, dict]:
    """Decile calibration (:func:`ranking.metrics.calibration_deciles`) of the main LightGBM model
    and of each BTYD baseline that was fitted, on the labelled rows of ``frame``."""
    y = pp_labels(frame)
    return {kind: calibration_deciles(y, p) for kind, p in pp_preds.items()
            if (kind == "lightgbm" or btyd.is_baseline(kind)) and isinstance(p, np.ndarray)}


def _why_missing(model: TwoStageModel, target: str) -> str:
    if target == "tier" and model.tier_booster_ is None:
        return "tier model not trained: " + next((n for n in model.notes_ if n.startswith("tier")), "no tier labels")
    return "linear reference not fitted"


def importance(model: TwoStageModel, frame: pd.DataFrame, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """Global importance per group: mean |contribution| on a seeded sample, and share of split gain."""
    rows = np.arange(len(frame))
    if len(rows) > IMPORTANCE_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, IMPORTANCE_ROWS, replace=False))
    Z = model.design(frame.iloc[rows])
    pp_booster = model.pp_boosters_[model.explained_pp_objective]
    out = {"purchasing_power": {"contribution": global_importance(model.contributions(Z, "purchasing_power", method="treeshap")),
                                "gain": gain_importance(pp_booster, model.feature_columns_, model.groups_)}}
    if model.tier_booster_ is not None:
        predicted = np.argmax(model.predict_tier_proba_z(Z), axis=1)
        out["tier"] = {"contribution": global_importance(model.contributions(Z, "tier", predicted, method="treeshap")),
                       "gain": gain_importance(model.tier_booster_, model.feature_columns_, model.groups_)}
    return out


def prediction_frame(test: pd.DataFrame, preds: dict[str, dict[str, Any]], params: TrainParams) -> pd.DataFrame:
    """Test-split predictions of the main model (targets absent when that target is)."""
    out = test[["user_id", "event_timestamp"]].reset_index(drop=True).copy()
    out["purchasing_power_true"] = pp_labels(test)
    out["purchasing_power_pred"] = preds["purchasing_power"]["lightgbm"]
    out["horizon_days"] = params.horizon_days
    for kind, p in preds["purchasing_power"].items():
        if (kind == "persistence" or btyd.is_baseline(kind)) and isinstance(p, np.ndarray):
            out[f"purchasing_power_{kind}"] = p
    if "lightgbm" in preds["tier"]:
        names = np.asarray(params.tiers, dtype=object)
        y = tier_labels(test, len(params.tiers))
        proba = preds["tier"]["lightgbm"]
        out["tier_true"] = pd.array([names[int(v)] if not np.isnan(v) else None for v in y], dtype="string")
        out["tier_pred"] = pd.array(names[np.argmax(proba, axis=1)], dtype="string")
        for j, name in enumerate(params.tiers):
            out[f"tier_proba_{name}"] = proba[:, j]
    return out
