"""Feast data sources: one Parquet table per view under the workspace's features/ directory,
read by the DuckDB offline store, and a push source per view for fresh events from serving."""

from __future__ import annotations

from pathlib import Path

from feast import FileSource, PushSource

from feature_repo.names import EXPIRY_VIEW, TAGS_VIEW

VIEWS = ("user_transactions", "user_review_profile", "user_search_profile", "user_predictions", EXPIRY_VIEW, TAGS_VIEW)
PUSHABLE = ("user_transactions", "user_review_profile", "user_search_profile", EXPIRY_VIEW, TAGS_VIEW)


def batch_source(features_dir: Path, view: str) -> FileSource:
    """The offline table of ``view`` (written by ``pipelines.storage.feast_store.write_feature_table``)."""
    return FileSource(name=f"{view}_source", path=str(features_dir / f"{view}.parquet"),
                      timestamp_field="event_timestamp",
                      description=f"Offline rows of {view}, one per (user, time the value changes).")


def make_sources(features_dir: Path) -> dict[str, FileSource | PushSource]:
    """Batch sources for every view plus ``<view>_push`` sources for the online event path."""
    sources: dict[str, FileSource | PushSource] = {v: batch_source(features_dir, v) for v in VIEWS}
    for view in PUSHABLE:
        sources[f"{view}_push"] = PushSource(name=f"{view}_push", batch_source=sources[view])
    return sources
