"""Point-in-time backtest: at each cutoff c, fit with the ``train`` pipeline's fitting code on
examples whose label windows closed by c, score every user signed up by c, and compare with what
happened in (c, c + H].

Every (user, cutoff) row any cutoff needs is retrieved from Feast in ONE historical retrieval up
front and then sliced per cutoff; nothing is recomputed per cutoff. Leak guards run before each fit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipelines.common.errors import UserError
from pipelines.common.progress import NO_PROGRESS, Progress
from pipelines.common.config import PowerTierConfig
from pipelines.common.ray_engine import map_tasks
from pipelines.storage.curated import load_curated
from feature_repo.timestamps import TS_SUFFIX
from pipelines.storage.files import atomic_dir, point_link, read_json, write_json, write_parquet, write_text
from pipelines.features.frames import data_as_of, drop_empty_views, training_frame
from pipelines.common.workspace import Workspace
from pipelines.report.backtest import build_backtest_report
from ranking import btyd, fairness
from pipelines.backtest.drift import psi, psi_frame, retrain_reasons
from pipelines.backtest.verdicts import cutoff_verdict, plain_losses
from ranking.evaluation import (btyd_baselines, fallback_tier, model_predictions, persistence_predictions,
                                prediction_frame, score, segment_masks)
from pipelines.common.times import cutoff_range
from pipelines.backtest.leak_guard import (LeakageError, check_encoder_labels, check_feature_timestamps,
                                          check_label_availability, feature_ts_columns)
from ranking.gate import GateRule
from ranking.model import TwoStageModel, fit_two_stage
from ranking.metrics import headline
from ranking.params import TrainParams

if TYPE_CHECKING:
    from feast import FeatureStore

DRIFT_ROWS = 50_000


@dataclass(frozen=True)
class BacktestPlan:
    """Backtest cutoffs and, for each, the training cutoffs c − H − k·every (k = 0..n−1)."""

    cutoffs: tuple[pd.Timestamp, ...]
    horizon_days: int
    train_every_days: int
    n_train_cutoffs: int

    def training_cutoffs(self, cutoff: pd.Timestamp) -> list[pd.Timestamp]:
        """Oldest first; the newest one's label window (c − H, c] closes exactly at c."""
        last = cutoff - pd.Timedelta(days=self.horizon_days)
        return [last - pd.Timedelta(days=self.train_every_days * k) for k in range(self.n_train_cutoffs - 1, -1, -1)]

    def all_cutoffs(self) -> list[pd.Timestamp]:
        """Every cutoff whose (user, cutoff) rows some backtest cutoff needs, deduplicated."""
        return sorted(set(self.cutoffs).union(*(self.training_cutoffs(c) for c in self.cutoffs)))


@dataclass
class CutoffResult:
    """What one cutoff produced."""

    summary: dict[str, Any]
    results: pd.DataFrame
    predictions: pd.DataFrame
    drift: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def plan_backtest(cfg: PowerTierConfig, start: pd.Timestamp, end: pd.Timestamp, every_days: int,
                  data_end: pd.Timestamp) -> BacktestPlan:
    """Cutoffs start, start + every, ... <= end; each outcome window must have closed by ``data_end``."""
    if end < start:
        raise UserError(f"--end {end.isoformat()} is before --start {start.isoformat()}")
    cutoffs = cutoff_range(start, end, every_days)
    horizon = pd.Timedelta(days=cfg.horizon_days)
    late = [c for c in cutoffs if c + horizon > data_end]
    if late:
        raise UserError(f"cutoff {late[0].isoformat()}: its outcome window (c, c + {cfg.horizon_days}d] ends after "
                        f"the data ({data_end.isoformat()}); the last cutoff that can be evaluated is "
                        f"{(data_end - horizon).isoformat()}")
    return BacktestPlan(tuple(cutoffs), cfg.horizon_days, cfg.train.every_days, cfg.train.n_cutoffs)


def retrieve(cfg: PowerTierConfig, store: "FeatureStore", plan: BacktestPlan) -> tuple[pd.DataFrame, list[str]]:
    """Labels + features of every (user, cutoff) row of the plan: one label build, ONE retrieval."""
    try:
        return training_frame(cfg, store, plan.all_cutoffs(), plan.horizon_days)
    except LookupError as exc:
        raise UserError(str(exc)) from exc


