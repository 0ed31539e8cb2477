"""Stage 'generate': write a simulated raw directory (users, orders, reviews, searches, tiers).

Thin I/O around the pure :func:`pipelines.simulate.simulator.simulate`; see docs/SIMULATOR.md.
"""

from __future__ import annotations

import os
import tempfile
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.common.cli import ConfigOpt, console, get_config
from pipelines.common.errors import UserError

if TYPE_CHECKING:
    import pandas as pd


class RawFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Atomic CSV write (UTF-8, ISO timestamps with +00:00, '\\n' line ends)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    df.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_raw(tables: dict[str, pd.DataFrame], out: Path, fmt: RawFormat) -> dict[str, Path]:
    """Write each table as ``<out>/<table>.<fmt>``; refuses to leave the other format beside it."""
    from pipelines.storage.files import write_parquet

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    other = "csv" if fmt is RawFormat.parquet else "parquet"
    clash = [out / f"{t}.{other}" for t in tables if (out / f"{t}.{other}").exists()]
    if clash:
        raise UserError(f"{clash[0]} already exists; remove it or pass --format {other} "
                        "(a raw dir must hold one file per table)")
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in tables.items():
        path = out / f"{name}.{fmt.value}"
        paths[name] = write_parquet(df, path) if fmt is RawFormat.parquet else _write_csv(df, path)
    return paths


def generate(
    users: Annotated[int, typer.Option("--users", min=1, help="Number of users.")] = 3000,
    days: Annotated[int, typer.Option("--days", min=1, help="Length of the simulated period.")] = 540,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default: config seed).")] = None,
    out: Annotated[Path | None,
                   typer.Option("--out", help="Raw directory (default: <data_dir>/raw).")] = None,
    start: Annotated[str, typer.Option("--start", help="First instant, UTC (YYYY-MM-DD).")] = "2025-01-01",
    fmt: Annotated[RawFormat,
                   typer.Option("--format", help="File format of the tables.")] = RawFormat.parquet,
    config: ConfigOpt = None,
) -> None:
    """Simulate an e-commerce platform and write its raw tables (same arguments, same bytes)."""
    import pandas as pd
    from rich.table import Table

    from pipelines.simulate.simulator import simulate
    from pipelines.common.workspace import Workspace

    cfg = get_config(config)
    try:
        pd.Timestamp(start)
    except ValueError as exc:
        raise UserError(f"--start {start!r} is not a date (expected YYYY-MM-DD)") from exc
    out_dir = out if out is not None else Workspace(cfg.data_dir).raw
    tables = simulate(users, days, cfg.seed if seed is None else seed, start, list(cfg.tiers))
    paths = write_raw(tables, out_dir, fmt)
    table = Table(title="generated raw tables")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name, df in tables.items():
        table.add_row(name, f"{len(df):,}", paths[name].name)
    console.print(table)
    console.print(f"{users} users x {days} days from {start} written to {out_dir.resolve()}")
