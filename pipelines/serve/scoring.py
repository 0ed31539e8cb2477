"""Array-only inference of a fitted ``TwoStageModel`` for serving (pure: dicts of lists in, arrays out).

``TwoStageModel.predict`` builds several pandas frames per call: about 9 ms for one user on a
busy 2-core box, against 0.4 ms for the same LightGBM calls on a numpy design matrix. This module
rebuilds the design matrix ``Z`` from Feast's ``to_dict()`` columns with the model's own fitted
arrays and calls the same ``ranking`` functions on it. ``verify`` compares it with
``TwoStageModel.predict`` on real rows at start-up; the server falls back to ``predict`` if they
ever differ, so a change of the model's design cannot silently skew serving.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ranking import gbm
from ranking.dataset import EMBEDDING_SUFFIX
from ranking.explain import (
    group_membership,
    grouped_contribution_array,
    path_contribution_array,
    top_reasons_array,
)
from ranking.btyd import OUTPUTS as BTYD_OUTPUTS, STATISTICS as BTYD_STATISTICS, btyd_outputs
from ranking.model import TwoStageModel
from ranking.projection import projected_columns

Columns = dict[str, list[Any]]


@dataclass(frozen=True)
class Outputs:
    """Model outputs for n rows: purchasing power (n,), tier probabilities (n, K) or None, reasons."""

    purchasing_power: np.ndarray
    proba: np.ndarray | None
    reasons: list[list[dict]]
    tier_reasons: list[list[dict]]


def _vectors(values: list[Any], comp: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Projected, L2-normalised rows (NaN where a row has no vector), as ``TextProjector.transform``."""
    out = np.full((len(values), comp.shape[0]), np.nan)
    rows = [i for i, v in enumerate(values) if isinstance(v, (list, tuple, np.ndarray))]
    if rows and comp.shape[0]:
        mat = np.stack([np.asarray(values[i], dtype=np.float32) for i in rows]).astype(np.float64)
        proj = (mat - mean) @ comp.T
        norms = np.linalg.norm(proj, axis=1, keepdims=True)
        out[rows] = proj / np.where(norms > 0, norms, 1.0)
    return out


def _numbers(data: Columns, columns: list[str] | tuple[str, ...]) -> np.ndarray:
    """The numeric ``columns`` as one float64 (rows x columns) matrix, null = NaN: one numpy call
    instead of one array per column and a stack (37 columns: ~0.15 ms of a served row)."""
    if not columns:
        return np.empty((len(data["user_id"]), 0))
    return np.array([[np.nan if v is None else v for v in data[c]] for c in columns], dtype=np.float64).T


def class_boosters(booster: lgb.Booster, num_iteration: int, classes: list[int] | None = None) -> list[lgb.Booster]:
    """One single-output booster per class (or per output of ``classes``) of a multi-output
    ``booster``, cut at ``num_iteration``:
    the same trees (class ``k`` owns trees ``k, k + K, ...``), so raw scores and TreeSHAP
    contributions equal that class's block of the full model exactly, at 1/K of the cost
    (``pred_contrib`` of the tier model was most of a single-user prediction)."""
    k_count = booster.num_model_per_iteration()
    head, rest = booster.model_to_string(num_iteration=num_iteration).split("\nTree=", 1)
    trees_part, tail = rest.split("\nend of trees", 1)
    trees = re.split(r"\n(?=Tree=\d+\n)", "Tree=" + trees_part)
    for key, value in (("num_class", "1"), ("num_tree_per_iteration", "1"), ("objective", "regression")):
        head = re.sub(rf"\n{key}=[^\n]*", f"\n{key}={value}", head)
    head = re.sub(r"\ntree_sizes=[^\n]*", "", head)  # byte offsets of the old trees: let LightGBM parse
    return [lgb.Booster(model_str=head + "\n" + "\n".join(
        re.sub(r"^Tree=\d+", f"Tree={j}", t) for j, t in enumerate(trees[k::k_count])) + "\nend of trees" + tail)
        for k in (range(k_count) if classes is None else classes)]


