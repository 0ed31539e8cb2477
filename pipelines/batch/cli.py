"""Stage ``pipeline``: the whole batch path on a raw directory, in order, skipping what the data
cannot support and saying so: ingest -> features -> embed -> apply -> materialize -> train -> score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.common.cli import ConfigOpt, console, get_config


def pipeline(raw: Annotated[Path, typer.Option(help="Raw directory in the data contract.")],
             as_of: Annotated[str | None, typer.Option("--as-of", help="Reference time (UTC).")] = None,
             config: ConfigOpt = None) -> None:
    """Run every batch stage on RAW and print where the outputs and the report are."""
    from pipelines.batch.job import run_batch
    from pipelines.ingest.cli import _parse_as_of

    cfg = get_config(config, as_of=_parse_as_of(as_of))
    outputs = run_batch(cfg, raw, log=lambda msg: console.rule(f"[bold]{msg}"))
    console.rule("[bold green]done")
    for name, where in outputs.items():
        console.print(f"{name:>12}: {where}")
