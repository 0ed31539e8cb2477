"""Command ``powertier generate``: simulate a platform and print what was written."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from pipelines.common.cli import ConfigOpt, console, get_config


class RawFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"


def generate(
    users: Annotated[int, typer.Option("--users", min=1, help="Number of users.")] = 3000,
    days: Annotated[int, typer.Option("--days", min=1, help="Length of the simulated period.")] = 540,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.", show_default="config seed")] = None,
    out: Annotated[Path | None,
                   typer.Option("--out", help="Raw directory.", show_default="<data_dir>/raw")] = None,
    start: Annotated[str, typer.Option("--start", help="First instant, UTC (YYYY-MM-DD).")] = "2025-01-01",
    fmt: Annotated[RawFormat,
                   typer.Option("--format", help="File format of the tables.")] = RawFormat.parquet,
    config: ConfigOpt = None,
) -> None:
    """Simulate an e-commerce platform and write its raw tables (same arguments, same bytes)."""
    from rich.table import Table

    from pipelines.common.times import parse_time
    from pipelines.simulate.job import write_raw
    from pipelines.simulate.simulator import simulate
    from pipelines.common.workspace import Workspace

    cfg = get_config(config)
    parse_time(start, "--start")
    out_dir = out if out is not None else Workspace(cfg.data_dir).raw
    tables = simulate(users, days, cfg.seed if seed is None else seed, start, list(cfg.tiers))
    paths = write_raw(tables, out_dir, fmt.value)
    table = Table(title="generated raw tables")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name, df in tables.items():
        table.add_row(name, f"{len(df):,}", paths[name].name)
    console.print(table)
    console.print(f"{users} users x {days} days from {start} written to {out_dir.resolve()}")
