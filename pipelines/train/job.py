"""Orchestration of train / predict / score around the run directory (I/O at the edges)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.storage import feast_store
from pipelines.common.errors import UserError
from pipelines.common.config import PowerTierConfig
from pipelines.storage.curated import load_curated
from pipelines.features.job import parse_cutoffs
from pipelines.storage.files import read_json, read_parquet
from pipelines.train.data import SERVICE, data_as_of, drop_empty_views, default_cutoffs, scoring_frame, training_frame
from pipelines.common.workspace import Workspace
from pipelines.features.labels import as_utc

ACTIVE_DAYS = 365


def encoder_info(ws: Workspace) -> dict | None:
    """Encoder id and dimension recorded by the embed stage (None if it did not run)."""
    path = ws.embeddings / "embed_manifest.json"
    if not path.exists():
        return None
    manifest = read_json(path)
    return {"id": manifest.get("model_id") or manifest.get("model"), "dim": manifest.get("dim")}


def new_run_dir(ws: Workspace, seed: int) -> Path:
    """``runs/<UTC time>-s<seed>`` (unique per second; a clash waits for the next one)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = ws.runs / f"{stamp}-s{seed}"
    suffix = 1
    while path.exists():
        path, suffix = ws.runs / f"{stamp}-s{seed}-{suffix}", suffix + 1
    return path


def point_latest(link: Path, target: Path) -> None:
    """Atomically repoint the ``latest`` symlink at ``target``."""
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target.name)
    os.replace(tmp, link)


def train_run(cfg: PowerTierConfig, cutoffs: str | None, start: datetime | None, end: datetime | None,
              every_days: int, log: Callable[[str], None] = print) -> Path:
    """labels -> historical retrieval through the feature service -> fit/evaluate/report -> run dir."""
    from pipelines.train.flow import run_training
    from pipelines.train.summary import print_ablations

    ws = Workspace(cfg.data_dir)
    store = feast_store.open_store(cfg)
    if cutoffs or start or end:
        cuts = parse_cutoffs(cutoffs, start, end, every_days)
    else:
        cuts = default_cutoffs(cfg, data_as_of(cfg, load_curated(ws)))
    log(f"training cutoffs: {', '.join(c.date().isoformat() for c in cuts)} (horizon {cfg.horizon_days}d)")
    try:
        frame, features = training_frame(cfg, store, cuts, cfg.horizon_days)
    except LookupError as exc:
        raise UserError(str(exc)) from exc
    if frame.empty:
        raise UserError("no training examples: no user had signed up by the first cutoff")
    features, empty_views = drop_empty_views(frame, features)
    for view in empty_views:
        log(f"no {view} vectors in any training row (no texts table or none usable): training without them")
    run_dir = new_run_dir(ws, cfg.seed)
    ws.runs.mkdir(parents=True, exist_ok=True)
    summary = run_training(frame, cfg, run_dir, features, SERVICE, encoder_info(ws), log=log)
    point_latest(ws.runs / "latest", run_dir)
    print_ablations(read_json(run_dir / "metrics.json"), summary)
    log(f"report: {run_dir / 'report.html'}")
    return run_dir


def resolve_run(cfg: PowerTierConfig, run: Path | None) -> Path:
    """The given run dir, or ``runs/latest``; a clear error if there is none."""
    path = Path(run) if run else Workspace(cfg.data_dir).runs / "latest"
    if not (path / "model.json").exists():
        raise UserError(f"no trained run at {path}; run `powertier train` first")
    return path.resolve()


def _predict(cfg: PowerTierConfig, run_dir: Path, frame: pd.DataFrame) -> pd.DataFrame:
    from pipelines.storage.artifact import load_model

    model = load_model(run_dir)
    out = model.predict(frame)
    for col in ("reasons", "tier_reasons"):
        if col in out:
            out[col] = [json.dumps(r) for r in out[col]]
    return out


def batch_predict(cfg: PowerTierConfig, run: Path | None, entities: pd.DataFrame) -> pd.DataFrame:
    """Predictions for entity rows, features retrieved point-in-time through the run's service."""
    run_dir = resolve_run(cfg, run)
    service = read_json(run_dir / "features.json")["feature_service"]
    try:
        frame = feast_store.historical_features(feast_store.open_store(cfg), entities, service)
    except (ValueError, LookupError) as exc:
        raise UserError(str(exc)) from exc
    return _predict(cfg, run_dir, frame)


def active_users(tables: dict, as_of: pd.Timestamp) -> list[str]:
    """Users with any order, review or search in (as_of - 365 d, as_of]."""
    lo = as_of - pd.Timedelta(days=ACTIVE_DAYS)
    ids: set[str] = set()
    for name in ("orders", "reviews", "searches"):
        t = tables.get(name)
        if t is not None:
            ids |= set(t.loc[(t["ts"] > lo) & (t["ts"] <= as_of), "user_id"].astype(str))
    return sorted(ids)


def score_users(cfg: PowerTierConfig, run: Path | None, as_of: datetime | None) -> tuple[int, pd.Timestamp, str]:
    """Score active users at ``as_of`` and publish them to ``user_predictions`` (offline + online)."""
    run_dir = resolve_run(cfg, run)
    ws = Workspace(cfg.data_dir)
    tables = load_curated(ws)
    when = as_utc(as_of) if as_of else data_as_of(cfg, tables)
    store = feast_store.open_store(cfg)
    frame = scoring_frame(cfg, store, active_users(tables, when), when)
    preds = _predict(cfg, run_dir, frame)
    table = prediction_rows(preds, cfg.tiers, run_dir.name, when)
    path = ws.feature_table("user_predictions")
    if path.exists():  # keep earlier scoring times, replace this one
        old = read_parquet(path)
        old = old[old["event_timestamp"] != when].drop(columns=[feast_store.feature_ts_column("user_predictions")])
        table = pd.concat([old, table], ignore_index=True)
    feast_store.write_feature_table(ws, "user_predictions", table)
    feast_store.apply(store, cfg)
    feast_store.materialize(store, cfg, end=max(when.to_pydatetime(), datetime.now(timezone.utc)),
                            views=["user_predictions"])
    return len(preds), when, run_dir.name


def prediction_rows(preds: pd.DataFrame, tiers: list[str], run_id: str, when: pd.Timestamp) -> pd.DataFrame:
    """Rows of the ``user_predictions`` view (tier columns null when the run has no tier model)."""
    out = pd.DataFrame({"user_id": preds["user_id"].astype(str), "event_timestamp": when,
                        "purchasing_power": preds["purchasing_power"].astype(float), "run_id": run_id})
    has_tier = "tier" in preds
    out["tier"] = preds["tier"].astype(object) if has_tier else None
    out["tier_index"] = pd.array(preds["tier_index"] if has_tier else [None] * len(preds), dtype="Int64")
    for name in tiers:
        col = f"tier_proba_{name}"
        out[col] = preds[col].astype(float) if col in preds else np.nan
    return out
