"""The two-stage model: text projection (stage 1 vectors → X) and stage-2 models on Z = X ‖ Y.

One :class:`TwoStageModel` holds, for one feature set (XY, X or Y): the projection, the LightGBM
purchasing-power boosters (Tweedie and log1p-L2, one selected), the LightGBM tier booster, and the
linear reference for both targets. ``get_state``/``from_state`` expose everything as JSON-able
metadata, numpy arrays and boosters, so the artifact can store it without pickle.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ranking import btyd, gbm
from ranking.dataset import EMBEDDING_SUFFIX, FeatureSpec, infer_feature_spec, numeric_matrix
from ranking.explain import REASON_METHODS, feature_groups, group_contributions, group_membership, path_table, top_reasons
from ranking.linear import LinearReference
from ranking.params import TrainParams
from ranking.projection import TextProjector


def default_feature_set(spec: FeatureSpec) -> str:
    """XY when both kinds of input exist, else whichever exists."""
    if spec.text_views and spec.y_features:
        return "XY"
    return "X" if spec.text_views else "Y"


def pp_labels(frame: pd.DataFrame) -> np.ndarray:
    """Purchasing power as float (NaN = unlabelled); negative values are an input error."""
    y = pd.to_numeric(frame["purchasing_power"]).to_numpy(dtype="float64", na_value=np.nan)
    if (y < 0).any():
        raise ValueError("purchasing_power must be >= 0")
    return y


def tier_labels(frame: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Tier index as float (NaN = unlabelled); indices outside 0..K-1 are an input error."""
    if "tier_next" not in frame.columns:
        return np.full(len(frame), np.nan)
    y = pd.to_numeric(frame["tier_next"]).to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isnan(y) & ((y < 0) | (y >= n_classes) | (y != np.round(y)))
    if bad.any():
        raise ValueError(f"tier_next must be a tier index in 0..{n_classes - 1}; got {np.unique(y[bad])[:5]}")
    return y


