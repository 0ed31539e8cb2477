"""The whole batch path, in order, on one workspace; each stage only reads what the previous one
wrote (curated Parquet, feature tables, the Feast registry, the run dir). Nothing here prints:
every step and result goes to the ``report`` callback, which the CLI renders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.common.config import PowerTierConfig
from pipelines.common.errors import UserError
from pipelines.common.progress import NO_PROGRESS, Progress
from pipelines.common.workspace import Workspace
from pipelines.storage import feast_store
from pipelines.storage.curated import load_curated

# report(kind, payload): kind is "step" (payload: its name), "ingest" ((manifest, workspace)),
# "embed" (its manifest), "run" (the trained run dir), "note" (a sentence), "skip" (why a step was skipped) or "train" (a log line).
Report = Callable[[str, Any], None]


STEPS = ("ingest", "features build", "embed", "features apply + materialize", "train", "score")
PIPELINE_TASK = "pipeline: " + " -> ".join(STEPS)


def run_batch(cfg: PowerTierConfig, raw: Path, report: Report, progress: Progress = NO_PROGRESS) -> dict[str, str]:
    """ingest -> features -> embed -> apply -> materialize -> train -> score; returns output paths.
    ``progress`` gets one task for the whole path (a step each) plus each step's own tasks."""
    from pipelines.ingest.job import run_ingest

    ws = Workspace(cfg.data_dir)
    progress.start(PIPELINE_TASK, len(STEPS))
    report = _counting_steps(report, progress)
    report("step", "ingest")
    report("ingest", (run_ingest(cfg, raw), ws))
    cfg = rebuild_features(cfg, report, progress)
    outputs = {"curated": str(ws.curated / "manifest.json"), "features": str(ws.features),
               "feast": str(ws.feast / "feature_store.yaml")}
    outputs.update(_train_and_score(cfg, report, progress))
    progress.finish(PIPELINE_TASK)
    return outputs


def _counting_steps(report: Report, progress: Progress) -> Report:
    """``report`` that also counts each finished step on the pipeline task (a step ends when the next starts)."""
    started: list[str] = []

    def counted(kind: str, payload: Any) -> None:
        if kind == "step":
            if started:
                progress.advance(PIPELINE_TASK)
            started.append(payload)
        report(kind, payload)
    return counted


def rebuild_features(cfg: PowerTierConfig, report: Report, progress: Progress = NO_PROGRESS) -> PowerTierConfig:
    """features -> embed -> apply -> materialize on the curated data (shared by ``pipeline`` and
    ``retrain``); returns ``cfg`` with ``as_of`` fixed to the data's, so train and score agree."""
    from pipelines.features.job import build_transactions
    from pipelines.features.frames import data_as_of

    tables = load_curated(Workspace(cfg.data_dir))
    cfg = cfg.model_copy(update={"as_of": data_as_of(cfg, tables).to_pydatetime()})
    report("step", "features build")
    rows, _ = build_transactions(cfg)
    report("note", f"user_transactions: {rows:,} rows")
    report("step", "embed")
    _embed_or_skip(cfg, tables, report, progress)
    report("step", "features apply + materialize")
    store = feast_store.open_store(cfg)
    feast_store.apply(store, cfg)
    feast_store.materialize(store, cfg, end=cfg.as_of, progress=progress)
    return cfg


def _embed_or_skip(cfg: PowerTierConfig, tables: dict, report: Report, progress: Progress) -> None:
    """Embed review/search texts, or say why not (the text views then stay empty: nulls)."""
    from pipelines.embed.job import run_embed

    if tables.get("reviews") is None and tables.get("searches") is None:
        report("skip", "embed: no reviews or searches table; the model will use Y only")
        feast_store.ensure_tables(cfg)
        return
    report("embed", run_embed(cfg, progress=progress))


def _train_and_score(cfg: PowerTierConfig, report: Report, progress: Progress) -> dict[str, str]:
    """Train on default cutoffs and score active users, or say why the data cannot support it."""
    from pipelines.train.job import score_users, train_run

    report("step", "train")
    try:
        run_dir = train_run(cfg, None, None, None, cfg.train.every_days, log=lambda line: report("train", line),
                            progress=progress)
    except UserError as exc:
        report("skip", f"train and score: {exc}")
        return {}
    report("run", run_dir)
    outputs = {"run": str(run_dir), "report": str(run_dir / "report.html"), "metrics": str(run_dir / "metrics.json")}
    if not (Workspace(cfg.data_dir).runs / "latest").exists():  # the gate refused it, none promoted before
        report("skip", "score: no promoted run (runs/latest); see the gate above")
        return outputs
    report("step", "score")
    n, when, run_id = score_users(cfg, None, cfg.as_of)
    report("note", f"scored {n:,} active users as of {when.isoformat()} with run {run_id} -> Feast view user_predictions")
    return outputs
