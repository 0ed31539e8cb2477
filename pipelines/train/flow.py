"""Stage 2 on an already retrieved training frame (pure): split, fit the main model and the
ablations, evaluate on the test split, explain, render the report. ``job.run_training`` saves the
result as a run dir after building the frame (labels + Feast historical retrieval)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ranking import fairness
from pipelines.common.progress import NO_PROGRESS, Progress
from ranking.gate import GateRule, run_verdict
from ranking.evaluation import ablation_plan, evaluate, fit_ablations, importance, prediction_frame, segment_masks
from ranking.dataset import infer_feature_spec
from ranking.gbm import planned_fits
from feature_repo.names import TAG_PREFIX
from ranking.model import TwoStageModel, fit_two_stage, pp_labels, tier_labels
from ranking.metrics import headline
from ranking.params import TrainParams
from pipelines.report.tables import tag_relations
from pipelines.report.training import build_report
from ranking.splits import overlap_warning, split_frame


@dataclass
class TrainedRun:
    """Everything a run dir holds, in memory."""

    model: TwoStageModel
    metrics: dict[str, Any]
    predictions: pd.DataFrame
    report_html: str
    config: dict[str, Any]
    split: dict[str, Any]
    skipped: dict[str, str]
    verdict: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


TRAIN_TASK = "train: retrieve, fit main model, fit ablations, evaluate, report"
TRAIN_STEPS = 5
FITS_TASK = "train: LightGBM fits (Optuna trials of every model)"


def fit_and_evaluate(frame: pd.DataFrame, cfg: Any, run_id: str, feature_names: list[str] | None = None,
                     log: Callable[[str], None] = lambda _msg: None,
                     progress: Progress = NO_PROGRESS) -> TrainedRun:
    """Split, fit the main model and the ablations, evaluate, explain and render the report.

    ``cfg`` is a PowerTierConfig; ``feature_names`` the service's feature list (default: inferred
    from the frame); ``progress`` advances :data:`TRAIN_TASK` once per finished step and
    :data:`FITS_TASK` once per LightGBM fit (each Optuna trial), whose total is an upper bound."""
    params = TrainParams.from_config(cfg)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    split = split_frame(frame, params.split, params.test_fraction, params.horizon_days, params.seed,
                        params.test_cutoffs)
    log(f"split ({split.info['strategy']}): rows {split.info['rows']}, "
        f"gap rows dropped {split.info['dropped_gap_rows']}")
    if split.info.get("valid_label_overlap_days"):
        log(overlap_warning(split.info["valid_label_overlap_days"]))
    progress.start(FITS_TASK, planned_fits(params, len(ablation_plan(infer_feature_spec(frame, feature_names))[0])))
    on_fit = lambda: progress.advance(FITS_TASK)  # noqa: E731
    main = fit_two_stage(split.train, split.valid, params, feature_names, on_fit=on_fit)
    timings["fit_main_s"] = time.perf_counter() - t0  # main.notes_ go to run.json; `train` prints them once
    progress.advance(TRAIN_TASK)
    models, skipped = fit_ablations(split.train, split.valid, params, feature_names, main, on_fit)
    progress.finish(FITS_TASK)
    progress.advance(TRAIN_TASK)
    for fs, why in skipped.items():
        log(f"ablation {fs} skipped: {why}")
    timings["fit_ablations_s"] = time.perf_counter() - t0 - timings["fit_main_s"]
    metrics, preds = evaluate(models, skipped, split.train, split.test, params, main.feature_set)
    metrics["importance"] = importance(main, split.test, params.seed)
    predictions = prediction_frame(split.test, preds, params)
    tags = [c for c in split.test.columns if c.startswith(TAG_PREFIX) and c not in (feature_names or [])]
    if tags:  # profile tags ride along in the frame (not model inputs): their relation to the labels
        tier = tier_labels(split.test, len(params.tiers)) if "tier_next" in split.test else None
        metrics["tags"] = tag_relations(split.test[tags].reset_index(drop=True), pp_labels(split.test), tier,
                                        list(params.tiers))
    progress.advance(TRAIN_TASK)
    verdict = run_verdict(metrics, GateRule.from_config(cfg) if hasattr(cfg, "train") else GateRule()).to_dict()
    metrics["fairness"] = fairness.from_predictions(predictions, params.tiers, segment_masks(split.test, main.spec_),
                                                    cfg.fairness.disparity_ratio, cfg.fairness.min_rows)
    info = report_info(run_id, main.notes_, split.info, list(params.tiers), verdict, hyperparameters(main), frame)
    html = build_report(metrics, predictions, metrics["importance"], info)
    config = cfg.public_dict() if hasattr(cfg, "public_dict") else params.to_dict()
    timings["total_s"] = time.perf_counter() - t0
    progress.advance(TRAIN_TASK)
    return TrainedRun(main, metrics, predictions, html, config, split.info, skipped, verdict, timings)


def report_info(run_id: str, notes: list[str], split: dict, tiers: list[str], verdict: dict,
                hyper: dict[str, dict[str, Any]], frame: pd.DataFrame) -> dict[str, Any]:
    """What the report shows besides metrics and predictions; from a run's ``run.json`` and its
    training frame it is the same, so a later stage can re-render the report with a section added."""
    return {"run_id": run_id, "notes": list(notes), "split": split, "tiers": list(tiers),
            "warnings": verdict["losses"], "gate": verdict, "hyperparameters": hyper,
            "rows_per_cutoff": {pd.Timestamp(c).isoformat(): int(n)
                                for c, n in frame.groupby("event_timestamp").size().items()}}


def run_headline(metrics: dict) -> dict[str, Any]:
    """The main model (LightGBM on the run's feature set) vs persistence on the test split."""
    fs = metrics["main_feature_set"]
    pp, tier = metrics["purchasing_power"], metrics["tier"]
    scored = {"purchasing_power": {"lightgbm": pp["lightgbm"][fs], "persistence": pp["persistence"],
                                   "btyd": pp.get("btyd", {})},
              "tier": {"lightgbm": tier["lightgbm"][fs], "persistence": tier.get("persistence", {})}}
    return {"feature_set": fs, "pp_objective": pp["lightgbm"][fs].get("objective"), **headline(scored)}


def hyperparameters(model: TwoStageModel) -> dict[str, dict[str, Any]]:
    """The tuned parameters and early-stopped iteration of each booster the model keeps."""
    out = {}
    for objective, info in model.pp_info_.items():
        chosen = " (selected)" if objective == model.pp_objective_ else ""
        out[f"purchasing power {objective}{chosen}"] = {**info["params"], "best_iteration": info["best_iteration"]}
    if model.tier_booster_ is not None:
        out["tier"] = {**model.tier_info_["params"], "best_iteration": model.tier_info_["best_iteration"]}
    return out
