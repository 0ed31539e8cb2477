"""Thin Feast I/O for one workspace: build the store, apply, materialize, retrieve.

Every stage reaches Feast only through these functions, and ``apply`` writes the workspace's
Feast CLI folder (``<data_dir>/feast``: ``feature_store.yaml`` + ``powertier_repo.py``), so the store
is configured in exactly one place.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from feature_repo.names import PROJECT, REQUEST_TIME_FIELD
from pipelines.common.config import PowerTierConfig, redis_url
from pipelines.common.progress import NO_PROGRESS, Progress
from feature_repo.timestamps import to_utc_us, ts_column
from pipelines.storage.files import atomic_path, write_parquet, write_text
from pipelines.common.workspace import Workspace

if TYPE_CHECKING:
    from feast import FeatureStore

    from feature_repo.definitions import Definitions
    from feast.repo_config import RepoConfig

ROW_ID = "__powertier_row"
EPOCH = datetime(1970, 1, 2, tzinfo=timezone.utc)
RETRIEVAL_CHUNK = 200_000

# Every feature table carries the time of the row it came from as a feature named
# ``<view>_ts`` (epoch seconds), so retrieval can prove no returned row is newer than its entity row.
def write_feature_table(ws: Workspace, view: str, df: pd.DataFrame) -> None:
    """Write an offline feature table: ``user_id``, ``event_timestamp`` (µs UTC) + features."""
    out = df.copy()
    out["event_timestamp"] = to_utc_us(out["event_timestamp"])
    out[ts_column(view)] = out["event_timestamp"].astype("int64") / 1e6  # µs -> s
    out = out.sort_values(["user_id", "event_timestamp"], kind="stable").reset_index(drop=True)
    write_parquet(out, ws.feature_table(view))


REDIS_CONN_ENV = "POWERTIER_REDIS_CONN"  # Feast's host:port[,db=N][,password=...] form, for the Feast CLI


def store_settings(cfg: PowerTierConfig, redis_connection: str | None = None,
                   redis_options: dict[str, object] | None = None) -> dict[str, object]:
    """THE Feast store config of a workspace, as plain data: file registry, SQLite (or Redis)
    online store, DuckDB offline store. ``repo_config`` builds PowerTier's RepoConfig from it and
    ``write_repo_yaml`` writes it for the Feast CLI, so the two cannot drift apart.

    ``redis_connection`` defaults to the one derived from ``POWERTIER_REDIS_URL``; the YAML passes
    a ``${POWERTIER_REDIS_CONN}`` placeholder so no secret is ever written. ``redis_options`` are
    appended to it (serving sets socket timeouts)."""
    ws = Workspace(cfg.data_dir)
    if cfg.online_store == "redis":
        conn = redis_connection if redis_connection is not None else redis_connection_string()
        conn += "".join(f",{k}={v}" for k, v in (redis_options or {}).items() if f"{k}=" not in conn)
        online: dict[str, object] = {"type": "redis", "connection_string": conn}
    else:
        online = {"type": "sqlite", "path": str(ws.feast / "online.db")}
    # A long-lived server re-reads the registry at most once a minute.
    return {"project": PROJECT, "provider": "local",
            "registry": {"path": str(ws.feast / "registry.db"), "cache_ttl_seconds": 60},
            "online_store": online, "offline_store": {"type": "duckdb"}, "entity_key_serialization_version": 3,
            **ray_settings(cfg)}


# Feast's Ray store switches to a "windowed" join above this size, which matches a feature row
# only inside the entity row's own time window (1 h by default): wrong for values that change
# rarely. So every join is a broadcast join: a view's table must fit one worker's memory.
RAY_BROADCAST_MB = 1_000_000


def ray_settings(cfg: PowerTierConfig) -> dict[str, object]:
    """``engine: ray``: Feast's Ray offline store (historical retrieval) and Ray compute engine
    (materialization), on the cluster of ``ray.address``; nothing under ``engine: local``."""
    if cfg.engine != "ray":
        return {}
    address = {"ray_address": cfg.ray.address} if cfg.ray.address else {}
    offline = {"type": "ray", "storage_path": str(Workspace(cfg.data_dir).feast / "ray_staging"),
               "broadcast_join_threshold_mb": RAY_BROADCAST_MB, **address}
    # SQLite takes one writer at a time; Redis takes the engine's parallel writes.
    engine = {"type": "ray.engine", "write_concurrency": 1 if cfg.online_store == "sqlite" else 4,
              "broadcast_join_threshold_mb": RAY_BROADCAST_MB, **address}
    return {"offline_store": offline, "batch_engine": engine}


def repo_config(cfg: PowerTierConfig, offline_store: object | None = None,
                redis_options: dict[str, object] | None = None) -> "RepoConfig":
    """The workspace's Feast RepoConfig (``offline_store`` swaps the DuckDB store, for the
    benchmark's file-store baseline)."""
    from feast.repo_config import RepoConfig

    settings = store_settings(cfg, redis_options=redis_options)
    if cfg.engine == "ray":
        from pipelines.common.ray_engine import ensure_ray

        ensure_ray(cfg)  # Feast's Ray store and engine reuse this process's connection
    config = RepoConfig(repo_path=str(Workspace(cfg.data_dir).feast), **settings)
    return config if offline_store is None else config.model_copy(update={"offline_store": offline_store})