class FastScorer:
    """Serving inference on arrays for one fitted model (holds references; the per-class tier
    boosters are built on the first prediction, which the server makes at start-up)."""

    def __init__(self, model: TwoStageModel):
        self.model = model
        self._per_class: list[lgb.Booster] | None = None

    @functools.cached_property
    def _groups(self) -> tuple[list[str], np.ndarray]:
        return group_membership(self.model.feature_columns_, self.model.groups_)

    @functools.cached_property
    def _pp_explained(self) -> lgb.Booster:
        """The explained spend booster cut at its best iteration, with only the trees of its first
        output when it has several: ``TwoStageModel`` explains block 0 of a multi-output booster
        (the ZILN's P(buy) logit), so TreeSHAP over all three outputs' trees was two thirds wasted
        (docs/BENCHMARKS.md, "Serving")."""
        m = self.model
        obj = m.explained_pp_objective
        return class_boosters(m.pp_boosters_[obj], m.pp_info_[obj]["best_iteration"], classes=[0])[0]

    def _tier_contributions(self, Z: np.ndarray, tier: np.ndarray) -> np.ndarray:
        """Grouped contributions (rows x groups) of each row's predicted tier, from that tier's trees only."""
        m, member = self.model, self._groups[1]
        t_it = m.tier_info_["best_iteration"]
        if m.tier_booster_.num_model_per_iteration() < 2:
            return grouped_contribution_array(m.tier_booster_, Z, member, t_it, tier)
        if self._per_class is None:
            self._per_class = class_boosters(m.tier_booster_, t_it)
        out = np.empty((len(Z), member.shape[1]))
        for k in np.unique(tier):  # one class (one call) for a single user
            rows = np.flatnonzero(tier == k)
            out[rows] = grouped_contribution_array(self._per_class[int(k)], Z[rows], member, 0)
        return out

    def columns(self) -> list[str]:
        """Z's columns as this scorer builds them (must equal ``model.feature_columns_``)."""
        m = self.model
        proj = m.projector_
        views = [c for v in m.spec_.text_views
                 for c in projected_columns(v, proj.components_[v].shape[0], proj.method)] if proj else []
        derived = m.btyd_columns() if m.btyd_ is not None else []
        return views + list(m.spec_.text_counts) + list(m.spec_.y_features) + derived

    def design(self, data: Columns) -> np.ndarray:
        """Z = X || Y, float64, columns in training order."""
        m = self.model
        parts = [_vectors(data[f"{v}{EMBEDDING_SUFFIX}"], m.projector_.components_[v], m.projector_.mean_[v])
                 for v in m.spec_.text_views] if m.projector_ is not None else []
        plain = list(m.spec_.text_counts) + list(m.spec_.y_features)
        parts.append(_numbers(data, plain))
        if m.btyd_ is not None:  # the BTYD inputs, as TwoStageModel.design appends them
            out = btyd_outputs(m.btyd_, _numbers(data, BTYD_STATISTICS))
            parts.append(out[:, [BTYD_OUTPUTS.index(c) for c in m.btyd_columns()]])
        return np.hstack(parts)

    def predict(self, data: Columns, k: int = 3, reasons: bool = True) -> Outputs:
        """Same numbers as ``TwoStageModel.predict`` (LightGBM model, top-``k`` grouped reasons);
        ``reasons=False`` skips the explanations and leaves the reason lists empty."""
        m = self.model
        Z = self.design(data)
        pp = gbm.predict_selected(m.pp_boosters_, m.pp_objective_, m.pp_info_, Z)
        if not reasons:
            proba = None if m.tier_booster_ is None else gbm.predict_tier_proba(
                m.tier_booster_, Z, m.tier_info_["best_iteration"])
            return Outputs(pp, proba, [[] for _ in pp], [[] for _ in pp])
        names = self._groups[0]
        reasons = top_reasons_array(self._contributions(Z, "purchasing_power", np.zeros(len(Z), dtype=np.int64)),
                                    names, k)
        if m.tier_booster_ is None:
            return Outputs(pp, None, reasons, [[] for _ in reasons])
        proba = gbm.predict_tier_proba(m.tier_booster_, Z, m.tier_info_["best_iteration"])
        tier = self._contributions(Z, "tier", np.argmax(proba, axis=1))
        return Outputs(pp, proba, reasons, top_reasons_array(tier, names, k))

    def _contributions(self, Z: np.ndarray, target: str, class_index: np.ndarray) -> np.ndarray:
        """Grouped contributions (rows x groups) behind ``target``'s reasons, by the model's method."""
        m = self.model
        if m.params.reasons == "path":
            booster, it = m.explained_booster(target)
            return path_contribution_array(booster, m.path_table(target), Z, it, class_index)
        if target == "tier":
            return self._tier_contributions(Z, class_index)
        return grouped_contribution_array(self._pp_explained, Z, self._groups[1], 0)


def model_outputs(model: TwoStageModel, data: Columns) -> Outputs:
    """The reference path: ``TwoStageModel.predict`` on a frame of the same columns."""
    out = model.predict(pd.DataFrame(data))
    proba = out[[f"tier_proba_{t}" for t in model.params.tiers]].to_numpy() if "tier" in out else None
    tier_reasons = list(out["tier_reasons"]) if "tier_reasons" in out else [[] for _ in range(len(out))]
    return Outputs(out["purchasing_power"].to_numpy(), proba, list(out["reasons"]), tier_reasons)


def probe_columns(model: TwoStageModel, features: list[str], n: int = 8, seed: int = 0) -> Columns:
    """Seeded synthetic rows of every feature (the first row all missing), to check the array path
    without the online store: vectors of each view's input dimension, positive numbers elsewhere."""
    rng = np.random.default_rng(seed)
    dims = model.projector_.input_dim_ if model.projector_ is not None else {}
    data: Columns = {"user_id": [f"probe{i}" for i in range(n)]}
    for name in features:
        view = name[: -len(EMBEDDING_SUFFIX)] if name.endswith(EMBEDDING_SUFFIX) else None
        if view in dims:
            data[name] = [None] + [rng.standard_normal(dims[view]).astype(np.float32).tolist() for _ in range(n - 1)]
        else:
            data[name] = [None] + rng.gamma(1.0, 50.0, n - 1).tolist()
    return data


def verify(scorer: FastScorer, data: Columns, rtol: float = 1e-9) -> str | None:
    """None when the scorer matches ``TwoStageModel.predict`` on ``data``, else what differs."""
    if scorer.columns() != list(scorer.model.feature_columns_):
        return "design columns differ from the model's feature_columns_"
    fast, ref = scorer.predict(data), model_outputs(scorer.model, data)
    if not np.allclose(fast.purchasing_power, ref.purchasing_power, rtol=rtol, atol=0, equal_nan=True):
        return "purchasing_power differs"
    if (fast.proba is None) != (ref.proba is None) or (
            fast.proba is not None and not np.allclose(fast.proba, ref.proba, rtol=rtol, atol=1e-15)):
        return "tier probabilities differ"
    for name in ("reasons", "tier_reasons"):
        got, want = getattr(fast, name), getattr(ref, name)
        if [[r["group"] for r in row] for row in got] != [[r["group"] for r in row] for row in want] or not np.allclose(
                [r["contribution"] for row in got for r in row], [r["contribution"] for row in want for r in row],
                rtol=rtol, atol=1e-12):
            return f"{name} differ"
    return None
