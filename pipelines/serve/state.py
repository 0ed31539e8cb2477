"""Resources of one server process, loaded once in the app's lifespan: the feature store (with
serving timeouts), the predictor, the event path's curated index and the text encoder."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.common.config import PowerTierConfig
from pipelines.storage.online_sync import online_store_problem
from pipelines.serve.events import EventContext
from pipelines.serve.predict import Predictor, StoreUnavailable, store_errors

if TYPE_CHECKING:
    from feast import FeatureStore

    from pipelines.serve.events import Encoder

STORE_TIMEOUT_S = 0.5  # Redis connect/read timeout: an outage answers 503 quickly instead of hanging
log = logging.getLogger("powertier.serve")


@dataclass
class Breaker:
    """After an online-store failure, answer 503 at once for ``cooldown_s`` instead of making every
    request wait on a dead store (predictions run on the event loop, so waiting would stall it)."""

    cooldown_s: float = 2 * STORE_TIMEOUT_S
    open_until: float = 0.0
    last_error: str = ""

    def check(self) -> None:
        if time.monotonic() < self.open_until:
            raise StoreUnavailable(f"online store unavailable (retrying shortly): {self.last_error}")

    def failed(self, exc: Exception) -> None:
        self.open_until, self.last_error = time.monotonic() + self.cooldown_s, str(exc)


@dataclass
class ServeState:
    """Resources of one server process."""

    cfg: PowerTierConfig
    store: FeatureStore
    predictor: Predictor
    events: EventContext | None
    events_error: str | None
    store_lock: Any
    breaker: Breaker


def open_store(cfg: PowerTierConfig) -> FeatureStore:
    """The workspace's store with serving timeouts: short Redis socket timeouts, one quick retry."""
    from feast import FeatureStore

    from pipelines.storage import feast_store

    timeouts = {"socket_timeout": STORE_TIMEOUT_S, "socket_connect_timeout": STORE_TIMEOUT_S}
    store = FeatureStore(config=feast_store.repo_config(cfg, redis_options=timeouts))
    if cfg.online_store == "redis":
        _fast_redis_retry(store)
    return store


def _redis_client(store: FeatureStore):
    # Feast keeps its redis-py client private; serving needs it to bound retries and to ping.
    online = store._get_provider().online_store
    return online._get_client(store.config.online_store)


def _fast_redis_retry(store: FeatureStore) -> None:
    """redis-py retries 3 times with up to ~14 s of backoff by default; serving wants one immediate
    retry (a pooled connection gone stale across a Redis restart) and then a fast failure."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    _redis_client(store).set_retry(Retry(NoBackoff(), 1))


def default_encoder(cfg: PowerTierConfig) -> Encoder:
    """The embedding job's encoder, loaded once."""
    from embeddings.encoder import canonical_texts, encode, model_info
    from pipelines.storage.models import load_model

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no tqdm bars among the JSON log lines
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = load_model(cfg)
    lowercase = bool(model_info(model)["lowercase"])
    # canonical_texts: the embedding job keys and encodes texts in this form (lower-cased for MiniLM).
    return lambda texts, kind: encode(model, canonical_texts(texts, lowercase), kind, cfg.encoder.batch_size)


def load_state(cfg: PowerTierConfig, run_dir: Path,
               encoder_factory: Callable[[PowerTierConfig], Encoder]) -> ServeState:
    """Open the store, load the model and the event path's resources (heavy; once per process)."""
    from pipelines.serve.events import load_event_context
    from pipelines.serve.job import load_predictor
    from pipelines.serve.predict import check_fast_path, check_reader

    started = time.perf_counter()
    store = open_store(cfg)
    predictor = load_predictor(store, run_dir, cfg.features.windows_days)
    lock = threading.Lock() if cfg.online_store == "sqlite" else contextlib.nullcontext()
    events, error = None, None
    try:
        encoder = encoder_factory(cfg)
    except Exception as exc:  # serving scores without an encoder; only text events need one
        encoder, error = None, f"text encoder not loaded: {exc}"
        log.warning(error)
    try:
        events = load_event_context(cfg, store, encoder, lock)
    except Exception as exc:  # e.g. no curated data in this workspace: predict still works
        error = f"event path disabled: {exc}"
        log.warning(error)
    probe = events.curated["users"]["user_id"].head(16).tolist() if events is not None else []
    predictor = check_fast_path(store, check_reader(store, predictor, probe), probe)
    log.info("ready", extra={"fields": {"run_id": predictor.run_id, "online_store": cfg.online_store,
                                        "service": predictor.service.name, "array_scorer": predictor.fast is not None,
                                        "stored_reader": predictor.reader is not None,
                                        "startup_s": round(time.perf_counter() - started, 3)}})
    return ServeState(cfg, store, predictor, events, error, lock, Breaker())


def freeze_heap() -> int:
    """Collect once, then move every object alive after start-up out of the cyclic GC's reach
    (``gc.freeze``); returns how many were frozen.

    The loaded Feast registry, pandas frames, LightGBM models and the encoder are ~600k tracked
    objects that live as long as the process: a full (generation-2) collection walked all of them,
    ~0.35 s of CPU (~0.5 s wall) on a busy 2-core box, during which the event loop served nothing
    and requests queued. Frozen, they are never scanned again; reference counting still frees
    them, and the young generations stay as cheap as before."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def thaw_heap() -> None:
    """Undo :func:`freeze_heap` on shutdown, so an app started and stopped in a long-lived process
    (the tests) leaves nothing exempt from collection."""
    gc.unfreeze()


def store_reachable(state: ServeState) -> tuple[bool, str]:
    """Cheap liveness probe of the online store (no feature read)."""
    try:
        if state.cfg.online_store == "redis":
            _redis_client(state.store).ping()
        else:
            path = Path(state.store.config.online_store.path)
            if not path.exists():
                return False, f"SQLite online store {path} does not exist"
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=STORE_TIMEOUT_S)) as c:
                c.execute("select 1").fetchone()
        problem = online_store_problem(state.store)  # a 0-byte online.db or a flushed Redis answers too
        return (False, problem) if problem else (True, "ok")
    except store_errors() as exc:
        return False, f"{type(exc).__name__}: {exc}"
