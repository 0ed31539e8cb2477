"""The event path of the server: ``POST /v1/events/{order,review,search}``.

An event is validated and PII-redacted by the batch ingest code (same contract, same reasons),
its text cleaned and embedded like the embedding job, and the user's online features recomputed
and pushed through Feast push sources (``pipelines.serve.updates``).

Idempotent by construction: the redacted record (with its vector) is first appended durably to
the event log (``pipelines.storage.eventlog``, which the next batch run ingests), and the pushed
rows are then *recomputed* from what is durable (the user's batch rows and profiles plus the
user's logged events), never added onto the online value. An event id is logged once; a retry
of the same event (same id, same values) finds it in the log and pushes the same rows again, so
a failure or crash at any point is safe to retry: counts and means include the event once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from feature_repo.names import EXPIRY_VIEW, TAG_PREFIX, TAGS_VIEW, tag_feature_names
from feature_repo.timestamps import epoch_s, ts_column
from pipelines.common.config import PowerTierConfig
from pipelines.embed.plan import SOURCES
from pipelines.common.ids import IdStr
from pipelines.common.workspace import TABLES, Workspace
from pipelines.ingest.contract import KEYS, contract_columns, rules_from_config
from pipelines.serve.job import EVENT_TABLES
from pipelines.serve.predict import StoreUnavailable, store_errors
from pipelines.serve.updates import replay_profile, stamp, transactions_row
from pipelines.storage.eventlog import DIGEST, VECTOR, EventLog, compact, digest

if TYPE_CHECKING:
    from feast import FeatureStore

Encoder = Callable[[list[str], str], np.ndarray]  # (texts, "query" | "document") -> unit vectors
TEXT = {s.table: s for s in SOURCES}  # table -> (text column, encoder prompt kind, profile name)
FUTURE_TOLERANCE = pd.Timedelta(minutes=5)  # clock skew allowed between clients and the server
logger = logging.getLogger("powertier.serve")


class OrderEvent(BaseModel):
    user_id: IdStr
    ts: str
    order_id: IdStr | None = None
    amount: float
    status: str
    category: str | None = None
    discount: float | None = None


class ReviewEvent(BaseModel):
    user_id: IdStr
    ts: str
    review_id: IdStr | None = None
    text: str
    rating: float | None = None
    category: str | None = None


class SearchEvent(BaseModel):
    user_id: IdStr
    ts: str
    search_id: IdStr | None = None
    query: str


class EventRejected(Exception):
    """The event breaks the contract (422) or repeats a known id (409)."""

    def __init__(self, status: int, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.status, self.reason, self.detail = status, reason, detail



@dataclass(frozen=True)
class TagState:
    """The profile tags the event path keeps current: names, sources and prototypes per profile,
    encoded at start-up with the serving encoder (the same vectors the embedding job caches)."""

    names: list[str]
    sources: list[list[str]]
    prototypes: dict[str, np.ndarray]
    groups: list[str | None]


def load_tag_state(cfg: PowerTierConfig, store: FeatureStore, encoder: Encoder | None) -> TagState | None:
    """Prototypes of the configured tags, or None (no encoder, no tags, or a registered
    ``user_profile_tags`` with other tags than the config: then the next batch run updates them)."""
    from embeddings.tags import KIND, prototype_vectors

    views = {v.name: v for v in store.list_feature_views()}
    names = cfg.tags.names()
    if encoder is None or not names or TAGS_VIEW not in views:
        return None
    registered = [f.name for f in views[TAGS_VIEW].features if f.name.startswith(TAG_PREFIX)]
    if registered != tag_feature_names(names):
        logger.warning("user_profile_tags serves %s, the config has %s: events will not update tags online",
                       registered, tag_feature_names(names))
        return None
    tags = cfg.tags.tags
    owners = [i for i, t in enumerate(tags) for _ in t.phrases]
    phrases = [p for t in tags for p in t.phrases]
    protos = {p: prototype_vectors(encoder(phrases, kind), owners, len(tags)) for p, kind in KIND.items()}
    return TagState(names, [list(t.sources) for t in tags], protos, [t.group for t in tags])


@dataclass
class EventContext:
    """What the event path keeps in memory: curated rows indexed by user, the event logs, the
    encoder, the profiles' batch rows (read per user on first use) and the locks."""

    cfg: PowerTierConfig
    store: FeatureStore
    curated: dict[str, pd.DataFrame | None]
    rows_of: dict[str, dict[str, np.ndarray]]
    known_ids: dict[str, set[str]]
    encoder: Encoder | None
    logs: dict[str, EventLog]
    profile_end: dict[str, pd.Timestamp | None] = field(default_factory=dict)  # materialized up to
    search_weight: bool = True  # does user_search_profile serve search_weight (needed to update it)?
    store_lock: Any = field(default_factory=contextlib.nullcontext)
    lock: threading.Lock = field(default_factory=threading.Lock)
    bases: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    compacting: threading.Lock = field(default_factory=threading.Lock)
    expiry: bool = True  # is the expiry-schedule view registered (workspaces applied before it was not)?
    tags: TagState | None = None  # profile tags to recompute with a text profile (None: left to batch)

    @property
    def events_dir(self) -> Path:
        return Workspace(self.cfg.data_dir).events


