"""Stage 'train', its I/O: training and scoring frames from Feast's point-in-time retrieval, the run
directory, batch predictions and scores written back to Feast.

Features are never recomputed on the side: every model input comes through the model's feature
service. User attributes (e.g. ``region``) are joined only for segment metrics, never as inputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipelines.storage import feast_store
from pipelines.common.progress import NO_PROGRESS, Progress
from pipelines.common.errors import UserError
from pipelines.common.config import PowerTierConfig
from pipelines.storage.curated import load_curated
from pipelines.storage.files import read_json, read_parquet
from pipelines.common.workspace import Workspace
from feature_repo.timestamps import as_utc, ts_column
from pipelines.common.times import parse_cutoffs
from pipelines.features.frames import (
    SERVICE,
    data_as_of,
    default_cutoffs,
    drop_empty_views,
    scoring_frame,
    training_frame,
)

if TYPE_CHECKING:
    from feast import FeatureStore

    from ranking.model import TwoStageModel

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


def run_training(frame: pd.DataFrame, cfg: PowerTierConfig, run_dir: Path, feature_names: list[str] | None = None,
                 feature_service: str | None = None, encoder: dict[str, Any] | None = None,
                 log: Callable[[str], None] = lambda _msg: None,
                 provenance: dict[str, Any] | None = None,
                 progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """Fit and evaluate on ``frame``, save the run dir; returns a summary (notes, headline, timings).
    ``encoder`` e.g. ``{"id": "all-MiniLM-L6-v2", "dim": 384}``; ``provenance`` goes into ``run.json``."""
    from pipelines.storage.artifact import save_run
    from pipelines.train.flow import fit_and_evaluate, run_headline

    run = fit_and_evaluate(frame, cfg, Path(run_dir).name, feature_names, log, progress)
    # Every cutoff with rows (gap cutoffs too): a later stage rebuilds the same frame and split from them.
    cutoffs = [pd.Timestamp(c).isoformat() for c in sorted(frame["event_timestamp"].unique())]
    save_run(run_dir, run.model, run.metrics, run.predictions, run.report_html, run.config, feature_service,
             feature_names or run.model.required_columns(), encoder, run.split, run.verdict,
             {**(provenance or {}), "cutoffs": cutoffs})
    return {"run_dir": str(run_dir), "notes": run.model.notes_, "skipped": run.skipped, "timings": run.timings,
            "headline": run_headline(run.metrics), "verdict": run.verdict}


def train_run(cfg: PowerTierConfig, cutoffs: str | None, start: datetime | None, end: datetime | None,
              every_days: int, log: Callable[[str], None] = print, progress: Progress = NO_PROGRESS) -> Path:
    """labels -> historical retrieval through the feature service -> fit/evaluate/report -> run dir."""
    from pipelines.train.flow import TRAIN_STEPS, TRAIN_TASK

    ws = Workspace(cfg.data_dir)
    store = feast_store.open_store(cfg)
    tables = load_curated(ws)
    if cutoffs or start or end:
        cuts = parse_cutoffs(cutoffs, start, end, every_days)
    else:
        cuts = default_cutoffs(cfg, data_as_of(cfg, tables))
    check_cutoffs(cfg, cuts, tables["users"])  # before any retrieval: seconds, not minutes
    log(f"training cutoffs: {', '.join(c.date().isoformat() for c in cuts)} (horizon {cfg.horizon_days}d)")
    progress.start(TRAIN_TASK, TRAIN_STEPS)
    try:
        frame, features = training_frame(cfg, store, cuts, cfg.horizon_days)
    except LookupError as exc:
        raise UserError(str(exc)) from exc
    if frame.empty:
        raise UserError("no training examples: no user had signed up by the first cutoff")
    if cfg.train.split == "time" and frame["event_timestamp"].nunique() < 2:
        raise UserError("the time split needs training rows at two or more cutoffs, and only one has any; "
                        "use more cutoffs or --split user")
    features, empty_views = drop_empty_views(frame, features)
    check_monotone(cfg, features)
    progress.advance(TRAIN_TASK)
    for view in empty_views:
        log(f"no {view} vectors in any training row (no texts table or none usable): training without them")
    run_dir = new_run_dir(ws, cfg.seed)
    ws.runs.mkdir(parents=True, exist_ok=True)
    from pipelines.runs import job as runs_job
    from pipelines.runs import tracking

    summary = run_training(frame, cfg, run_dir, features, SERVICE, encoder_info(ws), log=log,
                           provenance=runs_job.provenance(ws), progress=progress)
    promote_run(ws, run_dir, summary["verdict"], cfg.train.promote, log)
    if cfg.tracking == "mlflow":
        log(f"mlflow: logged as run {runs_job.track(cfg, run_dir)} in {tracking.store_uri(cfg.data_dir)}")
    return run_dir


def promote_run(ws: Workspace, run_dir: Path, verdict: dict, promote: str, log: Callable[[str], None]) -> bool:
    """Move ``runs/latest`` to ``run_dir`` when ``promote`` and the verdict allow it; say which."""
    from pipelines.runs.job import promote_dir
    from ranking.gate import should_promote

    if should_promote(verdict, promote):
        how = "gate passed" if verdict["passed"] else "--promote always, gate NOT passed"
        promote_dir(ws, run_dir, reason=f"train: {how}")
        log(f"promoted: runs/latest -> {run_dir.name} ({how})")
        return True
    current = ws.runs / "latest"
    kept = current.resolve().name if current.exists() else "none"
    why = "promote=never" if promote == "never" else "gate not passed: " + "; ".join(verdict["reasons"])
    log(f"NOT promoted ({why}); runs/latest stays at {kept}. Use --promote always to override.")
    return False


def resolve_run(cfg: PowerTierConfig, run: Path | None) -> Path:
    """The given run dir, or ``runs/latest``; a clear error if there is none."""
    from pipelines.storage.artifact import resolve_run_dir

    return resolve_run_dir(Workspace(cfg.data_dir).runs, run)


def _predict(model: "TwoStageModel", frame: pd.DataFrame) -> pd.DataFrame:
    out = model.predict(frame)
    for col in ("reasons", "tier_reasons"):
        if col in out:
            out[col] = [json.dumps(r) for r in out[col]]
    return out


def batch_predict(cfg: PowerTierConfig, run: Path | None, entities: pd.DataFrame) -> pd.DataFrame:
    """Predictions for entity rows, features retrieved point-in-time through the run's service."""
    from pipelines.storage.artifact import load_model

    run_dir = resolve_run(cfg, run)
    model = load_model(run_dir)  # first: a corrupt model file fails before any retrieval
    service = read_json(run_dir / "features.json")["feature_service"]
    try:
        frame = feast_store.historical_features(feast_store.open_store(cfg), entities, service)
    except (ValueError, LookupError) as exc:
        raise UserError(str(exc)) from exc
    return _predict(model, frame)


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
    from pipelines.storage.artifact import load_model

    run_dir = resolve_run(cfg, run)
    model = load_model(run_dir)  # first: a corrupt model file fails before any retrieval
    ws = Workspace(cfg.data_dir)
    tables = load_curated(ws)
    when = as_utc(as_of) if as_of else data_as_of(cfg, tables)
    store = feast_store.open_store(cfg)
    frame = scoring_frame(cfg, store, active_users(tables, when), when)
    preds = _predict(model, frame)
    table = prediction_rows(preds, cfg.tiers, run_dir.name, when)
    path = ws.feature_table("user_predictions")
    if path.exists():  # keep earlier scoring times, replace this one
        old = read_parquet(path)
        old = old[old["event_timestamp"] != when].drop(columns=[ts_column("user_predictions")])
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


