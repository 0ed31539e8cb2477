"""Historical retrieval through Feast's Ray offline store (``engine: ray``), made exact.

Feast 0.67's Ray store (``feast.infra.offline_stores.contrib.ray_offline_store``) differs from
the DuckDB store in three ways that break PowerTier's point-in-time contract; each is handled
here and covered by ``tests/.../test_ray_feast.py``:

1. It floors every entity and feature timestamp to whole seconds
   (``feast.infra.ray_shared_utils.normalize_timestamp_columns`` / ``ensure_timestamp_compatibility``),
   so a feature row 0.3 s after an entity row is joined to it: a leak. :func:`keep_microseconds`
   swaps those two helpers, in the Ray store's module, for copies without the floor.
2. Its broadcast join drops duplicate (user, timestamp) entity rows: only distinct entity keys
   are sent, and the result is joined back onto every requested row.
3. A view whose offline table has no rows fails the whole retrieval ("Timestamp field
   'event_timestamp' not found in features columns: []"): such views are left out of the request
   and their features come back as nulls, as DuckDB returns them.
4. List features come back as float64 lists, and a missing one as ``[]`` instead of null:
   they are cast back to float32 arrays, and ``[]`` to None.
5. Its compute engine cannot materialize a view whose table has no rows: such views are skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from feast import FeatureStore

KEYS = ["user_id", "event_timestamp"]


def is_ray_store(store: "FeatureStore") -> bool:
    """Whether ``store`` retrieves through Feast's Ray offline store."""
    return getattr(store.config.offline_store, "type", "") == "ray"


def _exact(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, errors="coerce").astype("datetime64[ns, UTC]")


def normalize_timestamp_columns(data: Any, columns: str | list[str], inplace: bool = False,
                                exclude_columns: list[str] | None = None) -> Any:
    """Feast's helper of the same name, without flooring to whole seconds."""
    names = [c for c in ([columns] if isinstance(columns, str) else columns) if c not in (exclude_columns or [])]

    def normalize(batch: pd.DataFrame) -> pd.DataFrame:
        for name in names:
            if name in batch.columns and not batch.empty:
                batch[name] = _exact(batch[name])
        return batch

    if isinstance(data, pd.DataFrame):
        return normalize(data if inplace else data.copy())
    return data.map_batches(normalize, batch_format="pandas")


def ensure_timestamp_compatibility(data: Any, timestamp_fields: list[str], inplace: bool = False) -> Any:
    """Feast's helper of the same name, without flooring to whole seconds."""
    from feast.utils import make_df_tzaware

    def ensure(batch: pd.DataFrame) -> pd.DataFrame:
        batch = make_df_tzaware(batch)
        for name in timestamp_fields:
            if name in batch.columns:
                batch[name] = _exact(batch[name])
        return batch

    if isinstance(data, pd.DataFrame):
        return ensure(data)
    return data.map_batches(ensure, batch_format="pandas")


def keep_microseconds() -> None:
    """Point Feast's Ray store at the exact helpers above (idempotent). Ray pickles the store's
    per-batch closures with these functions by reference, so workers use them too."""
    from feast.infra.offline_stores.contrib.ray_offline_store import ray as ray_store

    ray_store.normalize_timestamp_columns = normalize_timestamp_columns
    ray_store.ensure_timestamp_compatibility = ensure_timestamp_compatibility


def has_rows(view: Any) -> bool:
    """Whether a feature view's offline table has rows. 5. Feast's Ray compute engine fails to
    materialize an empty table ("Failed to load/filter dataset: 'NoneType' object has no attribute
    'names'"), so :func:`pipelines.storage.feast_store.materialize` skips such views: nothing to load."""
    import pyarrow.parquet as pq

    source = getattr(view, "batch_source", None)
    return source is None or pq.read_metadata(source.path).num_rows > 0


def _non_empty_refs(store: "FeatureStore", service: Any) -> tuple[list[str], list[str]]:
    """Feature refs of ``service`` whose view has offline rows, and the names of the others."""
    import pyarrow.parquet as pq

    refs, missing = [], []
    for view_name, ref_name, fields in _projections(store, service):
        names = [f.name for f in fields]
        source = getattr(_view(store, view_name), "batch_source", None)
        if source is not None and pq.read_metadata(source.path).num_rows == 0:
            missing += names
        else:
            refs += [f"{ref_name}:{name}" for name in names]
    return refs, missing


def _projections(store: "FeatureStore", features: Any) -> list[tuple[str, str, list[Any]]]:
    """(view name, name in refs, fields) of a feature service, or of a list of "view:feature" refs
    (the profile tags are retrieved by reference, beside the service)."""
    if not isinstance(features, (list, tuple)):
        return [(p.name, p.name_to_use(), list(p.features)) for p in features.feature_view_projections]
    wanted: dict[str, list[str]] = {}
    for ref in features:
        view, name = ref.split(":", 1)
        wanted.setdefault(view, []).append(name)
    out = []
    for view, names in wanted.items():
        fields = {f.name: f for f in _view(store, view).features}
        out.append((view, view, [fields[n] for n in names]))
    return out


def _view(store: "FeatureStore", name: str) -> Any:
    from feast.errors import FeatureViewNotFoundException

    try:
        return store.get_feature_view(name)
    except FeatureViewNotFoundException:
        return store.get_on_demand_feature_view(name)


def historical(store: "FeatureStore", rows: pd.DataFrame, service: Any, extra: list[str]) -> pd.DataFrame:
    """Point-in-time features of every row of ``rows`` (``user_id``, ``event_timestamp`` and the
    ``extra`` request columns) through the Ray store, one output row per input row, same order."""
    keep_microseconds()
    refs, missing = _non_empty_refs(store, service)
    distinct = rows[KEYS + extra].drop_duplicates(KEYS).reset_index(drop=True)
    got = store.get_historical_features(entity_df=distinct, features=refs).to_df()
    got["event_timestamp"] = got["event_timestamp"].astype(rows["event_timestamp"].dtype)
    features = got.drop(columns=[c for c in got.columns if c in rows.columns and c not in KEYS])
    out = rows.merge(features, on=KEYS, how="left", validate="many_to_one")
    for name in missing:
        out[name] = None if name in _list_features(store, service) else float("nan")
    for name in _list_features(store, service) - set(missing):
        out[name] = [_vector(v) for v in out[name]]
    return out


def _list_features(store: "FeatureStore", service: Any) -> set[str]:
    """Names of the service's list-valued (embedding) features."""
    return {f.name for _, _, fields in _projections(store, service) for f in fields
            if str(f.dtype).startswith("Array")}


def _vector(value: Any) -> Any:
    """4. The Ray store returns float32 vectors as float64 lists and a missing one as ``[]``;
    DuckDB returns float32 arrays and None (profile vectors are never empty, so [] means none)."""
    if value is None or len(value) == 0:
        return None
    return np.asarray(value, dtype=np.float32)