def load_event_context(cfg: PowerTierConfig, store: FeatureStore, encoder: Encoder | None,
                       store_lock: Any = None) -> EventContext:
    """Read the curated tables and the event logs once and index their rows by user."""
    from pipelines.storage.curated import load_curated

    ws = Workspace(cfg.data_dir)
    curated = load_curated(ws)
    rows_of = {t: f.groupby("user_id", sort=False).indices for t, f in curated.items() if f is not None}
    known = {t: set(curated[t][KEYS[t][0]].astype(str)) if curated.get(t) is not None else set()
             for t in EVENT_TABLES.values()}
    logs = {t: EventLog(ws.events / t, KEYS[t][0]).load() for t in EVENT_TABLES.values()}
    weight = any(f.name == "search_weight" for f in store.get_feature_view("user_search_profile").features)
    if not weight:
        logger.warning("user_search_profile has no search_weight feature: search events will not update the "
                    "search profile online (the next batch run will)")
    ends = {f"user_{name}_profile": _materialized_end(store, f"user_{name}_profile") for name in (s.profile for s in TEXT.values())}
    expiry = EXPIRY_VIEW in {v.name for v in store.list_feature_views()}
    return EventContext(cfg, store, curated, rows_of, known, encoder, logs, ends, weight,
                        store_lock or contextlib.nullcontext(), expiry=expiry, tags=load_tag_state(cfg, store, encoder))


def _materialized_end(store: FeatureStore, view: str) -> pd.Timestamp | None:
    """End of the view's last materialization: the online profile is the batch row as of then."""
    ends = [i[1] for i in store.get_feature_view(view).materialization_intervals]
    return pd.Timestamp(max(ends)) if ends else None


def _user_rows(ctx: EventContext, table: str, user_id: str) -> pd.DataFrame | None:
    """The user's curated rows of ``table`` plus that user's logged events (duplicates dropped)."""
    parts = []
    frame = ctx.curated.get(table)
    if frame is not None:
        parts.append(frame.iloc[ctx.rows_of[table].get(user_id, np.empty(0, dtype=np.int64))])
    logged = ctx.logs[table].user_rows(user_id) if table in ctx.logs else None
    if logged is not None:
        parts.append(logged[[c for c in logged.columns if not c.startswith("__")]])
    if not parts:
        return None
    rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    return rows.drop_duplicates(list(KEYS[table]), keep="first").reset_index(drop=True)


def validate_event(ctx: EventContext, table: str, record: dict[str, Any]) -> pd.DataFrame:
    """The one accepted, redacted, typed row of ``record``, or :class:`EventRejected` (422)."""
    from pipelines.ingest.validate import validate_table

    users = ctx.curated["users"]
    user = users.iloc[ctx.rows_of["users"].get(record["user_id"], np.empty(0, dtype=np.int64))]
    raw = pd.DataFrame([record], dtype=object)
    raw["source_row"], raw["raw_line"] = 1, pd.array([pd.NA], dtype="string")
    now = pd.Timestamp.now(tz="UTC")
    rules = rules_from_config(ctx.cfg, now + FUTURE_TOLERANCE)
    result = validate_table(raw, table, rules, user[["user_id", "signup_ts"]])
    if len(result.quarantine):
        bad = result.quarantine.iloc[0]
        raise EventRejected(422, str(bad["reason"]), str(bad["detail"]))
    return result.accepted[contract_columns(table)]


def prepare_text(ctx: EventContext, table: str, row: pd.DataFrame) -> tuple[str | None, str | None]:
    """The cleaned text to embed, or None with the reason the embedding job would drop or flag it."""
    from embeddings.prepare import prepare_texts

    column = TEXT[table].text_col
    enc = ctx.cfg.encoder
    prepared, _ = prepare_texts(row, column, min_chars=enc.min_chars, spam_min_users=enc.spam_min_users,
                                spam_min_chars=getattr(enc, "spam_min_chars", 1))
    reason = prepared["reason"].iloc[0]
    return (None, str(reason)) if reason is not None else (str(prepared["text"].iloc[0]), None)


