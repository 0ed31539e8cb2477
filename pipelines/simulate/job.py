"""Stage 'simulate', its I/O: write the simulated raw tables (pure :func:`pipelines.simulate.simulator.simulate`
makes them; see docs/SIMULATOR.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.common.errors import UserError
from pipelines.storage.files import atomic_path, write_parquet


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Atomic CSV write (UTF-8, ISO timestamps with +00:00, '\\n' line ends)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    return path


def write_raw(tables: dict[str, pd.DataFrame], out: Path, fmt: str) -> dict[str, Path]:
    """Write each table as ``<out>/<table>.<fmt>``; refuses to leave the other format beside it."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    other = "csv" if fmt == "parquet" else "parquet"
    clash = [out / f"{t}.{other}" for t in tables if (out / f"{t}.{other}").exists()]
    if clash:
        raise UserError(f"{clash[0]} already exists; remove it or pass --format {other} "
                        "(a raw dir must hold one file per table)")
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in tables.items():
        path = out / f"{name}.{fmt}"
        paths[name] = write_parquet(df, path) if fmt == "parquet" else _write_csv(df, path)
    return paths