def train_valid(pool: pd.DataFrame, params: TrainParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validation as in the train pipeline's time split: the latest training cutoff, or a seeded
    share of users when only one training cutoff has rows."""
    ts = pool["event_timestamp"]
    if ts.nunique() >= 2:
        latest = ts == ts.max()
        return pool[~latest].reset_index(drop=True), pool[latest].reset_index(drop=True)
    users = np.sort(pool["user_id"].astype(str).unique())
    if len(users) < 2:
        raise UserError("too few training users to carve a validation share; start the backtest later")
    n = min(max(1, round(params.test_fraction * len(users))), len(users) - 1)
    chosen = pool["user_id"].astype(str).isin(set(np.random.default_rng(params.seed).permutation(users)[:n]))
    return pool[~chosen].reset_index(drop=True), pool[chosen].reset_index(drop=True)


def guard(pool: pd.DataFrame, scored: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    """Both leak guards; raise :class:`pipelines.backtest.leak_guard.LeakageError` naming the offending rows."""
    try:
        check_label_availability(pool, cutoff)
        for part in (pool, scored):
            check_feature_timestamps(part, feature_ts_columns(part.columns, TS_SUFFIX))
    except LeakageError as exc:
        raise LeakageError(f"backtest cutoff {cutoff.isoformat()}: {exc}") from exc


def _scalars(metrics: dict, prefix: str = "") -> list[tuple[str, float]]:
    """Numeric leaves of a metrics dict as (dotted name, value); lists (confusion) are left out."""
    out = []
    for name, value in metrics.items():
        if isinstance(value, dict):
            out += _scalars(value, f"{prefix}{name}.")
        elif value is None or isinstance(value, (int, float)):
            out.append((f"{prefix}{name}", np.nan if value is None else float(value)))
    return out


def metric_rows(cutoff: pd.Timestamp, scored: dict, feature_set: str) -> pd.DataFrame:
    """One row per target × model × metric (persistence and the BTYD baselines have no feature set)."""
    rows = [{"cutoff": cutoff, "target": target, "model": kind, "metric": name, "value": value,
             "feature_set": "" if kind == "persistence" or btyd.is_baseline(kind) else feature_set}
            for target, kinds in scored.items() for kind, m in kinds.items() if "skipped" not in m
            for name, value in _scalars(m)]
    return pd.DataFrame(rows, columns=["cutoff", "target", "model", "feature_set", "metric", "value"])


# Inputs that grow with the calendar for every user (a young, growing user base shifts them at
# every cutoff): reported and flagged, but not a reason to retrain on their own.
# The season of the request time moves with the calendar alone (the scored cutoff is H days after the
# newest training cutoff, so its season always differs): the same.
AGEING_INPUTS = ("tenure_days", "lifetime_spend", "lifetime_orders", "season_sin", "season_cos")


def drift_rows(model: TwoStageModel, pool: pd.DataFrame, Z: pd.DataFrame, preds: dict) -> pd.DataFrame:
    """PSI of every model input (design column) and of the predictions, training rows vs scored rows.

    The training side is the rows of the newest training cutoff (c - H): older cutoffs differ from
    the scored population by construction (tenure, lifetime totals grow), which made every cutoff
    look drifted. It is a seeded sample of at most ``DRIFT_ROWS`` rows: decile shares are exact
    to well under a percent at that size, and predicting on every training row dominated the cost."""
    pool = pool[pool["event_timestamp"] == pool["event_timestamp"].max()]
    if len(pool) > DRIFT_ROWS:
        pool = pool.iloc[np.sort(np.random.default_rng(model.params.seed).choice(len(pool), DRIFT_ROWS, False))]
    Z_pool = model.design(pool)
    feats = psi_frame(Z_pool, Z)
    rows = [{"column": c, "kind": "feature", "psi": v} for c, v in feats.items()]
    rows.append({"column": "purchasing_power_pred", "kind": "prediction",
                 "psi": psi(model.predict_pp_z(Z_pool), preds["purchasing_power"]["lightgbm"])})
    if "lightgbm" in preds["tier"]:
        levels = np.arange(len(model.params.tiers))
        rows.append({"column": "tier_expected_index", "kind": "prediction",
                     "psi": psi(model.predict_tier_proba_z(Z_pool) @ levels, preds["tier"]["lightgbm"] @ levels)})
    return pd.DataFrame(rows, columns=["column", "kind", "psi"])


def _cutoff_task(cutoff: pd.Timestamp, frame: pd.DataFrame, plan: BacktestPlan, params: TrainParams,
                 feature_names: list[str], psi_threshold: float, fair: Any = None,
                 rule: GateRule = GateRule()) -> CutoffResult:
    """:func:`run_cutoff` with the cutoff first: the unit of work of one (Ray) task."""
    return run_cutoff(frame, plan, cutoff, params, feature_names, psi_threshold, fair, rule)


def run_cutoff(frame: pd.DataFrame, plan: BacktestPlan, cutoff: pd.Timestamp, params: TrainParams,
               feature_names: list[str], psi_threshold: float, fair: Any = None,
               rule: GateRule = GateRule()) -> CutoffResult:
    """Guard, fit, score and measure drift at one cutoff, from the already retrieved ``frame``; the
    main spend model's verdict against the baselines by ``rule`` (``train``'s gate) in the summary."""
    ts = frame["event_timestamp"]
    pool = frame[ts.isin(plan.training_cutoffs(cutoff))].reset_index(drop=True)
    scored = frame[ts == cutoff].reset_index(drop=True)
    if pool.empty or scored.empty:
        raise UserError(f"cutoff {cutoff.isoformat()}: {len(pool)} training examples and {len(scored)} users to "
                        "score; start the backtest later (training needs labelled history before the cutoff)")
    guard(pool, scored, cutoff)
    t0 = time.perf_counter()
    names, empty_views = drop_empty_views(pool, feature_names)  # as `train` does on its training frame
    train, valid = train_valid(pool, params)
    model = fit_two_stage(train, valid, params, names)
    fit_s = time.perf_counter() - t0
    Z = model.design(scored)
    preds = model_predictions(model, Z)
    for target, p in persistence_predictions(scored, params, fallback_tier(train, params)).items():
        preds[target]["persistence"] = p
    preds["purchasing_power"].update(btyd_baselines({model.feature_set: model}, model.feature_set, scored, params))
    metrics = score(preds, scored, params)
    drift = drift_rows(model, pool, Z, preds).assign(cutoff=cutoff)
    summary = _summary(cutoff, pool, scored, metrics, drift, psi_threshold)
    judged = cutoff_verdict(metrics["purchasing_power"], model.feature_set, rule)
    summary.update(fit_s=fit_s, score_s=time.perf_counter() - t0 - fit_s, feature_set=model.feature_set,
                   dropped_views=empty_views, verdict=judged,
                   pp_mean_ratio=None if judged is None else judged["mean_ratio"])  # a column of the tables
    predictions = prediction_frame(scored, preds, params)
    if fair is not None:  # calibration and error per segment of the scored users (their realised outcomes)
        summary["fairness"] = fairness.from_predictions(predictions, params.tiers, segment_masks(scored, model.spec_),
                                                        fair.disparity_ratio, fair.min_rows)
    predictions = predictions.rename(columns={"event_timestamp": "cutoff"})
    predictions = predictions[["cutoff", *predictions.columns.drop("cutoff")]]
    return CutoffResult(summary, metric_rows(cutoff, metrics, model.feature_set), predictions, drift, model.notes_)


def _summary(cutoff: pd.Timestamp, pool: pd.DataFrame, scored: pd.DataFrame, metrics: dict,
             drift: pd.DataFrame, psi_threshold: float) -> dict[str, Any]:
    """Counts, headline metrics and drift of one cutoff."""
    feats = drift[drift["kind"] == "feature"].dropna(subset=["psi"])
    signal = feats[~feats["column"].isin(AGEING_INPUTS)]
    top = signal.iloc[0] if len(signal) else None
    return {"cutoff": cutoff.isoformat(), "n_train": int(len(pool)), "n_train_users": int(pool["user_id"].nunique()),
            "n_train_cutoffs": int(pool["event_timestamp"].nunique()), "n_scored": int(len(scored)),
            **headline(metrics),
            "max_feature": None if top is None else str(top["column"]),
            "max_feature_psi": None if top is None else float(top["psi"]),
            "flagged_features": feats.loc[feats["psi"] > psi_threshold, "column"].astype(str).tolist(),
            "prediction_psi": _finite(drift.loc[drift["kind"] == "prediction", "psi"].max())}


def _finite(value: float) -> float | None:
    """JSON-safe: NaN (e.g. PSI of an empty sample) becomes None."""
    return float(value) if np.isfinite(value) else None


def _embed_manifest(ws: Workspace) -> dict[str, Any]:
    """What the embed stage recorded about the encoder behind the stored vectors ({} if none)."""
    path = ws.embeddings / "embed_manifest.json"
    return read_json(path) if path.exists() else {}


def run_backtest(cfg: PowerTierConfig, store: "FeatureStore", start: pd.Timestamp, end: pd.Timestamp,
                 every_days: int, log: Callable[[str], None] = lambda _m: None,
                 progress: Progress = NO_PROGRESS) -> dict[str, Any]:
    """The whole backtest in memory: results, predictions, drift, per-cutoff summaries, timings."""
    t0 = time.perf_counter()
    plan = plan_backtest(cfg, start, end, every_days, data_as_of(cfg, load_curated(Workspace(cfg.data_dir))))
    embedded = _embed_manifest(Workspace(cfg.data_dir))
    check_encoder_labels(embedded.get("encoder_label_end"), min(plan.cutoffs), embedded.get("model", "the encoder"))
    log(f"{len(plan.cutoffs)} cutoffs; retrieving {len(plan.all_cutoffs())} cutoffs' rows in one retrieval")
    progress.start("backtest: point-in-time retrieval")
    frame, names = retrieve(cfg, store, plan)
    progress.finish("backtest: point-in-time retrieval")
    progress.start("backtest: cutoffs (train, score, evaluate)", len(plan.cutoffs))
    retrieval_s = time.perf_counter() - t0
    params, rule = TrainParams.from_config(cfg), GateRule.from_config(cfg)
    # Each cutoff is independent given the one retrieved frame: Ray tasks under engine: ray
    # (the frame goes to the object store once), in order here otherwise; same results either way.
    parts = map_tasks(cfg, _cutoff_task, list(plan.cutoffs), frame, plan, params, names, cfg.backtest.psi_threshold,
                      cfg.fairness, rule)
    for part in parts:
        s = part.summary
        if s["dropped_views"]:  # counts and times per cutoff are in the summary table
            log(f"{s['cutoff']}: no vectors for {', '.join(s['dropped_views'])}; trained without them")
        progress.advance("backtest: cutoffs (train, score, evaluate)")
    summaries = advise([p.summary for p in parts], cfg.backtest.psi_threshold, cfg.backtest.metric_drop)
    timings = {"retrieval_s": retrieval_s, "fit_s": sum(s["fit_s"] for s in summaries),
               "score_s": sum(s["score_s"] for s in summaries), "total_s": time.perf_counter() - t0}
    return {"plan": plan, "summaries": summaries, "timings": timings, "entity_rows": int(len(frame)),
            "results": pd.concat([p.results for p in parts], ignore_index=True),
            "predictions": pd.concat([p.predictions for p in parts], ignore_index=True),
            "drift": pd.concat([p.drift for p in parts], ignore_index=True), "notes": parts[-1].notes,
            "rule": rule.describe(),
            "losses": plain_losses([s["cutoff"] for s in summaries], [s["verdict"] for s in summaries], rule)}


def advise(summaries: list[dict[str, Any]], psi_threshold: float, metric_drop: float) -> list[dict[str, Any]]:
    """Add ``retrain`` (reasons) to each cutoff's summary; the first cutoff is the reference."""
    return [{**s, "retrain": retrain_reasons(s, summaries[0], psi_threshold, metric_drop)} for s in summaries]


