"""Thin Parquet/JSON I/O shared by every stage. All timestamps are written as microsecond UTC
(Feast's DuckDB offline store fails on nanosecond tz-aware timestamps with duckdb 2.x)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

TS_DTYPE = "datetime64[us, UTC]"


def to_utc_us(values: Any) -> pd.Series:
    """Parse anything timestamp-like to microsecond UTC (naive values are taken as UTC)."""
    ts = pd.to_datetime(values, utc=True, errors="raise", format="mixed")
    return ts.astype(TS_DTYPE) if isinstance(ts, pd.Series) else pd.Series(ts).astype(TS_DTYPE)


def normalise_timestamps(df: pd.DataFrame) -> pd.DataFrame:
    """Cast every datetime column of ``df`` to microsecond UTC (returns a new frame)."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = to_utc_us(out[col])
    return out


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    """Write atomically (temp file + rename) so a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs should read like any file
    normalise_timestamps(df).to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=columns)


def write_json(obj: Any, path: Path) -> Path:
    """Write pretty, key-sorted JSON atomically (stable bytes for identical content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return path


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())