def check_cutoffs(cfg: PowerTierConfig, cuts: list[pd.Timestamp], users: pd.DataFrame) -> None:
    """The time split needs two cutoffs with signed-up users; say why not in one line (a short
    history: 120 days of data leave one cutoff a horizon before the end)."""
    if cfg.train.split != "time":
        return
    first = users["signup_ts"].min() if len(users) else None
    usable = [c for c in cuts if first is not None and c >= first]
    if len(usable) < 2:
        span = "" if first is None else f" (first signup {first.date()}, last cutoff {max(cuts).date()})"
        raise UserError(f"the time split needs at least two training cutoffs with signed-up users, and "
                        f"{len(usable)} of the {len(cuts)} cutoffs have any{span}: the data are too short for "
                        f"a {cfg.horizon_days}-day horizon; use more days of data, a shorter horizon_days, "
                        "or --split user")


def check_monotone(cfg: PowerTierConfig, features: list[str]) -> None:
    """``train.monotone_increasing`` may name only plain model inputs: the service's features (not
    its text vectors, which enter projected) and the BTYD outputs the model derives. One line,
    before minutes of fitting."""
    from ranking.btyd import OUTPUTS
    from ranking.dataset import EMBEDDING_SUFFIX

    plain = [f for f in features if not f.endswith(EMBEDDING_SUFFIX)]
    unknown = sorted(set(cfg.train.monotone_increasing) - set(plain) - set(OUTPUTS))
    if unknown:
        raise UserError(f"train.monotone_increasing names columns that are not model inputs: {unknown}; "
                        f"allowed: {', '.join(list(OUTPUTS) + plain)}")
