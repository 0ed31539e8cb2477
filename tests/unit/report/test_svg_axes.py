"""Chart axes: round ticks, integer counts, log money axes, dates on time axes."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from pipelines.report import svg


def _tick_labels(markup: str) -> list[str]:
    """Y tick labels: the right-aligned texts left of the plot area."""
    return re.findall(r'text-anchor="end">([^<]*)</text>', markup)


def test_ticks_are_round_multiples_covering_the_data():
    ticks = svg.nice_ticks(0.541, 0.721)
    assert ticks[0] <= 0.541 and ticks[-1] >= 0.721
    step = ticks[1] - ticks[0]
    assert step == pytest.approx(0.05) and all(abs(t / step - round(t / step)) < 1e-6 for t in ticks)
    assert ticks == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75]  # printed as such: no float noise
    assert svg.nice_ticks(0, 3570) == [0, 1000, 2000, 3000, 4000]


def test_labels_have_no_scientific_notation_or_float_noise():
    markup = svg.bar_chart("spend", ["a", "b"], {"m": [3570.0, 120.0]}, "money")
    labels = _tick_labels(markup)
    assert labels == ["0", "1,000", "2,000", "3,000", "4,000"]
    assert not any("e+" in x or "e-" in x for x in labels)
    small = _tick_labels(svg.bar_chart("gini", ["a"], {"m": [0.721]}, "gini"))
    assert small == ["0.0", "0.2", "0.4", "0.6", "0.8"]
    assert svg.fmt_number(35_712.0) == "35.7k" and svg.fmt_number(2_500_000.0) == "2.5M"
    assert svg.fmt_number(3570.0) == "3,570" and svg.fmt_number(0.7214) == "0.721"


def test_counts_get_integer_ticks():
    ticks = svg.nice_ticks(0, 3, integer=True)
    assert ticks == [0, 1, 2, 3]
    labels = _tick_labels(svg.bar_chart("rows", ["a"], {"rows": [3]}, "rows", integer=True))
    assert labels == ["0", "1", "2", "3"]


def test_log_axis_keeps_zero_and_ticks_at_powers_of_ten():
    axis = svg.log_axis([0.0, 3.0, 45_000.0])
    assert axis.ticks == [0, 1, 10, 100, 1000, 10_000, 100_000] and axis.labels[-1] == "100k"
    assert axis.frac(0.0) == 0.0 and axis.frac(100_000.0) == pytest.approx(1.0)
    # 10 sits far above its linear position: the point of a log axis for skewed money.
    assert axis.frac(10.0) > 0.15
    assert "(log scale)" in svg.line_chart("c", {"m": ([1, 2], [0, 5000])}, log_y=True, y_label="spend")


def test_time_axis_is_labelled_with_dates():
    days = [datetime(2025, 12, 1, tzinfo=timezone.utc), datetime(2025, 12, 31, tzinfo=timezone.utc),
            datetime(2026, 1, 30, tzinfo=timezone.utc)]
    markup = svg.line_chart("gini over time", {"lightgbm": (days, [0.5, 0.55, 0.52])}, "cutoff", "gini")
    assert all(d in markup for d in ("2025-12-01", "2025-12-31", "2026-01-30"))
    assert "days since" not in markup


def test_text_in_charts_is_escaped():
    markup = svg.bar_chart("<b>x</b>", ["<script>"], {"a&b": [1.0]})
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "a&amp;b" in markup