def new_backtest_id(ws: Workspace) -> str:
    """``bt-<UTC time>``, with a counter if two backtests start within the same second."""
    base = f"bt-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%SZ}"
    n, name = 1, base
    while (ws.backtests / name).exists():
        n, name = n + 1, f"{base}-{n + 1}"
    return name


def save_backtest(cfg: PowerTierConfig, out: dict[str, Any], args: dict[str, Any]) -> Path:
    """Write ``<data dir>/backtests/<id>/`` atomically and point ``backtests/latest`` at it."""
    ws = Workspace(cfg.data_dir)
    bt_id = new_backtest_id(ws)
    final = ws.backtests / bt_id
    with atomic_dir(final) as tmp:
        for name in ("results", "predictions", "drift"):
            write_parquet(out[name], tmp / f"{name}.parquet")
        write_json(cfg.public_dict(), tmp / "config.json")
        info = {"id": bt_id, "created_at": pd.Timestamp.now(tz="UTC").isoformat(), "args": args,
                "cutoffs": [c.isoformat() for c in out["plan"].cutoffs], "entity_rows": out["entity_rows"],
                "summaries": out["summaries"], "timings": out["timings"], "notes": out["notes"],
                "rule": out["rule"], "losses": out["losses"],
                "psi_threshold": cfg.backtest.psi_threshold, "metric_drop": cfg.backtest.metric_drop,
                "ageing_inputs": list(AGEING_INPUTS)}
        write_json(info, tmp / "backtest.json")
        html = build_backtest_report(out["results"], pd.DataFrame(out["summaries"]), out["drift"], info)
        write_text(html, tmp / "report.html")
    point_link(ws.backtests / "latest", final)
    return final
