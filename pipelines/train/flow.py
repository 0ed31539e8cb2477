"""Orchestration of stage 2 on an already retrieved training frame: split, fit the main model and
the ablations, evaluate on the test split, explain, report, save the run dir. The ``train`` CLI
command wraps this after building the frame (labels + Feast historical retrieval)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.storage.artifact import save_run
from ranking.evaluation import evaluate, fit_ablations, importance, prediction_frame
from ranking.model import fit_two_stage
from ranking.params import TrainParams
from pipelines.report.training import build_report
from ranking.splits import split_frame


def run_training(frame: pd.DataFrame, cfg: Any, run_dir: Path, feature_names: list[str] | None = None,
                 feature_service: str | None = None, encoder: dict[str, Any] | None = None,
                 log: Callable[[str], None] = lambda _msg: None) -> dict[str, Any]:
    """Train, evaluate and save one run; returns a summary (run dir, notes, headline metrics, timings).

    ``cfg`` is a PowerTierConfig; ``feature_names`` the service's feature list (default: inferred
    from the frame); ``encoder`` e.g. ``{"id": "all-MiniLM-L6-v2", "dim": 384}``."""
    params = TrainParams.from_config(cfg)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    split = split_frame(frame, params.split, params.test_fraction, params.horizon_days, params.seed)
    log(f"split ({split.info['strategy']}): rows {split.info['rows']}, "
        f"gap rows dropped {split.info['dropped_gap_rows']}")
    main = fit_two_stage(split.train, split.valid, params, feature_names)
    timings["fit_main_s"] = time.perf_counter() - t0
    for note in main.notes_:
        log(note)
    models, skipped = fit_ablations(split.train, split.valid, params, feature_names, main)
    for fs, why in skipped.items():
        log(f"ablation {fs} skipped: {why}")
    timings["fit_ablations_s"] = time.perf_counter() - t0 - timings["fit_main_s"]
    metrics, preds = evaluate(models, skipped, split.train, split.test, params, main.feature_set)
    metrics["importance"] = importance(main, split.test, params.seed)
    predictions = prediction_frame(split.test, preds, params)
    info = {"run_id": Path(run_dir).name, "notes": main.notes_, "split": split.info, "tiers": list(params.tiers)}
    html = build_report(metrics, predictions, metrics["importance"], info)
    config = cfg.public_dict() if hasattr(cfg, "public_dict") else params.to_dict()
    save_run(run_dir, main, metrics, predictions, html, config, feature_service,
             feature_names or main.required_columns(), encoder, split.info)
    timings["total_s"] = time.perf_counter() - t0
    return {"run_dir": str(run_dir), "notes": main.notes_, "skipped": skipped, "timings": timings,
            "headline": headline(metrics)}


def headline(metrics: dict) -> dict[str, Any]:
    """The few numbers a CLI prints: main LightGBM model vs persistence on the test split."""
    fs = metrics["main_feature_set"]
    pp, tier = metrics["purchasing_power"], metrics["tier"]
    return {
        "feature_set": fs,
        "pp_objective": pp["lightgbm"][fs].get("objective"),
        "pp_gini": pp["lightgbm"][fs].get("gini"), "pp_gini_persistence": pp["persistence"].get("gini"),
        "pp_rmse": pp["lightgbm"][fs].get("rmse"), "pp_rmse_persistence": pp["persistence"].get("rmse"),
        "tier_qwk": tier["lightgbm"][fs].get("qwk"), "tier_qwk_persistence": tier.get("persistence", {}).get("qwk"),
    }
