"""The frames every model stage reads from Feast: labels plus the model's feature service at each
(user, cutoff) for training and backtests (and the fine-tune's ablation), features at one moment for
scoring, and the cutoff defaults they share.

One module for ``train``, ``backtest`` and ``finetune``, so that no stage imports another stage's
job: every model input comes through the model's feature service, never recomputed on the side.
User attributes (e.g. ``region``) are joined only for segment metrics, never as inputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from feature_repo.names import MODEL_SERVICES
from feature_repo.timestamps import as_utc
from pipelines.common.config import PowerTierConfig
from pipelines.common.times import cutoff_range
from pipelines.common.workspace import Workspace
from pipelines.features.labels import build_labels
from pipelines.storage import feast_store
from pipelines.storage.curated import load_curated

if TYPE_CHECKING:
    from feast import FeatureStore

SERVICE = MODEL_SERVICES["purchasing_power"]
SEGMENT_ATTRIBUTES = ("region",)


def model_feature_names(store: "FeatureStore") -> list[str]:
    """The single feature list of both model heads (the two services must agree)."""
    pp = feast_store.service_features(store, MODEL_SERVICES["purchasing_power"])
    tier = feast_store.service_features(store, MODEL_SERVICES["tier"])
    if pp != tier:
        raise ValueError(f"feature services disagree: {sorted(set(pp) ^ set(tier))}")
    return pp


def drop_empty_views(frame: pd.DataFrame, features: list[str]) -> tuple[list[str], list[str]]:
    """Drop text views with no vector in any training row (no reviews/searches table, or none
    usable): the model then trains on what exists. Returns (features kept, views dropped)."""
    empty = [f[: -len("_embedding")] for f in features if f.endswith("_embedding") and frame[f].isna().all()]
    gone = {f"{v}_embedding" for v in empty} | {f"{v}_count" for v in empty}
    return [f for f in features if f not in gone], empty


def default_cutoffs(cfg: PowerTierConfig, as_of: pd.Timestamp) -> list[pd.Timestamp]:
    """``train.n_cutoffs`` cutoffs every ``train.every_days``, the last one horizon before ``as_of``
    (so every label window has closed by ``as_of``)."""
    last = as_of - pd.Timedelta(days=cfg.horizon_days)
    first = last - pd.Timedelta(days=cfg.train.every_days * (cfg.train.n_cutoffs - 1))
    return cutoff_range(first, last, cfg.train.every_days)


def data_as_of(cfg: PowerTierConfig, tables: dict[str, pd.DataFrame | None]) -> pd.Timestamp:
    """``cfg.as_of`` or else the latest event time in the curated tables."""
    if cfg.as_of is not None:
        return as_utc(cfg.as_of)
    stamps = [t["ts"].max() for name, t in tables.items() if t is not None and "ts" in t and len(t)]
    return as_utc(max(stamps))


def with_attributes(frame: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """Attach user attributes used for segment metrics (not model inputs)."""
    attrs = [a for a in SEGMENT_ATTRIBUTES if a in users.columns]
    if not attrs:
        return frame
    return frame.merge(users[["user_id", *attrs]].astype({"user_id": str}), on="user_id", how="left")


def training_frame(cfg: PowerTierConfig, store: "FeatureStore", cutoffs: list[pd.Timestamp],
                   horizon_days: int) -> tuple[pd.DataFrame, list[str]]:
    """Labels at ``cutoffs`` + the service's features at each (user, cutoff) + segment attributes."""
    tables = load_curated(Workspace(cfg.data_dir))
    labels = build_labels(tables["users"], tables["orders"], cutoffs, horizon_days, cfg.tiers, tiers=tables["tiers"])
    if tables["tiers"] is None:
        labels = labels.drop(columns=["tier_next"])
    # The profile tags come in the same retrieval, for the report only (not model inputs).
    features = feast_store.historical_features(store, labels, SERVICE, with_tags=True)
    return with_attributes(features, tables["users"]), model_feature_names(store)


def scoring_frame(cfg: PowerTierConfig, store: "FeatureStore", users: list[str] | None,
                  as_of: pd.Timestamp) -> pd.DataFrame:
    """Features at ``as_of`` for ``users`` (default: every user signed up by then)."""
    tables = load_curated(Workspace(cfg.data_dir))
    u = tables["users"]
    ids = users if users is not None else u.loc[u["signup_ts"] <= as_of, "user_id"].astype(str).tolist()
    entities = pd.DataFrame({"user_id": ids, "event_timestamp": as_of})
    return with_attributes(feast_store.historical_features(store, entities, SERVICE), u)