def encode(ctx: EventContext, table: str, text: str) -> np.ndarray:
    """The text's vector with the embedding job's encoder and prompt kind."""
    if ctx.encoder is None:
        raise StoreUnavailable("the text encoder is not loaded; review and search events cannot be embedded")
    return np.asarray(ctx.encoder([text], TEXT[table].kind)[0], dtype=np.float32)


def _is_replay(ctx: EventContext, table: str, event_id: str, row_digest: str) -> bool:
    """True when the log holds this very event (a retry); 409 when the id is taken by another
    event or already curated (ids are unique across users, as on ingest)."""
    key = KEYS[table][0]
    logged = ctx.logs[table].get(event_id)
    if logged is not None and logged.get(DIGEST) == row_digest:
        return True
    if logged is not None:
        raise EventRejected(409, "duplicate_id", f"{key} {event_id!r} is already recorded with other values")
    if event_id in ctx.known_ids[table]:
        raise EventRejected(409, "duplicate_id", f"{key} {event_id!r} is already recorded")
    return False


def _online(ctx: EventContext, user_id: str, refs: list[str]) -> dict[str, Any]:
    """Current online values of ``refs`` (``view:feature``) for one user."""
    try:
        with ctx.store_lock:
            data = ctx.store.get_online_features(features=refs, entity_rows=[{"user_id": user_id}]).to_dict()
    except store_errors() as exc:
        raise StoreUnavailable(f"online store unavailable: {exc}") from exc
    return {k: v[0] for k, v in data.items()}


def _push(ctx: EventContext, view: str, frame: pd.DataFrame) -> None:
    from feast.data_source import PushMode

    try:
        with ctx.store_lock:
            ctx.store.push(f"{view}_push", frame, to=PushMode.ONLINE)
    except store_errors() as exc:
        raise StoreUnavailable(f"online store unavailable: {exc}") from exc


def _row_time(ctx: EventContext, view: str, user_id: str, latest: pd.Timestamp) -> pd.Timestamp:
    """Time of the pushed row: the newest logged event, or just after the stored row (``stamp``)."""
    return stamp(latest, _online(ctx, user_id, [f"{view}:{ts_column(view)}"])[ts_column(view)])


def transactions_update(ctx: EventContext, user_id: str, latest: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The user's ``user_transactions`` row and expiry schedule, recomputed from curated rows
    plus logged events."""
    tables = {t: _user_rows(ctx, t, user_id) for t in TABLES}
    at = _row_time(ctx, "user_transactions", user_id, latest)
    return transactions_row(tables, user_id, at, ctx.cfg.features.windows_days, ctx.cfg.tiers)


def _profile_base(ctx: EventContext, view: str, user_id: str) -> dict[str, Any] | None:
    """The user's batch profile row as materialized (the latest offline row up to the last
    materialization, i.e. the online value before any event), read once per user."""
    import pyarrow.parquet as pq

    if (view, user_id) not in ctx.bases:
        path, end = Workspace(ctx.cfg.data_dir).feature_table(view), ctx.profile_end.get(view)
        rows = pq.read_table(path, filters=[("user_id", "=", user_id)]).to_pandas() if path.exists() else None
        if rows is not None and end is not None:
            rows = rows[rows["event_timestamp"] <= end]
        ctx.bases[(view, user_id)] = (None if rows is None or rows.empty or end is None
                                      else rows.sort_values("event_timestamp").iloc[-1].to_dict())
    return ctx.bases[(view, user_id)]


def profile_update(ctx: EventContext, table: str, user_id: str, latest: pd.Timestamp) -> pd.DataFrame:
    """The user's review or search profile row: the batch row plus every logged vector of the
    user that is not curated yet, recomputed (never added onto the online value)."""
    name = TEXT[table].profile
    view = f"user_{name}_profile"
    logged = ctx.logs[table].user_rows(user_id)
    has_vec = logged[VECTOR].map(lambda v: isinstance(v, (list, np.ndarray)))
    logged = logged[has_vec & ~logged[KEYS[table][0]].astype(str).isin(ctx.known_ids[table])]
    logged = logged.sort_values("ts", kind="stable")
    events = [(np.asarray(v, dtype=np.float64), epoch_s(t)) for v, t in zip(logged[VECTOR], logged["ts"])]
    at = _row_time(ctx, view, user_id, latest)
    mean, count, weight = replay_profile(name, _profile_base(ctx, view, user_id), events, epoch_s(at),
                                         ctx.cfg.features.search_half_life_days)
    out = {"user_id": [user_id], "event_timestamp": [at], ts_column(view): [epoch_s(at)],
           f"{name}_embedding": [mean.astype(np.float32).tolist()], f"{name}_count": [count]}
    if name == "search":
        out["search_weight"] = [weight]
    frame = pd.DataFrame(out)
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
    return frame


def tags_update(ctx: EventContext, table: str, user_id: str, profile: pd.DataFrame) -> pd.DataFrame:
    """The user's ``user_profile_tags`` row from the just recomputed profile and the other
    profile's online value, as the embedding job scores them (``embeddings.tags``)."""
    from embeddings.tags import user_tags

    assert ctx.tags is not None
    name = TEXT[table].profile
    other = "search" if name == "review" else "review"
    stored = _online(ctx, user_id, [f"user_{other}_profile:{other}_embedding"])[f"{other}_embedding"]
    vectors = {name: np.asarray(profile[f"{name}_embedding"].iloc[0], dtype=np.float32),
               other: None if stored is None else np.asarray(stored, dtype=np.float32)}
    values = user_tags(vectors, ctx.tags.prototypes, ctx.tags.sources, ctx.tags.groups)
    at = _row_time(ctx, TAGS_VIEW, user_id, profile["event_timestamp"].iloc[0])
    frame = pd.DataFrame({"user_id": [user_id], "event_timestamp": [at], ts_column(TAGS_VIEW): [epoch_s(at)],
                          **{c: [float(v)] for c, v in zip(tag_feature_names(ctx.tags.names), values)}})
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
    return frame