def redis_connection_string() -> str:
    """Feast's ``host:port[,db=N]`` form of ``POWERTIER_REDIS_URL`` (environment only)."""
    url = urlparse(redis_url())
    text = f"{url.hostname or '127.0.0.1'}:{url.port or 6379}"
    db = (url.path or "/0").lstrip("/") or "0"
    return text + (f",db={db}" if db != "0" else "") + (f",password={url.password}" if url.password else "")


def open_store(cfg: PowerTierConfig) -> "FeatureStore":
    """The workspace's FeatureStore. Cheap to call, but load it once per process and pass it in."""
    from feast import FeatureStore

    Workspace(cfg.data_dir).feast.mkdir(parents=True, exist_ok=True)
    return FeatureStore(config=repo_config(cfg))


def definitions(cfg: PowerTierConfig) -> "Definitions":
    """Every Feast object of this workspace (what ``feast -c <data_dir>/feast`` reads too, through
    :func:`write_repo_module`)."""
    from feature_repo.definitions import build_definitions

    return build_definitions(Workspace(cfg.data_dir).features, cfg.features.windows_days, cfg.tiers, cfg.tags.names())


def ensure_tables(cfg: PowerTierConfig) -> list[str]:
    """Write an empty, correctly typed offline table for every view that has none yet (a workspace
    without reviews still serves nulls for the review profile). Returns the views created."""
    ws = Workspace(cfg.data_dir)
    created = []
    for name, view in definitions(cfg).views.items():
        if hasattr(view, "batch_source") and not ws.feature_table(name).exists():
            write_empty_table(cfg, name)
            created.append(name)
    return created


def write_empty_table(cfg: PowerTierConfig, view: str) -> Path:
    """An offline table of ``view`` with no rows, typed from its Feast schema (pandas alone would
    make an empty list column Arrow ``null``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ws = Workspace(cfg.data_dir)
    fields = [pa.field("user_id", pa.string()), pa.field("event_timestamp", pa.timestamp("us", tz="UTC"))]
    fields += [pa.field(f.name, _arrow_types()[str(f.dtype)]) for f in definitions(cfg).views[view].features]
    with atomic_path(ws.feature_table(view)) as tmp:
        pq.write_table(pa.schema(fields).empty_table(), tmp)
    return ws.feature_table(view)


def _arrow_types() -> dict:
    import pyarrow as pa

    return {"Int64": pa.int64(), "Float64": pa.float64(), "String": pa.string(),
            "Float32": pa.float32(), "Array(Float32)": pa.list_(pa.float32()),
            "Array(Float64)": pa.list_(pa.float64())}


def apply(store: "FeatureStore", cfg: PowerTierConfig) -> list[str]:
    """Register every PowerTier definition for this workspace (``feast apply``); returns view names."""
    ensure_tables(cfg)
    write_repo_yaml(cfg)
    write_repo_module(cfg)
    defs = definitions(cfg)
    store.apply(defs.all())
    return list(defs.views)


@dataclass(frozen=True)
class Materialized:
    """What one materialization did: loaded up to ``end``; ``rebuilt`` views (with the reason)
    were cleared online and loaded from the start, the others incrementally."""

    end: datetime
    rebuilt: dict[str, str]


def materialize(store: "FeatureStore", cfg: PowerTierConfig, end: datetime | None = None,
                views: list[str] | None = None, full: bool = False, progress: Progress = NO_PROGRESS) -> datetime:
    """:func:`materialize_views`, returning the end time only."""
    return materialize_views(store, cfg, end, views, full, progress).end


def materialize_views(store: "FeatureStore", cfg: PowerTierConfig, end: datetime | None = None,
                      views: list[str] | None = None, full: bool = False,
                      progress: Progress = NO_PROGRESS) -> Materialized:
    """Load offline rows up to ``end`` (default: as_of, else now) into the online store.

    A view resumes where its last materialization ended (Feast's own ``materialize_incremental``
    starts a TTL-less view one year before *now*, which skips historical simulated data), unless
    its offline table changed since, the online store is missing, empty or another one, or
    ``full``: then it is cleared online and loaded from the start (``online_sync``).
    """
    from pipelines.storage import feast_ray, online_sync

    end = end or cfg.as_of or datetime.now(timezone.utc)
    ws = Workspace(cfg.data_dir)
    every = [v.name for v in store.list_feature_views()]
    rebuild, token = online_sync.plan(store, ws, views or every, every, full)
    for name in rebuild:  # forget first: a crash from here on makes the next run rebuild them
        online_sync.record(ws, token, name, None)
    online_sync.set_online_token(store, token)
    names = sorted(set(views or every) | set(rebuild), key=every.index)
    progress.start("materialize: feature views", len(names))
    for name in names:
        fingerprint = online_sync.table_fingerprint(ws.feature_table(name))
        done = [i[1] for i in store.get_feature_view(name).materialization_intervals]
        start = max(done) if done and name not in rebuild else EPOCH
        if name in rebuild:
            online_sync.clear_online_view(store, name)
        # Feast's Ray engine fails on an empty table (nothing to load anyway): skip it there.
        if start < end and (not feast_ray.is_ray_store(store) or feast_ray.has_rows(store.get_feature_view(name))):
            # Feast prints its own banner and a tqdm bar per view; the progress display replaces them.
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                store.materialize(start_date=start, end_date=end, feature_views=[name])
        online_sync.record(ws, token, name, fingerprint)
        progress.advance("materialize: feature views")
    return Materialized(end, rebuild)


def is_applied(store: "FeatureStore") -> bool:
    """Whether ``powertier features apply`` ever registered this workspace's views."""
    return bool(store.list_feature_views())


