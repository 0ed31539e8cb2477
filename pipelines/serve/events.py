"""The event path of the server: ``POST /v1/events/{order,review,search}``.

An event is validated and PII-redacted by the batch ingest code (same contract, same reasons),
its text cleaned and embedded like the embedding job, the user's online features updated
incrementally (``pipelines.serve.updates``) and pushed through Feast push sources, then the
redacted record is appended to ``<data_dir>/events/<table>.parquet`` in the raw-data contract
format, which the next batch run ingests. Pushes happen before the log append, so an event that
got a 503 (store down) is not logged and can simply be retried.
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

from feature_repo.timestamps import epoch_s, ts_column
from pipelines.common.config import PowerTierConfig
from pipelines.embed.plan import SOURCES
from pipelines.common.ids import IdStr
from pipelines.common.workspace import TABLES, Workspace
from pipelines.ingest.contract import KEYS, contract_columns, rules_from_config
from pipelines.serve.job import EVENT_TABLES, append_event, read_event_log
from pipelines.serve.predict import StoreUnavailable, store_errors
from pipelines.serve.updates import (
    decayed_mean,
    running_mean,
    stamp,
    transactions_row,
)
from pipelines.storage.files import file_lock

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


@dataclass
class EventContext:
    """What the event path keeps in memory: curated rows indexed by user, the encoder, locks."""

    cfg: PowerTierConfig
    store: FeatureStore
    curated: dict[str, pd.DataFrame | None]
    rows_of: dict[str, dict[str, np.ndarray]]
    known_ids: dict[str, set[str]]
    encoder: Encoder | None
    search_weight: bool = True  # does user_search_profile serve search_weight (needed to update it)?
    store_lock: Any = field(default_factory=contextlib.nullcontext)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def events_dir(self) -> Path:
        return Workspace(self.cfg.data_dir).events


def load_event_context(cfg: PowerTierConfig, store: FeatureStore, encoder: Encoder | None,
                       store_lock: Any = None) -> EventContext:
    """Read the curated tables once and index their rows by user."""
    from pipelines.storage.curated import load_curated

    curated = load_curated(Workspace(cfg.data_dir))
    rows_of = {t: f.groupby("user_id", sort=False).indices for t, f in curated.items() if f is not None}
    known = {t: set(curated[t][KEYS[t][0]].astype(str)) if curated.get(t) is not None else set()
             for t in EVENT_TABLES.values()}
    weight = any(f.name == "search_weight" for f in store.get_feature_view("user_search_profile").features)
    if not weight:
        logger.warning("user_search_profile has no search_weight feature: search events will not update the "
                    "search profile online (the next batch run will)")
    return EventContext(cfg, store, curated, rows_of, known, encoder, weight, store_lock or contextlib.nullcontext())


def _user_rows(ctx: EventContext, table: str, user_id: str, log: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """The user's curated rows of ``table`` plus that user's logged events (duplicates dropped)."""
    parts = []
    frame = ctx.curated.get(table)
    if frame is not None:
        parts.append(frame.iloc[ctx.rows_of[table].get(user_id, np.empty(0, dtype=np.int64))])
    if table in log:
        parts.append(log[table][log[table]["user_id"] == user_id])
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


def embed(ctx: EventContext, table: str, row: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
    """The text's vector (None when the embedding job would drop or flag it, with that reason)."""
    from embeddings.prepare import prepare_texts

    column, kind = TEXT[table].text_col, TEXT[table].kind
    enc = ctx.cfg.encoder
    prepared, _ = prepare_texts(row, column, min_chars=enc.min_chars, spam_min_users=enc.spam_min_users,
                                spam_min_chars=getattr(enc, "spam_min_chars", 1))
    reason = prepared["reason"].iloc[0]
    if reason is not None:
        return None, str(reason)
    if ctx.encoder is None:
        raise StoreUnavailable("the text encoder is not loaded; review and search events cannot be embedded")
    return np.asarray(ctx.encoder([prepared["text"].iloc[0]], kind)[0], dtype=np.float32), None