class TwoStageModel(BaseEstimator):
    """Projection + LightGBM + linear reference for one feature set (``"XY"``, ``"X"``, ``"Y"``)."""

    def __init__(self, params: TrainParams = TrainParams(), feature_set: str = "XY",
                 feature_names: tuple[str, ...] | None = None, with_linear: bool = True):
        self.params = params
        self.feature_set = feature_set
        self.feature_names = feature_names
        self.with_linear = with_linear

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame,
            on_fit: Callable[[], None] | None = None) -> "TwoStageModel":
        """Fit projection on train rows with vectors, then every model, early-stopped on ``valid``.
        ``on_fit`` (a fit parameter, not state) is called after every LightGBM fit, for progress."""
        self.__dict__.pop("_path_tables", None)  # built from the boosters this fit replaces
        self.fit_inputs(train)
        p = self.params
        Ztr, Zva = self.design(train), self.design(valid)
        self._fit_pp(Ztr.to_numpy(), pp_labels(train), Zva.to_numpy(), pp_labels(valid), on_fit,
                     *(f["user_id"].to_numpy() if "user_id" in f else None for f in (train, valid)))
        self._fit_tier(Ztr.to_numpy(), tier_labels(train, len(p.tiers)), Zva.to_numpy(),
                       tier_labels(valid, len(p.tiers)), on_fit)
        if self.with_linear:
            self.notes_.append("linear reference on the same Z: Poisson GLM (log link) on purchasing power in money"
                               + (", multinomial logistic tier" if self.linear_tier_ is not None else "")
                               + f" (median imputation + missing indicators, standardised; at most "
                               f"{self.linear_pp_.max_rows} seeded training rows)")
        return self

    def fit_inputs(self, train: pd.DataFrame) -> "TwoStageModel":
        """The input stage of :meth:`fit` alone, on the training rows: the feature spec, the text
        projection and BTYD, after which :meth:`design` builds Z (bench/demo_spend.py studies the
        spend models on it)."""
        names = None if self.feature_names is None else list(self.feature_names)
        self.__dict__.pop("feature_columns_", None)  # a previous fit's columns would filter the BTYD outputs
        self.spec_ = infer_feature_spec(train, names).restrict(self.feature_set)
        if not self.spec_.text_views and not self.spec_.y_features:
            raise ValueError(f"feature set {self.feature_set!r} has no model inputs in this frame")
        p = self.params
        self.projector_ = (TextProjector(self.spec_.text_views, p.projection, p.projection_dims, p.seed).fit(train)
                           if self.spec_.text_views else None)
        self.btyd_, btyd_note = self._fit_btyd(train, p.btyd_purchases)
        self.btyd_others_, other_notes = self._fit_btyd_others(train)
        self.feature_columns_ = list(self.design(train.head(1)).columns)
        self.groups_ = {**feature_groups(self.spec_, self.feature_columns_),
                        **{c: "btyd" for c in btyd.OUTPUTS if c in self.feature_columns_}}
        self.notes_ = ([f"inputs ({self.feature_set}): {self._describe_inputs()}"] + ([btyd_note] if btyd_note else [])
                       + other_notes)
        return self

    def _fit_btyd(self, train: pd.DataFrame, purchases: str,
                  role: str = "inputs") -> tuple[btyd.BTYDSpend | None, str | None]:
        """BG/NBD or Pareto/NBD (``purchases``) x Gamma-Gamma on the training rows' point-in-time statistics,
        when the feature set has them. The configured model's predictions become inputs (and the ``btyd``
        baseline); ``role`` names that use in the note. Returns (model or None, note)."""
        if not all(s in self.spec_.y_features for s in btyd.STATISTICS):
            return None, None
        X, customer = btyd.statistics_matrix(numeric_matrix(train, list(btyd.STATISTICS)))
        try:
            model = btyd.BTYDSpend(horizon=float(self.params.horizon_days), purchases=purchases).fit(X[customer])
        except ValueError as exc:  # e.g. too few repeat customers for Gamma-Gamma
            return None, f"BTYD {role} not used: {exc}"
        return model, (f"BTYD {role}: {model.describe()} fitted on {int(customer.sum())} training rows "
                       f"with a purchase (times in days); horizon {self.params.horizon_days} d")

    def _fit_btyd_others(self, train: pd.DataFrame) -> tuple[dict[str, btyd.BTYDSpend], list[str]]:
        """Every other purchase model x Gamma-Gamma on the same statistics: baselines only, never inputs,
        so a run shows both classic BTYD models. Returns ({purchase model: fitted}, notes)."""
        others, notes = {}, []
        for key, purchases in btyd.baseline_keys(self.params.btyd_purchases).items():
            if key == "btyd":
                continue
            model, note = self._fit_btyd(train, purchases, role=f"baseline {key}")
            notes += [note] if note else []
            if model is not None:
                others[purchases] = model
        return others, notes

    def btyd_spend(self, frame: pd.DataFrame, purchases: str | None = None) -> np.ndarray | None:
        """A BTYD baseline: expected spend in the horizon (0 for users without a purchase yet), of the
        inputs' purchase model or of another one fitted beside it (``purchases``); None if not fitted."""
        model = (self.btyd_ if purchases in (None, self.params.btyd_purchases)
                 else self.btyd_others_.get(purchases))
        if model is None:
            return None
        out = btyd.btyd_outputs(model, numeric_matrix(frame, list(btyd.STATISTICS)))[
            :, btyd.OUTPUTS.index("btyd_expected_spend")]
        return np.nan_to_num(out, nan=0.0)

    def _describe_inputs(self) -> str:
        x = [f"{v} profile -> {sum(g == f'{v}_profile' for g in self.groups_.values())} columns"
             for v in self.spec_.text_views]
        return ", ".join(x + [f"{len(self.spec_.y_features)} transactional features"])

    def _fit_pp(self, Ztr: np.ndarray, ytr: np.ndarray, Zva: np.ndarray, yva: np.ndarray,
                on_fit: Callable[[], None] | None = None, groups: np.ndarray | None = None,
                valid_groups: np.ndarray | None = None) -> None:
        tr, va = ~np.isnan(ytr), ~np.isnan(yva)
        if not tr.any() or not va.any():
            raise ValueError("purchasing power needs labelled rows in both the training and validation splits")
        self.pp_boosters_, self.pp_objective_, self.pp_info_ = gbm.fit_purchasing_power(
            Ztr[tr], ytr[tr], Zva[va], yva[va], self.feature_columns_, self._monotone_params(), on_fit,
            None if groups is None else groups[tr], None if valid_groups is None else valid_groups[va])
        self.linear_pp_ = LinearReference("regression", seed=self.params.seed).fit(
            Ztr[tr], ytr[tr]) if self.with_linear else None
        members = self.pp_info_[self.pp_objective_].get("members", [self.pp_objective_])
        self.notes_.append("purchasing power: " + ("the mean of " if len(members) > 1 else "")
                           + " and ".join(self._variant_note(o) for o in members)
                           + f"; chosen as the {gbm.SELECTION_RULE} (rows train={int(tr.sum())}, valid={int(va.sum())})")

    def _monotone_params(self) -> TrainParams:
        """The params with ``monotone_increasing`` cut to this design's columns, noting any left out
        (the BTYD outputs are absent when BG/NBD could not be fitted on these rows)."""
        present = tuple(c for c in self.params.monotone_increasing if c in self.feature_columns_)
        absent = [c for c in self.params.monotone_increasing if c not in present]
        if absent:
            self.notes_.append(f"monotone constraints not applied to {absent}: not among this run's model inputs")
        return replace(self.params, monotone_increasing=present)

    def _variant_note(self, objective: str) -> str:
        """One candidate as fitted: objective, BTYD blend, P(buy) sharpening, mean calibration."""
        info = self.pp_info_[objective]
        blend = info.get("blend")
        season = info.get("season")
        return (f"LightGBM {objective}" + (f" blended {blend['weight']:g} with BTYD" if blend and blend["weight"] < 1 else "")
                + (f" from a seasonal level (Poisson GLM on the year phase: sin {season['coef'][0]:+.3g}, cos "
                   f"{season['coef'][1]:+.3g}; {season['phases']} training phases over {season['span_days']:.0f} d)"
                   if season else "")
                + (f", x P(buy)^{info['sharpen'] - 1:g}" + (f" ({info['p_source']}'s P(buy))" if info.get("p_source") else "")
                   if info.get("sharpen", 1.0) != 1.0 else "")
                + f", x{info.get('scale', 1.0):.3g} mean calibration ({info.get('scale_source', 'validation mean')})"
                + (f", refitted on {info['refit']}" if info.get("refit") else ""))

    def _fit_tier(self, Ztr: np.ndarray, ytr: np.ndarray, Zva: np.ndarray, yva: np.ndarray,
                  on_fit: Callable[[], None] | None = None) -> None:
        self.tier_booster_, self.tier_info_, self.linear_tier_ = None, {}, None
        tr, va = ~np.isnan(ytr), ~np.isnan(yva)
        n_classes = len(self.params.tiers)
        if len(np.unique(ytr[tr])) < 2 or not va.any():
            self.notes_.append("tier: not trained (needs two tiers among training labels and validation labels)")
            return
        ytr_i, yva_i = ytr[tr].astype(np.int64), yva[va].astype(np.int64)
        self.tier_booster_, self.tier_info_ = gbm.fit_tier(Ztr[tr], ytr_i, Zva[va], yva_i, self.feature_columns_,
                                                           n_classes, self.params, on_fit)
        if self.with_linear:
            self.linear_tier_ = LinearReference("classification", n_classes=n_classes, seed=self.params.seed).fit(
                Ztr[tr], ytr_i)
        self.notes_.append(f"tier: LightGBM multiclass, balanced class weights (rows train={int(tr.sum())}, "
                           f"valid={int(va.sum())})")
        why = self.tier_info_.get("selection")
        if why and why["chosen_trial"] != why["best_trial"]:
            self.notes_.append(
                f"tier: trial {why['chosen_trial']} kept ({why['leaves'][why['chosen_trial']]} leaves, valid loss "
                f"{why['valid_losses'][why['chosen_trial']]:.4f}) over the lowest-loss trial {why['best_trial']} "
                f"({why['leaves'][why['best_trial']]} leaves, {why['valid_losses'][why['best_trial']]:.4f} ± "
                f"{why['best_se']:.4f}): {why['rule']}")

    @property
    def targets(self) -> list[str]:
        """The targets this fitted model predicts."""
        return ["purchasing_power"] + (["tier"] if self.tier_booster_ is not None else [])

    def required_columns(self) -> list[str]:
        """Frame columns :meth:`design` reads."""
        return ([f"{v}{EMBEDDING_SUFFIX}" for v in self.spec_.text_views] + list(self.spec_.text_counts)
                + list(self.spec_.y_features))

    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Z = X ‖ Y as float64 (NaN = missing), columns in training order."""
        missing = [c for c in self.required_columns() if c not in frame.columns]
        if missing:
            raise ValueError(f"frame lacks model input columns: {missing}")
        parts = [self.projector_.transform(frame).reset_index(drop=True)] if self.projector_ is not None else []
        plain = list(self.spec_.text_counts) + list(self.spec_.y_features)
        parts.append(pd.DataFrame(numeric_matrix(frame, plain), columns=plain))
        if getattr(self, "btyd_", None) is not None:
            out = btyd.btyd_outputs(self.btyd_, numeric_matrix(frame, list(btyd.STATISTICS)))
            parts.append(pd.DataFrame(out, columns=list(btyd.OUTPUTS))[self.btyd_columns()])
        return pd.concat(parts, axis=1).astype("float64")

    def btyd_columns(self) -> list[str]:
        """The BTYD outputs among this model's inputs: all of them while fitting; once fitted, those
        it was trained on (a run saved before ``btyd_p_buy`` existed keeps its four)."""
        fitted = getattr(self, "feature_columns_", None)
        return [c for c in btyd.OUTPUTS if fitted is None or c in fitted]

    def predict_pp_z(self, Z: pd.DataFrame, model: str = "lightgbm", objective: str | None = None) -> np.ndarray:
        """Purchasing power from a design matrix (``model`` lightgbm or linear)."""
        if model == "linear":
            return self.linear_pp_.predict(Z.to_numpy())
        return gbm.predict_selected(self.pp_boosters_, objective or self.pp_objective_, self.pp_info_, Z.to_numpy())

    @property
    def explained_pp_objective(self) -> str:
        """The purchasing-power booster whose contributions are the reasons (see gbm.explained_objective)."""
        return gbm.explained_objective(self.pp_objective_, self.pp_info_)

    def predict_tier_proba_z(self, Z: pd.DataFrame, model: str = "lightgbm") -> np.ndarray:
        """Tier probabilities from a design matrix (n × K)."""
        if self.tier_booster_ is None:
            raise ValueError("this model has no tier model (no tier labels at training time)")
        if model == "linear":
            return self.linear_tier_.predict_proba(Z.to_numpy())
        return gbm.predict_tier_proba(self.tier_booster_, Z.to_numpy(), self.tier_info_["best_iteration"])

    def predict(self, frame: pd.DataFrame, reasons: bool = True, k: int = 3) -> pd.DataFrame:
        """Purchasing power, tier name/index/probabilities and top-``k`` reasons per row."""
        Z = self.design(frame)
        out = frame[[c for c in ("user_id", "event_timestamp") if c in frame.columns]].reset_index(drop=True)
        out["purchasing_power"] = self.predict_pp_z(Z)
        if reasons:
            out["reasons"] = top_reasons(self.contributions(Z, "purchasing_power"), k)
        if self.tier_booster_ is not None:
            proba = self.predict_tier_proba_z(Z)
            idx = np.argmax(proba, axis=1)
            out["tier"] = np.asarray(self.params.tiers, dtype=object)[idx]
            out["tier_index"] = idx
            for j, name in enumerate(self.params.tiers):
                out[f"tier_proba_{name}"] = proba[:, j]
            if reasons:
                out["tier_reasons"] = top_reasons(self.contributions(Z, "tier", idx), k)
        return out

    def contributions(self, Z: pd.DataFrame, target: str, class_index: np.ndarray | None = None,
                      method: str | None = None) -> pd.DataFrame:
        """Grouped LightGBM contributions (raw score scale) of the selected model of ``target``, by
        ``method`` ("path" or "treeshap"; default the reasons' method, ``params.reasons``)."""
        booster, it = self.explained_booster(target)
        method = method or self.params.reasons
        if method not in REASON_METHODS:
            raise ValueError(f"unknown attribution method {method!r}; expected one of {REASON_METHODS}")
        if target == "purchasing_power" and class_index is None:
            class_index = np.zeros(len(Z), dtype=np.int64)  # a multi-output spend booster explains output 0
        table = self.path_table(target) if method == "path" else None
        return group_contributions(booster, Z.to_numpy(), self.feature_columns_, self.groups_, it, class_index, table)

    def explained_booster(self, target: str) -> tuple[lgb.Booster, int]:
        """The booster whose contributions explain ``target``, and its iteration count."""
        if target == "purchasing_power":
            obj = self.explained_pp_objective
            return self.pp_boosters_[obj], self.pp_info_[obj]["best_iteration"]
        return self.tier_booster_, self.tier_info_["best_iteration"]

    def path_table(self, target: str) -> np.ndarray:
        """:func:`ranking.explain.path_table` of ``target``'s explained booster, built on first use
        (a dump of every tree: ~0.1 s for the demo's spend model) and kept."""
        tables = self.__dict__.setdefault("_path_tables", {})
        if target not in tables:
            booster, it = self.explained_booster(target)
            tables[target] = path_table(booster, group_membership(self.feature_columns_, self.groups_)[1], it)
        return tables[target]

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, lgb.Booster]]:
        """(JSON-able metadata, named arrays, named boosters): everything :meth:`from_state` needs."""
        meta: dict[str, Any] = {
            "params": self.params.to_dict(), "feature_set": self.feature_set, "with_linear": self.with_linear,
            "feature_names": None if self.feature_names is None else list(self.feature_names),
            "spec": self.spec_.to_dict(), "feature_columns": self.feature_columns_, "groups": self.groups_,
            "notes": self.notes_, "pp_objective": self.pp_objective_, "pp_info": self.pp_info_,
            "tier_info": self.tier_info_, "projection": None, "linear": {},
            "btyd": None if self.btyd_ is None else self.btyd_.get_state(),
            "btyd_others": {k: m.get_state() for k, m in self.btyd_others_.items()},
        }
        arrays: dict[str, np.ndarray] = {}
        if self.projector_ is not None:
            meta["projection"], proj = self.projector_.get_state()
            arrays.update({f"projection/{k}": v for k, v in proj.items()})
        for name, lin in (("pp", self.linear_pp_), ("tier", self.linear_tier_)):
            if lin is not None:
                meta["linear"][name], arr = lin.get_state()
                arrays.update({f"linear_{name}/{k}": v for k, v in arr.items()})
        boosters = {f"pp_{obj}": b for obj, b in self.pp_boosters_.items()}
        if self.tier_booster_ is not None:
            boosters["tier"] = self.tier_booster_
        return meta, arrays, boosters

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray],
                   boosters: dict[str, lgb.Booster]) -> "TwoStageModel":
        """Inverse of :meth:`get_state`."""
        names = meta["feature_names"]
        model = cls(TrainParams.from_dict(meta["params"]), meta["feature_set"],
                    None if names is None else tuple(names), meta["with_linear"])
        model.spec_ = FeatureSpec.from_dict(meta["spec"])
        model.feature_columns_, model.groups_, model.notes_ = meta["feature_columns"], meta["groups"], meta["notes"]
        model.btyd_ = btyd.BTYDSpend.from_state(meta["btyd"]) if meta.get("btyd") else None
        model.btyd_others_ = {k: btyd.BTYDSpend.from_state(v) for k, v in meta.get("btyd_others", {}).items()}
        model.projector_ = None if meta["projection"] is None else TextProjector.from_state(
            meta["projection"], _prefixed(arrays, "projection/"))
        model.pp_objective_, model.pp_info_, model.tier_info_ = meta["pp_objective"], meta["pp_info"], meta["tier_info"]
        model.pp_boosters_ = {k[len("pp_"):]: b for k, b in boosters.items() if k.startswith("pp_")}
        model.tier_booster_ = boosters.get("tier")
        model.linear_pp_, model.linear_tier_ = (
            LinearReference.from_state(meta["linear"][n], _prefixed(arrays, f"linear_{n}/")) if n in meta["linear"]
            else None for n in ("pp", "tier"))
        return model


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def fit_two_stage(train: pd.DataFrame, valid: pd.DataFrame, cfg: Any, feature_names: list[str] | None = None,
                  feature_set: str | None = None, with_linear: bool = True,
                  on_fit: Callable[[], None] | None = None) -> TwoStageModel:
    """Fit the main model; ``cfg`` is a PowerTierConfig or :class:`TrainParams`; the feature set
    defaults to XY, or to whatever inputs exist (Y only when there are no text views)."""
    params = cfg if isinstance(cfg, TrainParams) else TrainParams.from_config(cfg)
    fs = feature_set or default_feature_set(infer_feature_spec(train, feature_names))
    names = None if feature_names is None else tuple(feature_names)
    return TwoStageModel(params, fs, names, with_linear).fit(train, valid, on_fit)