def _service(store: "FeatureStore", service: str):
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(service)
    except FeatureServiceNotFoundException as exc:
        known = sorted(s.name for s in store.list_feature_services())
        if not known:
            raise LookupError("no feature service is registered; run `powertier features apply`") from exc
        raise LookupError(f"unknown feature service {service!r}; registered: {', '.join(known)}") from exc


def _entity_rows(entity_df: pd.DataFrame) -> pd.DataFrame:
    """Entity rows as the point-in-time join takes them: typed keys, a row id, the request time."""
    missing = {"user_id", "event_timestamp"} - set(entity_df.columns)
    if missing:
        raise ValueError(f"entity rows need columns user_id and event_timestamp; missing {sorted(missing)}")
    rows = entity_df.reset_index(drop=True).copy()
    rows["user_id"] = rows["user_id"].astype(str)
    rows["event_timestamp"] = to_utc_us(rows["event_timestamp"])
    rows[ROW_ID] = np.arange(len(rows))
    rows[REQUEST_TIME_FIELD] = rows["event_timestamp"].astype("int64") / 1e6
    return rows


def _joined(store: "FeatureStore", rows: pd.DataFrame, features) -> pd.DataFrame:
    """The point-in-time join of ``rows`` in chunks, back in row order.

    Chunks bound peak memory: Feast's DuckDB join materialises every chunk in pandas (about
    6 GiB for 0.5M entity rows in one call); each chunk is an independent point-in-time join."""
    parts = [_retrieve(store, rows.iloc[i:i + RETRIEVAL_CHUNK], features)
             for i in range(0, max(len(rows), 1), RETRIEVAL_CHUNK)]
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if len(out) != len(rows):
        raise RuntimeError(f"historical retrieval returned {len(out)} rows for {len(rows)} entity rows")
    out = out.sort_values(ROW_ID).reset_index(drop=True)
    out["event_timestamp"] = to_utc_us(out["event_timestamp"])
    return out


def historical_features(store: "FeatureStore", entity_df: pd.DataFrame, service: str,
                        with_tags: bool = False) -> pd.DataFrame:
    """Point-in-time join: same rows, same order as ``entity_df`` (user_id, event_timestamp, ...)
    with the service's features appended under plain names; no row is ever dropped.

    ``with_tags`` adds the profile tags (``tag_*`` of ``user_profile_tags``, float64) in the same
    retrieval: the service's own refs plus the tags' refs, one point-in-time join instead of two."""
    rows = _entity_rows(entity_df)
    names, tags = service_features(store, service), tag_names(store) if with_tags else []
    features = _service(store, service) if not tags else [*service_refs(store, service), *_tag_refs(tags)]
    out = _joined(store, rows, features)
    keep = [c for c in entity_df.columns] + [f for f in names if f not in entity_df.columns]
    return pd.concat([out[keep], out[tags].astype("float64")], axis=1) if tags else out[keep]