def _check_new(ctx: EventContext, table: str, row: pd.DataFrame, log: dict[str, pd.DataFrame]) -> None:
    """409 when the event's id is already curated or logged (ids are unique across users, as on ingest)."""
    key = KEYS[table][0]
    value = str(row[key].iloc[0])
    if value in ctx.known_ids[table] or (table in log and (log[table][key] == value).any()):
        raise EventRejected(409, "duplicate_id", f"{key} {value!r} is already recorded")


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


def transactions_update(ctx: EventContext, row: pd.DataFrame, table: str,
                        log: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The user's new ``user_transactions`` row, the event included."""
    user_id, ts = row["user_id"].iloc[0], row["ts"].iloc[0]
    tables = {t: _user_rows(ctx, t, user_id, log) for t in TABLES}
    tables[table] = pd.concat([tables[table], row], ignore_index=True) if tables[table] is not None else row
    stored = _online(ctx, user_id, ["user_transactions:user_transactions_ts"])["user_transactions_ts"]
    at = stamp(ts, stored)
    return transactions_row(tables, user_id, at, ctx.cfg.features.windows_days, ctx.cfg.tiers)


def profile_update(ctx: EventContext, row: pd.DataFrame, table: str, vec: np.ndarray) -> pd.DataFrame:
    """The user's new review or search profile row, the event's vector included."""
    name = TEXT[table].profile
    view = f"user_{name}_profile"
    user_id, ts = row["user_id"].iloc[0], row["ts"].iloc[0]
    refs = [f"{view}:{name}_embedding", f"{view}:{name}_count", f"{view}:{ts_column(view)}"]
    refs += [f"{view}:search_weight"] if name == "search" else []
    cur = _online(ctx, user_id, refs)
    at = stamp(ts, cur[ts_column(view)])
    out = {"user_id": [user_id], "event_timestamp": [at], ts_column(view): [epoch_s(at)]}
    count = int(cur[f"{name}_count"] or 0)
    if name == "review":
        mean, count = running_mean(cur["review_embedding"], count, vec)
    else:
        mean, weight = decayed_mean(cur["search_embedding"], cur["search_weight"], cur[ts_column(view)], vec,
                                    epoch_s(ts), epoch_s(at), ctx.cfg.features.search_half_life_days)
        count, out["search_weight"] = count + 1, [weight]
    out[f"{name}_embedding"], out[f"{name}_count"] = [mean.astype(np.float32).tolist()], [count]
    frame = pd.DataFrame(out)
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
    return frame


def handle_event(ctx: EventContext, kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """Validate, embed, update and push the user's features, log the event; returns a summary."""
    table = EVENT_TABLES[kind]
    key = KEYS[table][0]
    record = {**record, key: record.get(key) or f"evt-{uuid.uuid4().hex}"}
    row = validate_event(ctx, table, record)
    vec, text_reason = embed(ctx, table, row) if table in TEXT else (None, None)
    if table == "searches" and vec is not None and not ctx.search_weight:
        vec, text_reason = None, "search_weight_unavailable"
    with ctx.lock, file_lock(ctx.events_dir):
        log = read_event_log(ctx.events_dir)
        _check_new(ctx, table, row, log)
        updates = {"user_transactions": transactions_update(ctx, row, table, log)}
        if vec is not None:
            updates[f"user_{TEXT[table].profile}_profile"] = profile_update(ctx, row, table, vec)
        for view, frame in updates.items():
            _push(ctx, view, frame)
        append_event(ctx.events_dir, table, row, log)
    return {"accepted": True, "table": table, key: row[key].iloc[0], "user_id": row["user_id"].iloc[0],
            "updated_views": list(updates), "text_skipped": text_reason,
            "feature_timestamp": updates["user_transactions"]["event_timestamp"].iloc[0].isoformat()}
