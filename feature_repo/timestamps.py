"""The time convention of the feature store, in one place: every stored timestamp is microsecond
UTC (Feast's DuckDB offline store fails on nanosecond tz-aware values), and each feature view
stores its row time as ``<view>_ts`` in epoch seconds (float) for the leak guards and serving.
Naive values are taken as UTC everywhere."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

TS_DTYPE = "datetime64[us, UTC]"
US_PER_DAY = 86_400 * 10**6
TS_SUFFIX = "_ts"


def as_utc(value: Any) -> pd.Timestamp:
    """A timestamp-like value as a UTC ``pd.Timestamp``."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def to_utc_us(values: Any) -> pd.Series:
    """Anything timestamp-like (a column, a list, one value) as a microsecond-UTC Series."""
    ts = pd.to_datetime(values, utc=True, errors="raise", format="mixed")
    return ts.astype(TS_DTYPE) if isinstance(ts, pd.Series) else pd.Series(ts).astype(TS_DTYPE)


def epoch_us(values: Any) -> np.ndarray:
    """Timestamps as int64 epoch microseconds."""
    return to_utc_us(pd.Series(values) if not isinstance(values, pd.Series) else values).astype("int64").to_numpy()


def epoch_s(ts: Any) -> float:
    """One timestamp as epoch seconds with microsecond precision, as ``<view>_ts`` stores it."""
    return (pd.Timestamp(ts).value // 1000) / 1e6  # .value is in ns whatever the unit


def ts_column(view: str) -> str:
    """The row-time feature of ``view``."""
    return f"{view}{TS_SUFFIX}"
