"""Stages ``train``, ``predict`` and ``score``: labels -> Feast retrieval -> fit/evaluate -> run dir;
batch predictions from a run dir; scores written back to Feast as ``user_predictions``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from pipelines.common.cli import ConfigOpt, console, get_config
from pipelines.common.errors import UserError

RunOpt = Annotated[Path | None, typer.Option("--run", help="Run dir (default: <data dir>/runs/latest).")]


def train(cutoffs: Annotated[str | None, typer.Option(help="Comma-separated training cutoffs.")] = None,
          start: Annotated[datetime | None, typer.Option(help="First cutoff.")] = None,
          end: Annotated[datetime | None, typer.Option(help="Last cutoff.")] = None,
          every: Annotated[str, typer.Option(help="Cutoff spacing, e.g. 30d.")] = "30d",
          horizon: Annotated[str | None, typer.Option(help="Prediction horizon H, e.g. 90d.")] = None,
          split: Annotated[str | None, typer.Option(help="time | user")] = None,
          test_fraction: Annotated[float | None, typer.Option(help="Share of cutoffs/users for test.")] = None,
          trials: Annotated[int | None, typer.Option(help="Optuna trials per LightGBM model.")] = None,
          seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
          config: ConfigOpt = None) -> None:
    """Train the two-stage model; prints the run directory as its last line."""
    from pipelines.features.job import parse_days
    from pipelines.train.job import train_run

    if split not in (None, "time", "user"):
        raise UserError("--split must be 'time' or 'user'")
    cfg = get_config(config, seed=seed, horizon_days=parse_days(horizon) if horizon else None,
                     train__split=split, train__test_fraction=test_fraction, train__trials=trials)
    run_dir = train_run(cfg, cutoffs, start, end, parse_days(every), log=console.print)
    print(run_dir)


def predict(entities: Annotated[Path, typer.Option(help="Parquet/CSV with user_id, event_timestamp.")],
            out: Annotated[Path, typer.Option(help="Output Parquet or CSV.")],
            run: RunOpt = None, config: ConfigOpt = None) -> None:
    """Batch predictions with reasons for (user_id, event_timestamp) rows."""
    from pipelines.features.job import read_table, write_table
    from pipelines.train.job import batch_predict

    cfg = get_config(config)
    result = batch_predict(cfg, run, read_table(entities))
    write_table(result, out)
    console.print(f"{len(result):,} predictions -> {out}")


def score(run: RunOpt = None,
          as_of: Annotated[datetime | None, typer.Option("--as-of", help="Scoring time (default: data as-of).")] = None,
          config: ConfigOpt = None) -> None:
    """Score every user active in the last year and publish to the Feast view ``user_predictions``."""
    from pipelines.train.job import score_users

    cfg = get_config(config)
    n, when, run_id = score_users(cfg, run, as_of)
    console.print(f"scored {n:,} users as of {when.isoformat()} with run {run_id}; "
                  f"materialized to the online view user_predictions")
