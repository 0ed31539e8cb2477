"""Parsing the dates, times and durations users type (CLI options) and raw data holds (ingest
columns), in one place.

Only unambiguous ISO 8601 forms are accepted: ``2025-01-31``, ``2025-01-31 08:00[:00[.ffffff]]``,
``2025-01-31T08:00:00+08:00`` or ``...Z``; naive values are UTC. ``01/09/2025`` (9 January or
1 September?), ``2025/01/01`` and ``2025.01.01`` are refused with a message saying what to write
(or, for a column, become NaT so that ingest quarantines them as ``invalid_timestamp``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd

from feature_repo.timestamps import TS_DTYPE, as_utc
from pipelines.common.errors import UserError

_DATE_TIME = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
NAIVE_TIME = re.compile(_DATE_TIME)
ISO_TIME = re.compile(_DATE_TIME + r"(Z|[+-]\d{2}:?\d{2})?")
_DAYS = re.compile(r"\s*(\d+)\s*d?\s*")


def parse_time(text: str, what: str = "time") -> pd.Timestamp:
    """One user-given time as a UTC ``pd.Timestamp``; UserError naming ``what`` if not ISO 8601."""
    value = str(text).strip()
    if not ISO_TIME.fullmatch(value):
        raise UserError(f"{what}: {text!r} is not an ISO 8601 date/time; write e.g. 2025-01-31 or "
                        "2025-01-31T08:00:00+08:00")
    try:
        return as_utc(value)
    except ValueError as exc:  # 2025-02-30 and the like
        raise UserError(f"{what}: {text!r} is not a valid date ({exc})") from exc


def parse_timestamps(values: pd.Series) -> pd.Series:
    """A column of ISO 8601 strings (:data:`ISO_TIME`) as µs UTC; NaT where a value is null, not
    in that form, or not a real date (month 13). Surrounding whitespace is ignored.

    Naive and offset values are parsed in separate calls: ``pd.to_datetime(format="ISO8601",
    utc=True)`` on a column mixing both applies the first offset it saw to every later naive
    value (``2025-02-01 08:00:00`` after a ``+08:00`` value became 00:00 UTC).
    """
    text = values.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype=TS_DTYPE)
    naive = text.str.fullmatch(NAIVE_TIME.pattern).fillna(False).to_numpy(bool)
    aware = text.str.fullmatch(ISO_TIME.pattern).fillna(False).to_numpy(bool) & ~naive
    for mask in (naive, aware):
        if mask.any():
            out[mask] = pd.to_datetime(text[mask], utc=True, format="ISO8601", errors="coerce").astype(TS_DTYPE)
    return out


def parse_as_of(text: str | None, what: str = "--as-of") -> datetime | None:
    """An optional time option as a UTC datetime (None when not given)."""
    return None if text is None else parse_time(text, what).to_pydatetime()


def parse_days(text: str | int, what: str = "duration") -> int:
    """'90d' / '90' -> 90 (a positive whole number of days)."""
    match = _DAYS.fullmatch(str(text))
    if not match or int(match.group(1)) <= 0:
        raise UserError(f"{what}: expected a positive number of days like '90d', got {text!r}")
    return int(match.group(1))


def parse_time_list(listed: str, what: str = "--cutoffs") -> list[pd.Timestamp]:
    """A comma-separated list of times, sorted."""
    return sorted(parse_time(x, what) for x in listed.split(",") if x.strip())


def cutoff_range(start: datetime, end: datetime, every_days: int) -> list[pd.Timestamp]:
    """Cutoffs start, start + every, ... <= end (UTC)."""
    if every_days <= 0:
        raise ValueError("every must be a positive number of days")
    return list(pd.date_range(as_utc(start), as_utc(end), freq=timedelta(days=every_days)))


def parse_cutoffs(listed: str | None, start: datetime | None, end: datetime | None,
                  every_days: int) -> list[pd.Timestamp]:
    """Cutoffs from a comma-separated list or from start/end/every (exactly one of the two)."""
    if listed and (start or end):
        raise UserError("give either --cutoffs or --start/--end, not both")
    if listed:
        return parse_time_list(listed, "--cutoffs")
    if not (start and end):
        raise UserError("give --cutoffs LIST or both --start and --end")
    if end < start:
        raise UserError("--end is before --start")
    return cutoff_range(start, end, every_days)
