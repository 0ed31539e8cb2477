"""Leak guards of the backtest: hard failures, never warnings.

Three ways the future can reach a model fitted "at cutoff c":

* a training label whose window (c', c' + H] has not closed by c (``label_available_at > c``);
* a feature value computed from a row newer than the entity row that asked for it. Every Feast
  view carries its row time as a ``<view>_ts`` feature (epoch seconds), so a correct point-in-time
  join always has ``<view>_ts <= event_timestamp``; a join that bypasses it (e.g. on user_id only)
  does not;
* the text vectors themselves, when the encoder was fine-tuned on labels that end after c
  (``label_end`` in its provenance, recorded in the embed manifest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_repo.timestamps import TS_SUFFIX, epoch_us

SHOWN_ROWS = 5


class LeakageError(Exception):
    """Future information reached a training or scoring row; the message names the rows."""


def feature_ts_columns(columns: list[str] | pd.Index, suffix: str = TS_SUFFIX) -> list[str]:
    """The per-row feature timestamp columns (``<view>_ts``) among ``columns``."""
    return [c for c in columns if str(c).endswith(suffix)]


def _fmt(value: object) -> str:
    """Epoch seconds and timestamps both shown as ISO times."""
    if isinstance(value, (int, float, np.number)):
        try:
            return pd.Timestamp(float(value), unit="s", tz="UTC").isoformat()
        except (ValueError, OverflowError):  # not epoch seconds after all: show it as it is
            return str(value)
    return pd.Timestamp(value).isoformat() if value is not None and not pd.isna(value) else "null"


def _describe(frame: pd.DataFrame, mask: np.ndarray, extra: str) -> str:
    """'N rows, e.g. user@time (extra=value), ...' for the offending rows."""
    bad = frame.loc[mask]
    head = bad.head(SHOWN_ROWS)
    shown = [f"{user}@{pd.Timestamp(ts).isoformat()} ({extra}={_fmt(value)})"
             for user, ts, value in zip(head["user_id"], head["event_timestamp"], head[extra])]
    more = f" and {len(bad) - SHOWN_ROWS} more" if len(bad) > SHOWN_ROWS else ""
    return f"{len(bad)} rows: " + ", ".join(shown) + more


def check_label_availability(frame: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    """Raise :class:`LeakageError` unless every row's label was known at ``cutoff``."""
    if "label_available_at" not in frame.columns:
        raise LeakageError("leak guard: training rows carry no label_available_at column; cannot prove "
                           f"their labels were known at {pd.Timestamp(cutoff).isoformat()}")
    available = pd.to_datetime(frame["label_available_at"], utc=True)
    bad = (available.isna() | (available > pd.Timestamp(cutoff))).to_numpy()
    if bad.any():
        raise LeakageError(f"leak guard: training labels not yet available at cutoff "
                           f"{pd.Timestamp(cutoff).isoformat()}: {_describe(frame, bad, 'label_available_at')}")


def check_feature_timestamps(frame: pd.DataFrame, ts_columns: list[str] | None = None) -> None:
    """Raise :class:`LeakageError` if any ``<view>_ts`` value is newer than its row's
    ``event_timestamp`` (null = no feature row, which is fine)."""
    columns = feature_ts_columns(frame.columns) if ts_columns is None else ts_columns
    asked = _epoch_seconds_of(frame["event_timestamp"])
    problems = []
    for col in columns:
        values = pd.to_numeric(frame[col], errors="raise").to_numpy(dtype="float64", na_value=np.nan)
        bad = ~np.isnan(values) & (values > asked)
        if bad.any():
            problems.append(f"{col} newer than event_timestamp in {_describe(frame, bad, col)}")
    if problems:
        raise LeakageError("leak guard: feature values from the future (a join that is not point-in-time?): "
                           + "; ".join(problems))


def _epoch_seconds_of(values: pd.Series) -> np.ndarray:
    """Timestamps as epoch seconds, computed exactly as the feature tables compute ``<view>_ts``."""
    return epoch_us(values) / 1e6


def check_encoder_labels(label_end: object, cutoff: pd.Timestamp, model: str = "the encoder") -> None:
    """Raise :class:`LeakageError` if the text encoder learnt from labels that end after ``cutoff``
    (``label_end`` None: an encoder that never saw a label)."""
    if label_end is None or pd.isna(label_end):
        return
    if pd.Timestamp(label_end) > pd.Timestamp(cutoff):
        raise LeakageError(f"leak guard: {model} was fine-tuned on labels available up to "
                           f"{pd.Timestamp(label_end).isoformat()}, after the backtest cutoff "
                           f"{pd.Timestamp(cutoff).isoformat()}; embed with the base model or fine-tune with "
                           f"--end {pd.Timestamp(cutoff).date().isoformat()} or earlier")
