"""The whole batch path, in order, on one workspace; each stage only reads what the previous one
wrote (curated Parquet, feature tables, the Feast registry, the run dir)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipelines.storage import feast_store
from pipelines.common.cli import console
from pipelines.common.errors import UserError
from pipelines.common.config import PowerTierConfig
from pipelines.storage.curated import load_curated
from pipelines.common.workspace import Workspace


def run_batch(cfg: PowerTierConfig, raw: Path, log: Callable[[str], None]) -> dict[str, str]:
    """ingest -> features -> embed -> apply -> materialize -> train -> score; returns output paths."""
    from pipelines.features.job import build_transactions
    from pipelines.ingest.cli import print_summary, run_ingest
    from pipelines.train.data import data_as_of

    ws = Workspace(cfg.data_dir)
    log("ingest")
    print_summary(run_ingest(cfg, raw), ws)
    tables = load_curated(ws)
    cfg = cfg.model_copy(update={"as_of": data_as_of(cfg, tables).to_pydatetime()})
    log("features build")
    rows, _ = build_transactions(cfg)
    console.print(f"user_transactions: {rows:,} rows")
    log("embed")
    _embed_or_skip(cfg, tables)
    log("features apply + materialize")
    store = feast_store.open_store(cfg)
    feast_store.apply(store, cfg)
    feast_store.materialize(store, cfg, end=cfg.as_of)
    outputs = {"curated": str(ws.curated / "manifest.json"), "features": str(ws.features),
               "feast": str(ws.feast / "feature_store.yaml")}
    outputs.update(_train_and_score(cfg, log))
    return outputs


def _embed_or_skip(cfg: PowerTierConfig, tables: dict) -> None:
    """Embed review/search texts, or say why not (the text views then stay empty: nulls)."""
    from pipelines.embed.cli import run_embed

    if tables.get("reviews") is None and tables.get("searches") is None:
        console.print("[yellow]skipping embed: no reviews or searches table; the model will use Y only[/]")
        feast_store.ensure_tables(cfg)
        return
    run_embed(cfg)


def _train_and_score(cfg: PowerTierConfig, log: Callable[[str], None]) -> dict[str, str]:
    """Train on default cutoffs and score active users, or say why the data cannot support it."""
    from pipelines.train.job import score_users, train_run

    log("train")
    try:
        run_dir = train_run(cfg, None, None, None, cfg.train.every_days, log=console.print)
    except UserError as exc:
        console.print(f"[yellow]skipping train and score: {exc}[/]")
        return {}
    log("score")
    n, when, _ = score_users(cfg, run_dir, cfg.as_of)
    console.print(f"scored {n:,} active users as of {when.isoformat()} -> Feast view user_predictions")
    return {"run": str(run_dir), "report": str(run_dir / "report.html"), "metrics": str(run_dir / "metrics.json")}
