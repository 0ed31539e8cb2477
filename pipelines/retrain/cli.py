"""``powertier retrain``: one periodic retraining cycle (for cron or a systemd timer)."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.common.cli import ConfigOpt, get_config
from pipelines.ingest.cli import RawOpt


def retrain(raw: RawOpt = None,
            force: Annotated[bool, typer.Option(help="Train even if nothing changed since the serving run.")] = False,
            config: ConfigOpt = None) -> None:
    """Ingest RAW; when the data or the training settings changed since the serving run, rebuild
    features and embeddings, train (the gate decides the promotion), then score and materialize
    with the serving run. Safe to rerun: with nothing new it stops after ingest. The last line is
    a one-line JSON summary, also kept in DATA_DIR/logs/retrain-last.json and appended to
    DATA_DIR/logs/retrain.jsonl."""
    from pipelines.batch.cli import render
    from pipelines.common.workspace import Workspace
    from pipelines.retrain.job import retrain as run_retrain
    from pipelines.retrain.summary import summary_line

    cfg = get_config(config)
    raw_dir = raw if raw is not None else Workspace(cfg.data_dir).raw
    fields = run_retrain(cfg, raw_dir, force, report=render)
    print(summary_line(fields))