def recompute(ctx: EventContext, table: str, user_id: str, with_profile: bool) -> dict[str, pd.DataFrame]:
    """Every view the user's logged events change, recomputed from the durable state."""
    latest = pd.Timestamp(ctx.logs[table].user_rows(user_id)["ts"].max())
    row, schedule = transactions_update(ctx, user_id, latest)
    # The schedule first: should the second push fail, the served windows are still exact from
    # the event on (serve.predict applies schedule entries newer than the stored row).
    updates = {EXPIRY_VIEW: schedule, "user_transactions": row} if ctx.expiry else {"user_transactions": row}
    if with_profile:
        profile = profile_update(ctx, table, user_id, latest)
        updates[f"user_{TEXT[table].profile}_profile"] = profile
        if ctx.tags is not None:  # after the profile: a failed push leaves tags behind, never ahead
            updates[TAGS_VIEW] = tags_update(ctx, table, user_id, profile)
    return updates


def _maybe_compact(ctx: EventContext, log: EventLog) -> None:
    """Compact the log's segments in a background thread once enough have piled up."""
    every = ctx.cfg.serve.event_segments_per_part
    if log.segment_count < every or not ctx.compacting.acquire(blocking=False):
        return

    def run() -> None:
        try:
            compact(log.directory, every)
            log.recount()
        except Exception as exc:  # noqa: BLE001 - the log stays readable; the next append retries
            logger.warning("event log compaction failed: %s", exc)
        finally:
            ctx.compacting.release()

    threading.Thread(target=run, name="powertier-compact", daemon=True).start()


def handle_event(ctx: EventContext, kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """Validate, log durably, then recompute and push the user's features; returns a summary.
    A retry of a logged event (same id and values) pushes again and says ``replayed: true``."""
    table = EVENT_TABLES[kind]
    key = KEYS[table][0]
    record = {**record, key: record.get(key) or f"evt-{uuid.uuid4().hex}"}
    row = validate_event(ctx, table, record)
    event_id, user_id = str(row[key].iloc[0]), str(row["user_id"].iloc[0])
    row_digest, log = digest(row, contract_columns(table)), ctx.logs[table]
    with ctx.lock, log.lock():
        log.catch_up()
        replay = _is_replay(ctx, table, event_id, row_digest)
    text, text_reason = prepare_text(ctx, table, row) if table in TEXT else (None, None)
    vec = encode(ctx, table, text) if text is not None and not replay else None  # slow: outside the locks
    with ctx.lock, log.lock():
        log.catch_up()
        if not _is_replay(ctx, table, event_id, row_digest):  # another worker may have logged it meanwhile
            try:
                log.append(row, row_digest, vec)  # durable before any push
            except OSError as exc:  # disk full, read-only: nothing was logged or pushed; retry later
                raise StoreUnavailable(f"event log unavailable: {exc}") from exc
        has_vec = table in TEXT and isinstance(log.get(event_id).get(VECTOR), (list, np.ndarray))
        if has_vec and table == "searches" and not ctx.search_weight:
            has_vec, text_reason = False, "search_weight_unavailable"
        updates = recompute(ctx, table, user_id, has_vec)
        for view, frame in updates.items():
            _push(ctx, view, frame)
        log.fold(ctx.cfg.serve.event_segments_per_part)
    _maybe_compact(ctx, log)
    return {"accepted": True, "table": table, key: event_id, "user_id": user_id, "replayed": replay,
            "updated_views": [v for v in updates if v != EXPIRY_VIEW], "text_skipped": text_reason,
            "feature_timestamp": updates["user_transactions"]["event_timestamp"].iloc[0].isoformat()}
