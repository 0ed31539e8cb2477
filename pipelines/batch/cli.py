"""Command ``powertier pipeline``: the whole batch path on a raw directory, in order, skipping what
the data cannot support and saying so: ingest -> features -> embed -> apply -> materialize ->
train -> score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.common.cli import ConfigOpt, console, get_config, progress_display


def render(kind: str, payload: Any) -> None:
    """Show one event of the batch job (and of `retrain`, which reports the same kinds)."""
    from pipelines.embed.cli import print_summary as print_embed
    from pipelines.ingest.cli import print_summary as print_ingest
    from pipelines.train.cli import print_run

    if kind == "step":
        console.rule(f"[bold]{payload}")
    elif kind == "ingest":
        print_ingest(*payload)
    elif kind == "embed":
        print_embed(payload)
    elif kind == "run":
        print_run(payload)
    elif kind == "skip":
        console.print(f"[yellow]skipping {payload}[/]")
    else:
        console.print(payload)


def pipeline(raw: Annotated[Path, typer.Option(help="Raw directory in the data contract.")],
             as_of: Annotated[str | None, typer.Option("--as-of", help="Reference time (ISO, UTC if naive).",
                                                       show_default="as_of, else the latest raw event")] = None,
             config: ConfigOpt = None) -> None:
    """Run every batch stage on RAW and print where the outputs and the report are."""
    from pipelines.batch.job import run_batch
    from pipelines.common.times import parse_as_of

    cfg = get_config(config, as_of=parse_as_of(as_of))
    with progress_display() as progress:
        outputs = run_batch(cfg, raw, report=render, progress=progress)
    console.rule("[bold green]done")
    for name, where in outputs.items():
        console.print(f"{name:>12}: {where}")
