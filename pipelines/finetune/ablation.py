"""The none / frozen / fine-tuned encoder ablation on a training run's own split (pure: frames in,
metrics out).

* none: the stage-2 model on Y alone;
* frozen: on X ‖ Y with the run's X (the base encoder's profiles, as Feast returned them);
* fine-tuned: on X ‖ Y with X recomputed from the fine-tuned encoder's vectors for the same rows,
  point in time (the same profile aggregation, then the latest profile row at or before each
  row's cutoff, as Feast's join without TTL).

All three use one split of the same frame (rows, cutoffs, users), the run's parameters and the
same ``TwoStageModel``; each row's scored test keys are digested so a reader can check that the
three were scored on the same users. The caller sets ``trials`` (0 = LightGBM defaults: the cost
bound).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from ranking.evaluation import model_predictions, score, segment_masks
from ranking.model import TwoStageModel
from ranking.params import TrainParams
from ranking.splits import Split, split_frame

ROWS = ("none", "frozen", "fine_tuned")
FEATURE_SETS = {"none": "Y", "frozen": "XY", "fine_tuned": "XY"}
PP_METRICS = ("n", "gini", "rmse", "r2")
TIER_METRICS = ("n", "qwk")


def pit_vectors(frame: pd.DataFrame, profile: pd.DataFrame, column: str) -> np.ndarray:
    """Per frame row, ``profile[column]`` of the latest profile row of its user with
    ``event_timestamp <=`` the row's (None when the user had none yet), in frame order."""
    left = pd.DataFrame({"user_id": frame["user_id"].astype(str).to_numpy(),
                         "ts": pd.to_datetime(frame["event_timestamp"], utc=True).astype("datetime64[us, UTC]"),
                         "row": np.arange(len(frame))}).sort_values("ts", kind="stable")
    right = pd.DataFrame({"user_id": profile["user_id"].astype(str).to_numpy(),
                          "ts": pd.to_datetime(profile["event_timestamp"], utc=True).astype("datetime64[us, UTC]"),
                          "value": profile[column].to_numpy()}).sort_values("ts", kind="stable")
    joined = pd.merge_asof(left, right, on="ts", by="user_id", direction="backward", allow_exact_matches=True)
    out = np.empty(len(frame), dtype=object)
    values = joined["value"].to_numpy()
    out[joined["row"].to_numpy()] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else v
                                     for v in values]
    return out


def with_vectors(frame: pd.DataFrame, profiles: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``frame`` with each ``<view>_embedding`` column of ``profiles`` ({column: profile table})
    replaced by its point-in-time value; every other column (counts, Y, labels) is unchanged."""
    out = frame.copy()
    for column, profile in profiles.items():
        if column not in out.columns:
            raise ValueError(f"the training frame has no {column} column to replace")
        out[column] = pit_vectors(frame, profile, column)
    return out


def keys_digest(frame: pd.DataFrame) -> str:
    """A short hash of the sorted (user, cutoff) keys of ``frame``: equal digests, equal rows."""
    ts = pd.to_datetime(frame["event_timestamp"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S")
    keys = sorted(f"{u}|{t}" for u, t in zip(frame["user_id"].astype(str), ts))
    return hashlib.blake2b("\n".join(keys).encode("utf-8"), digest_size=8).hexdigest()


def same_split(params: TrainParams, frames: dict[str, pd.DataFrame]) -> dict[str, Split]:
    """The run's split of each frame; refuses when they do not hold the same rows in each part."""
    splits = {name: split_frame(f, params.split, params.test_fraction, params.horizon_days, params.seed,
                                params.test_cutoffs)
              for name, f in frames.items()}
    first = next(iter(splits.values()))
    for name, s in splits.items():
        for part in ("train", "valid", "test"):
            if keys_digest(getattr(s, part)) != keys_digest(getattr(first, part)):
                raise ValueError(f"ablation frame {name!r} splits differently from the others ({part} rows)")
    return splits


def _pick(scored: dict[str, dict[str, dict]]) -> dict[str, Any]:
    """The headline figures of the LightGBM model from ``ranking.evaluation.score``'s output."""
    pp = scored["purchasing_power"].get("lightgbm", {})
    tier = scored["tier"].get("lightgbm", {})
    out = {f"pp_{k}": pp.get(k) for k in PP_METRICS}
    out.update({f"tier_{k}": tier.get(k) for k in TIER_METRICS} if tier else {"tier_n": 0, "tier_qwk": None})
    return out


def row_metrics(model: TwoStageModel, test: pd.DataFrame, params: TrainParams) -> dict[str, Any]:
    """Test metrics of one fitted row: overall, new users (tenure <= 90 d), and the scored keys."""
    preds = model_predictions(model, model.design(test))
    preds["tier"] = {k: v for k, v in preds["tier"].items() if k == "lightgbm"}
    new = segment_masks(test, model.spec_).get("tenure", {}).get("new", np.zeros(len(test), dtype=bool))
    return {"feature_set": model.feature_set, "test": _pick(score(preds, test, params)),
            "new_users": _pick(score(preds, test, params, new)),
            "test_rows": int(len(test)), "test_users": int(test["user_id"].nunique()),
            "test_keys": keys_digest(test), "new_user_rows": int(new.sum()),
            "pp_objective": model.pp_objective_}


def encoder_ablation(frozen: pd.DataFrame, tuned: pd.DataFrame, params: TrainParams,
                     feature_names: list[str] | None = None) -> dict[str, Any]:
    """Fit and score none (Y on ``frozen``), frozen (XY on ``frozen``) and fine-tuned (XY on
    ``tuned``: the same rows with the fine-tuned encoder's X) on one split; ``{row: metrics}``."""
    splits = same_split(params, {"frozen": frozen, "fine_tuned": tuned})
    names = None if feature_names is None else tuple(feature_names)
    out: dict[str, Any] = {}
    for row in ROWS:
        s = splits["fine_tuned" if row == "fine_tuned" else "frozen"]
        model = TwoStageModel(params, FEATURE_SETS[row], names, with_linear=False).fit(s.train, s.valid)
        out[row] = row_metrics(model, s.test, params)
    return out
