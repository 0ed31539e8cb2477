"""LightGBM models of stage 2: purchasing power (Tweedie, log1p-L2 with smearing, Tweedie with the
BTYD offset, each optionally blended with BTYD; one chosen by a declared rule over all headline
metrics and calibrated to the validation mean) and the tier (multiclass, balanced class weights)."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.metrics import mean_absolute_error, root_mean_squared_error
from sklearn.utils.class_weight import compute_class_weight

from ranking.params import TrainParams
from ranking.tuning import tune

# Bounded depth keeps TreeSHAP explanations cheap (cost grows with depth squared) and regularises.
MAX_DEPTH = 8
PP_OBJECTIVES: dict[str, dict[str, Any]] = {
    "tweedie": {"objective": "tweedie", "tweedie_variance_power": 1.5, "metric": "tweedie"},
    "log1p_l2": {"objective": "regression", "metric": "l2"},
    # Tweedie (log link) starting from log(BTYD expected spend): trees learn a multiplicative
    # correction, so heavy spenders are not capped by leaf values. Needs the BTYD inputs.
    "tweedie_btyd_offset": {"objective": "tweedie", "tweedie_variance_power": 1.5, "metric": "tweedie"},
}
OFFSET_COLUMN = "btyd_expected_spend"
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
SELECTION_RULE = ("candidate with the best mean rank over the six validation headline metrics (mae, rmse: lower; "
                  "r2, spearman, gini, top10_share: higher; ties share ranks), ties broken by validation RMSE; "
                  "then every prediction is scaled so that the validation mean prediction equals the mean truth")


def base_params(p: TrainParams) -> dict[str, Any]:
    """Parameters shared by every booster: fixed seed and threads, deterministic histograms."""
    return {"seed": p.seed, "deterministic": True, "force_row_wise": True, "num_threads": p.num_threads,
            "verbose": -1, "max_depth": MAX_DEPTH}


def make_dataset(Z: np.ndarray, y: np.ndarray, names: list[str], weight: np.ndarray | None = None,
                 reference: lgb.Dataset | None = None, init_score: np.ndarray | None = None) -> lgb.Dataset:
    """A constructed Dataset; ``feature_pre_filter=False`` lets trials vary ``min_data_in_leaf``."""
    params = {"feature_pre_filter": False, "verbose": -1, "max_bin": 255}
    return lgb.Dataset(Z, label=y, weight=weight, feature_name=names, reference=reference, init_score=init_score,
                       params=params, free_raw_data=False).construct()


def pp_target(objective: str, y: np.ndarray) -> np.ndarray:
    """The label each objective is trained on."""
    return np.log1p(y) if objective == "log1p_l2" else y


def offset(Z: np.ndarray, info: dict[str, Any]) -> np.ndarray | None:
    """log of the BTYD expected spend (the init score), users without a purchase at ``offset_fill``."""
    col = info.get("offset_col")
    if col is None:
        return None
    spend = np.where(np.isnan(Z[:, col]), info["offset_fill"], Z[:, col])
    return np.log(np.clip(spend, 1e-3, None))


def predict_pp(booster: lgb.Booster, objective: str, Z: np.ndarray, num_iteration: int,
               info: dict[str, Any] | None = None) -> np.ndarray:
    """Purchasing power on the money scale (>= 0): the booster's prediction, its offset, the log
    back-transform's smearing factor, the blend with BTYD and the validation mean calibration."""
    info = info or {}
    raw = booster.predict(Z, num_iteration=num_iteration, raw_score=objective != "log1p_l2")
    if objective == "log1p_l2":
        pred = np.clip(np.exp(raw) * info.get("smear", 1.0) - 1.0, 0.0, None)
    else:
        off = offset(Z, info)
        pred = np.exp(raw + (0.0 if off is None else off))
    blend = info.get("blend")
    if blend and blend["weight"] < 1.0:
        btyd = np.nan_to_num(Z[:, blend["col"]], nan=0.0)
        pred = blend["weight"] * pred + (1 - blend["weight"]) * btyd
    return pred * info.get("scale", 1.0)


