"""A tiny serving workspace for the serving tests and the load benchmark: curated tables,
transactional and text-profile feature tables applied and materialized in Feast, and a small
model run trained on seeded synthetic frames with the feature service's column names."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from embeddings.profiles import review_profiles, search_profiles
from embeddings.tags import KIND, profile_tags, prototype_vectors
from feature_repo.names import EXPIRY_VIEW, TAGS_VIEW
from pipelines.features.expiry import event_times, expiry_schedules
from pipelines.storage import feast_store
from pipelines.storage.artifact import save_run
from pipelines.common.config import PowerTierConfig, load_config
from pipelines.storage.files import write_parquet
from pipelines.common.workspace import Workspace
from ranking.model import fit_two_stage
from ranking.params import TrainParams
from ranking.splits import time_split
from ranking.synthetic import synthetic_frame
from pipelines.features.transactional import build_transactional_features
from tests.support.pit_data import TIERS, tricky_tables

DIM = 16
AS_OF = datetime(2026, 3, 1, tzinfo=timezone.utc)
SERVICE = "purchasing_power_v3"
RUN_ID = "test-run"
PARAMS = TrainParams(tiers=tuple(TIERS), trials=0, num_boost_round=30, early_stopping_rounds=5,
                     projection_dims=4, seed=5)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerExited(RuntimeError):
    """The process under test ended before it was ready: waiting longer cannot help."""


def wait_until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> float:
    """Poll ``check`` until it is true (bounded); returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except ServerExited:
            raise
        except Exception:  # noqa: BLE001 - not up yet: connection refused, timeouts, ...
            pass
        time.sleep(step)
    raise TimeoutError(f"{what} not true within {timeout} s")


def fake_vector(text: str, dim: int = DIM) -> np.ndarray:
    """A deterministic unit vector per text (stands in for the sentence encoder)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vec = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vec / np.linalg.norm(vec)


def fake_encoder(texts: list[str], kind: str) -> np.ndarray:
    """Encoder callable of the serving app's signature, backed by :func:`fake_vector`."""
    return np.stack([fake_vector(t) for t in texts]) if texts else np.empty((0, DIM), np.float32)


def profile_table(events: pd.DataFrame, column: str, kind: str, half_life_days: float,
                  dim: int = DIM) -> pd.DataFrame:
    """Batch profile rows of the embedding job (``embeddings.profiles``) over stand-in vectors."""
    vecs = np.stack([fake_vector(t, dim) for t in events[column]]) if len(events) else np.zeros((0, dim), np.float32)
    if kind == "review":
        return review_profiles(events, vecs)
    return search_profiles(events, vecs, half_life_days)


def tag_table(cfg: PowerTierConfig, review: pd.DataFrame, search: pd.DataFrame, dim: int = DIM) -> pd.DataFrame:
    """The embedding job's ``user_profile_tags`` rows over stand-in vectors of the config's phrases."""
    tags = cfg.tags.tags
    owners = [i for i, t in enumerate(tags) for _ in t.phrases]
    protos = {p: prototype_vectors(np.stack([fake_vector(ph, dim) for t in tags for ph in t.phrases]),
                                   owners, len(tags)) for p, kind in KIND.items()}
    return profile_tags(review, search, cfg.tags.names(), protos, [t.sources for t in tags], [t.group for t in tags])


def write_curated(ws: Workspace, tables: dict[str, pd.DataFrame]) -> None:
    """The tricky tables as curated Parquet (contract dtypes)."""
    for name, frame in tables.items():
        out = frame.copy()
        for col in ("user_id", "order_id", "review_id", "search_id", "status", "category", "text", "query", "tier"):
            if col in out:
                out[col] = out[col].astype("string")
        write_parquet(out, ws.curated_table(name))


def train_run(cfg: PowerTierConfig, features: list[str], run_id: str = RUN_ID, dim: int = DIM,
              params: TrainParams = PARAMS, n_users: int = 120) -> Path:
    """Fit a model on synthetic frames named like the service's features; save it as a run."""
    frame = synthetic_frame(n_users=n_users, n_cutoffs=4, dim=dim, seed=3)
    names = [f for f in features if f in frame.columns]
    split = time_split(frame, 0.25, 90, seed=0)
    model = fit_two_stage(split.train, split.valid, params, names, with_linear=False)
    run_dir = Workspace(cfg.data_dir).runs / run_id
    save_run(run_dir, model, {}, pd.DataFrame({"user_id": ["x"]}), "<html></html>", cfg.public_dict(),
             SERVICE, names, {"id": "fake", "dim": dim})
    (run_dir.parent / "latest").symlink_to(run_id)  # as `powertier train` leaves it
    return run_dir


def build_workspace(data_dir: Path, online_store: str = "sqlite", train: bool = True, dim: int = DIM,
                    params: TrainParams = PARAMS, n_users: int = 25, materialize: bool = True) -> PowerTierConfig:
    """Curated tables + feature tables + Feast apply/materialize (+ a model run) in ``data_dir``."""
    cfg = load_config(data_dir=data_dir, tiers=TIERS, online_store=online_store, as_of=AS_OF)
    ws = Workspace(cfg.data_dir)
    tables = tricky_tables(n_users=n_users)
    # Distinct texts, so that profiles differ between users.
    tables["reviews"]["text"] = "great item " + tables["reviews"]["review_id"]
    tables["searches"]["query"] = "red shoes " + tables["searches"]["search_id"]
    write_curated(ws, tables)
    feats = build_transactional_features(tables["users"], tables["orders"], cfg.features.windows_days, TIERS,
                                         tiers=tables["tiers"], reviews=tables["reviews"],
                                         searches=tables["searches"])
    feast_store.write_feature_table(ws, "user_transactions", feats)
    feast_store.write_feature_table(ws, EXPIRY_VIEW, expiry_schedules(feats, event_times(tables),
                                                                      cfg.features.windows_days))
    half_life = cfg.features.search_half_life_days
    review = profile_table(tables["reviews"], "text", "review", half_life, dim)
    search = profile_table(tables["searches"], "query", "search", half_life, dim)
    feast_store.write_feature_table(ws, "user_review_profile", review)
    feast_store.write_feature_table(ws, "user_search_profile", search)
    feast_store.write_feature_table(ws, TAGS_VIEW, tag_table(cfg, review, search, dim))
    store = feast_store.open_store(cfg)
    feast_store.apply(store, cfg)
    if materialize:
        feast_store.materialize(store, cfg, end=AS_OF)
    if train:
        train_run(cfg, feast_store.service_features(store, SERVICE), dim=dim, params=params)
    return cfg


@contextlib.contextmanager
def running_server(cmd: list[str], env: dict[str, str], health_url: str, log: Path, timeout: float = 90.0):
    """Start ``cmd`` (stderr to ``log``), wait (bounded) until ``health_url`` answers 200, and stop it
    with SIGTERM (then SIGKILL) when the block ends. Used by the end-to-end tests and the load bench."""
    import httpx

    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=str(log.parent))
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise ServerExited(f"{cmd[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(health_url, timeout=1.0).status_code == 200
            return False
        wait_until(up, timeout, health_url)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
