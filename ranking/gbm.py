"""LightGBM models of stage 2: purchasing power (Tweedie vs log1p-L2, the better one on validation
is kept) and the tier (multiclass with balanced class weights)."""

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
}


def base_params(p: TrainParams) -> dict[str, Any]:
    """Parameters shared by every booster: fixed seed and threads, deterministic histograms."""
    return {"seed": p.seed, "deterministic": True, "force_row_wise": True, "num_threads": p.num_threads,
            "verbose": -1, "max_depth": MAX_DEPTH}


def make_dataset(Z: np.ndarray, y: np.ndarray, names: list[str], weight: np.ndarray | None = None,
                 reference: lgb.Dataset | None = None) -> lgb.Dataset:
    """A constructed Dataset; ``feature_pre_filter=False`` lets trials vary ``min_data_in_leaf``."""
    params = {"feature_pre_filter": False, "verbose": -1, "max_bin": 255}
    return lgb.Dataset(Z, label=y, weight=weight, feature_name=names, reference=reference,
                       params=params, free_raw_data=False).construct()


def pp_target(objective: str, y: np.ndarray) -> np.ndarray:
    """The label each objective is trained on."""
    return np.log1p(y) if objective == "log1p_l2" else y


def predict_pp(booster: lgb.Booster, objective: str, Z: np.ndarray, num_iteration: int) -> np.ndarray:
    """Purchasing power on the money scale (>= 0) for either objective."""
    raw = booster.predict(Z, num_iteration=num_iteration)
    return np.clip(np.expm1(raw), 0.0, None) if objective == "log1p_l2" else raw


def fit_purchasing_power(Ztr: np.ndarray, ytr: np.ndarray, Zva: np.ndarray, yva: np.ndarray, names: list[str],
                         p: TrainParams) -> tuple[dict[str, lgb.Booster], str, dict[str, Any]]:
    """Tune both objectives, compare them by validation RMSE on the money scale, keep the better.

    Returns (boosters by objective, the selected objective, per-objective validation info)."""
    boosters, info = {}, {}
    reference = None
    for objective, obj_params in PP_OBJECTIVES.items():
        dtrain = make_dataset(Ztr, pp_target(objective, ytr), names, reference=reference)
        if reference is None:  # bin the features once, reuse the bins for the other objective
            reference = dtrain
        dvalid = make_dataset(Zva, pp_target(objective, yva), names, reference=dtrain)
        booster, params, history = tune({**base_params(p), **obj_params}, dtrain, dvalid, p.trials, p.seed,
                                        p.num_boost_round, p.early_stopping_rounds)
        pred = predict_pp(booster, objective, Zva, booster.best_iteration)
        boosters[objective] = booster
        info[objective] = {"valid_rmse": float(root_mean_squared_error(yva, pred)),
                           "valid_mae": float(mean_absolute_error(yva, pred)),
                           "best_iteration": int(booster.best_iteration), "params": params, "trials": history}
    selected = min(info, key=lambda k: info[k]["valid_rmse"])
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
                                    p.early_stopping_rounds)
    info = {"best_iteration": int(booster.best_iteration), "params": params, "trials": history,
            "class_weights": weights.tolist()}
    return booster, info


def predict_tier_proba(booster: lgb.Booster, Z: np.ndarray, num_iteration: int) -> np.ndarray:
    """Tier probabilities (n × n_classes, rows sum to 1)."""
    return np.asarray(booster.predict(Z, num_iteration=num_iteration)).reshape(len(Z), -1)