def _mean_ranks(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean rank of each candidate over the headline metrics (1 = best)."""
    from scipy.stats import rankdata

    names = list(scores)
    ranks = np.zeros(len(names))
    for metric, higher in (("mae", False), ("rmse", False), ("r2", True), ("spearman", True), ("gini", True),
                           ("top10_share", True)):
        values = np.array([scores[n].get(metric) if scores[n].get(metric) is not None else np.nan for n in names])
        values = np.where(np.isnan(values), -np.inf if higher else np.inf, values)
        ranks += rankdata(-values if higher else values)
    return dict(zip(names, ranks / 6))


def fit_purchasing_power(Ztr: np.ndarray, ytr: np.ndarray, Zva: np.ndarray, yva: np.ndarray, names: list[str],
                         p: TrainParams) -> tuple[dict[str, lgb.Booster], str, dict[str, Any]]:
    """Tune every objective, add its blends with BTYD, choose by :data:`SELECTION_RULE`.

    Returns (boosters by objective, the selected objective, per-objective validation info)."""
    from ranking.metrics import regression_metrics

    boosters, info = {}, {}
    reference = None
    off_col = names.index(OFFSET_COLUMN) if OFFSET_COLUMN in names else None
    for objective, obj_params in PP_OBJECTIVES.items():
        if objective == "tweedie_btyd_offset" and off_col is None:
            continue
        extra: dict[str, Any] = {}
        if objective == "tweedie_btyd_offset":
            no_btyd = np.isnan(Ztr[:, off_col])
            extra = {"offset_col": off_col, "offset_fill": float(np.mean(ytr[no_btyd])) if no_btyd.any() else 1.0}
        dtrain = make_dataset(Ztr, pp_target(objective, ytr), names, reference=reference, init_score=offset(Ztr, extra))
        if reference is None:  # bin the features once, reuse the bins for the other objectives
            reference = dtrain
        dvalid = make_dataset(Zva, pp_target(objective, yva), names, reference=dtrain, init_score=offset(Zva, extra))
        booster, params, history = tune({**base_params(p), **obj_params}, dtrain, dvalid, p.trials, p.seed,
                                        p.num_boost_round, p.early_stopping_rounds, p.parallel_trials)
        it = int(booster.best_iteration)
        if objective == "log1p_l2":  # Duan's smearing: E[exp(e)] of the training residuals on the log scale
            extra["smear"] = float(np.mean(np.exp(np.log1p(ytr) - booster.predict(Ztr, num_iteration=it))))
        blends = [None] if off_col is None else [{"weight": w, "col": off_col} for w in BLEND_WEIGHTS]
        scored = []
        for blend in blends:
            cand = {**extra, "blend": blend}
            pred = predict_pp(booster, objective, Zva, it, cand)
            cand["scale"] = float(np.mean(yva) / np.mean(pred)) if np.mean(pred) > 0 else 1.0
            scored.append((cand, regression_metrics(yva, pred * cand["scale"])))
        ranks = _mean_ranks({str(i): m for i, (_, m) in enumerate(scored)})
        best = min(ranks, key=lambda k: (ranks[k], scored[int(k)][1]["rmse"]))
        cand, valid = scored[int(best)]
        boosters[objective] = booster
        info[objective] = {**cand, "valid_rmse": valid["rmse"], "valid_mae": valid["mae"], "valid": valid,
                           "best_iteration": it, "params": params, "trials": history}
    ranks = _mean_ranks({k: v["valid"] for k, v in info.items()})
    selected = min(ranks, key=lambda k: (ranks[k], info[k]["valid_rmse"]))
    for k in info:
        info[k]["valid_mean_rank"] = ranks[k]
    return boosters, selected, info


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced weight per class index (classes absent from ``y`` get 1)."""
    present = np.unique(y)
    weights = np.ones(n_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    return weights


def fit_tier(Ztr: np.ndarray, ytr: np.ndarray, Zva: np.ndarray, yva: np.ndarray, names: list[str],
             n_classes: int, p: TrainParams) -> tuple[lgb.Booster, dict[str, Any]]:
    """Multiclass booster over all ``n_classes`` tiers, weighted by the training class balance."""
    weights = class_weights(ytr, n_classes)
    dtrain = make_dataset(Ztr, ytr, names, weight=weights[ytr])
    dvalid = make_dataset(Zva, yva, names, weight=weights[yva], reference=dtrain)
    base = {**base_params(p), "objective": "multiclass", "num_class": n_classes, "metric": "multi_logloss"}
    booster, params, history = tune(base, dtrain, dvalid, p.trials, p.seed, p.num_boost_round,
                                    p.early_stopping_rounds, p.parallel_trials)
    info = {"best_iteration": int(booster.best_iteration), "params": params, "trials": history,
            "class_weights": weights.tolist()}
    return booster, info


def predict_tier_proba(booster: lgb.Booster, Z: np.ndarray, num_iteration: int) -> np.ndarray:
    """Tier probabilities (n × n_classes, rows sum to 1)."""
    return np.asarray(booster.predict(Z, num_iteration=num_iteration)).reshape(len(Z), -1)