def tag_names(store: "FeatureStore") -> list[str]:
    """The profile tags the registry holds (none when it was applied before the view existed)."""
    from feature_repo.names import TAG_PREFIX, TAGS_VIEW

    views = {v.name: v for v in store.list_feature_views()}
    return [f.name for f in views[TAGS_VIEW].features if f.name.startswith(TAG_PREFIX)] if TAGS_VIEW in views else []


def _tag_refs(names: list[str]) -> list[str]:
    from feature_repo.names import TAGS_VIEW

    return [f"{TAGS_VIEW}:{n}" for n in names]


def historical_tags(store: "FeatureStore", entity_df: pd.DataFrame) -> pd.DataFrame:
    """The profile tags alone at each entity row, point-in-time, in row order; no columns when the
    workspace registers no tags."""
    names = tag_names(store)
    if not names or len(entity_df) == 0:
        return pd.DataFrame(index=pd.RangeIndex(len(entity_df)))
    out = _joined(store, _entity_rows(entity_df[["user_id", "event_timestamp"]]), _tag_refs(names))
    return out[names].astype("float64")


def _retrieve(store: "FeatureStore", rows: pd.DataFrame, features) -> pd.DataFrame:
    """One chunk's point-in-time join, through whichever offline store ``store`` is configured with."""
    from pipelines.storage import feast_ray

    if feast_ray.is_ray_store(store):
        return feast_ray.historical(store, rows, features, [REQUEST_TIME_FIELD])
    return store.get_historical_features(entity_df=rows, features=features).to_df()


def online_features(store: "FeatureStore", user_ids: list[str], service: str,
                    as_of: datetime | None = None) -> pd.DataFrame:
    """Online values for ``user_ids`` (one row each, same order); time-relative features at ``as_of``."""
    now = (as_of or datetime.now(timezone.utc)).timestamp()
    rows = [{"user_id": str(u), REQUEST_TIME_FIELD: now} for u in user_ids]
    out = store.get_online_features(features=_service(store, service), entity_rows=rows).to_df()
    return out[["user_id", *service_features(store, service)]]


def service_features(store: "FeatureStore", service: str) -> list[str]:
    """Plain feature names served by ``service``, in service order."""
    return [f.name for proj in _service(store, service).feature_view_projections for f in proj.features]


def service_refs(store: "FeatureStore", service: str) -> list[str]:
    """``view:feature`` references of ``service``, in service order (what the service retrieves)."""
    return [f"{proj.name_to_use()}:{f.name}" for proj in _service(store, service).feature_view_projections
            for f in proj.features]


def write_repo_yaml(cfg: PowerTierConfig) -> Path:
    """Write ``<data_dir>/feast/feature_store.yaml`` from :func:`store_settings`, so the Feast CLI
    (``feast -c <data_dir>/feast serve|ui``) works on this workspace. Holds no secrets: the Redis
    connection stays in the environment (``${POWERTIER_REDIS_CONN}`` is expanded by Feast)."""
    import yaml

    doc = store_settings(cfg, redis_connection="${%s}" % REDIS_CONN_ENV)
    return write_text(yaml.safe_dump(doc, sort_keys=False), Workspace(cfg.data_dir).feast / "feature_store.yaml")


REPO_MODULE = "powertier_repo.py"


def write_repo_module(cfg: PowerTierConfig) -> Path:
    """Write ``<data_dir>/feast/powertier_repo.py``: the Feast CLI's view of this workspace's
    definitions (the same :func:`definitions` PowerTier applies), so ``feast -c <data_dir>/feast
    plan|apply|ui|serve`` sees every registered object and plans no deletion."""
    ws = Workspace(cfg.data_dir)
    text = f'''"""Feast definitions of the PowerTier workspace {ws.root}.

Written by `powertier features apply` (rewritten at every apply; edit the builders in
feature_repo/, not this file), so that `feast -c {ws.feast} plan|apply|ui|serve` work on
exactly the objects PowerTier registers.
"""

from pathlib import Path

from feature_repo.definitions import build_definitions

_defs = build_definitions(Path({str(ws.features)!r}), {list(cfg.features.windows_days)!r}, {list(cfg.tiers)!r},
                          {cfg.tags.names()!r})
globals().update({{f"_feast_{{i}}": obj for i, obj in enumerate(_defs.all())}})
'''
    return write_text(text, ws.feast / REPO_MODULE)
