"""Orchestration of the feature and label stages: curated Parquet in, feature/label tables out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.common.errors import UserError
from pipelines.common.config import PowerTierConfig
from pipelines.common.ray_engine import map_tasks, uses_ray
from pipelines.storage.curated import load_curated
from pipelines.storage.feast_store import write_feature_table
from feature_repo.timestamps import to_utc_us
from pipelines.storage.files import write_parquet
from pipelines.common.workspace import Workspace
from pipelines.features.labels import build_labels
from feature_repo.names import EXPIRY_VIEW
from pipelines.features.expiry import event_times, expiry_schedules
from pipelines.features.transactional import build_transactional_features


def build_transactions(cfg: PowerTierConfig) -> tuple[int, Path]:
    """Compute ``user_transactions`` from the curated tables and write its offline table."""
    ws = Workspace(cfg.data_dir)
    t = load_curated(ws)
    if uses_ray(cfg):
        feats = build_partitioned(cfg, t)
    else:
        feats = build_transactional_features(t["users"], t["orders"], cfg.features.windows_days, cfg.tiers,
                                             tiers=t["tiers"], reviews=t["reviews"], searches=t["searches"])
    write_feature_table(ws, "user_transactions", feats)
    schedules = expiry_schedules(feats, event_times(t), cfg.features.windows_days)
    write_feature_table(ws, EXPIRY_VIEW, schedules)
    return len(feats), ws.feature_table("user_transactions")


def build_partitioned(cfg: PowerTierConfig, tables: dict) -> pd.DataFrame:
    """``user_transactions`` built as one Ray task per partition of ``ray.users_per_partition``
    users (equal to the whole build, see ``pipelines.features.partition``)."""
    from pipelines.features import partition

    parts = partition.split_by_user(tables, cfg.ray.users_per_partition)
    frames = map_tasks(cfg, partition.build_partition, parts, list(cfg.features.windows_days), list(cfg.tiers),
                       partition.buckets_of(tables))
    return partition.combine(frames)


def build_label_table(cfg: PowerTierConfig, cutoffs: list[pd.Timestamp], horizon_days: int) -> pd.DataFrame:
    """Labels for ``cutoffs`` from the curated tables."""
    t = load_curated(Workspace(cfg.data_dir))
    return build_labels(t["users"], t["orders"], cutoffs, horizon_days, cfg.tiers, tiers=t["tiers"])


def read_table(path: Path) -> pd.DataFrame:
    """A Parquet or CSV entity/label file (timestamps parsed as UTC)."""
    if not path.exists():
        raise UserError(f"file not found: {path}")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        raise UserError(f"cannot read {path}: {exc}") from exc
    if "event_timestamp" in frame:
        try:
            frame["event_timestamp"] = to_utc_us(frame["event_timestamp"])
        except (ValueError, TypeError) as exc:
            raise UserError(f"{path}: event_timestamp is not a timestamp column: {exc}") from exc
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write Parquet (default) or CSV by suffix."""
    if path.suffix == ".csv":
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    else:
        write_parquet(frame, path)
