"""The one timestamp parser (``pipelines.common.times``)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.common.errors import UserError
from pipelines.common.times import parse_time, parse_timestamps


def test_offset_and_naive_forms_in_one_column_are_parsed_independently() -> None:
    """Issue 14 item 1: a naive value after an offset one used to take that offset (-8 h)."""
    values = pd.Series(["2025-01-01T08:00:00+08:00", "2025-02-01 08:00:00", "2025-02-01",
                        "2025-02-01T08:00Z", "2025-02-01T08:00:00.5-01:30", "2025-03-01T10:00:00"])
    out = parse_timestamps(values)
    assert out.tolist() == [pd.Timestamp(t, tz="UTC") for t in (
        "2025-01-01 00:00", "2025-02-01 08:00", "2025-02-01 00:00", "2025-02-01 08:00",
        "2025-02-01 09:30:00.5", "2025-03-01 10:00")]
    assert str(out.dtype) == "datetime64[us, UTC]"


@pytest.mark.parametrize("text", ["2025/02/01", "2025.02.01", "01/09/2025", "09-01-2025", "2025-13-01",
                                  "2025-02-01T08", "yesterday", "20250201", "2025-02-01 8:00"])
def test_non_iso_and_ambiguous_dates_are_rejected(text) -> None:
    assert pd.isna(parse_timestamps(pd.Series([text])).iloc[0])
    with pytest.raises(UserError):
        parse_time(text)


def test_column_parser_keeps_nulls_and_strips_spaces() -> None:
    out = parse_timestamps(pd.Series(["  2025-02-01  ", None], dtype="string"))
    assert out.iloc[0] == pd.Timestamp("2025-02-01", tz="UTC") and pd.isna(out.iloc[1])
    assert parse_time("2025-02-01T09:00+01:00") == pd.Timestamp("2025-02-01 08:00", tz="UTC")
