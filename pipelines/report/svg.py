"""Small inline-SVG charts for the self-contained HTML reports.

Kept hand-written rather than a plotting library: a report stays one offline file of a few
hundred kB (an offline Plotly page embeds ~4.6 MB of plotly.js per file) and needs no new
dependency. Axes use "nice" ticks (1, 2, 2.5, 5 × 10^k), counts get integer ticks, money can
use a log axis (``log1p``, so zero spend stays on the chart) and time axes are labelled with dates.
Every string that reaches the SVG is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape

PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb")
W, H = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 30, 50
DAY_S = 86_400.0


def nice_step(span: float, n: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10^k) giving about ``n`` ticks over ``span``."""
    raw = (span or 1.0) / max(n - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * 0.999)


def nice_ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """Round ticks covering [lo, hi] (the axis is widened to the outer ticks)."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        lo, hi = (lo - 1, hi + 1) if lo else (0.0, 1.0)
    step = nice_step(hi - lo, n)
    if integer:
        step = max(1.0, round(step))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [_clean(k * step) for k in range(first, last + 1)]


def _clean(v: float) -> float:
    """Drop float noise such as 0.30000000000000004 (ticks are multiples of a round step)."""
    return float(f"{v:.12g}")


def fmt_number(v: float, step: float | None = None) -> str:
    """A tick label (as many decimals as the tick ``step`` needs) or, without a step, a value
    label with three significant digits; 12k / 3.5M / 1.2B for big numbers, never 3.57e+03."""
    a = abs(v)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= scale and (a >= 1e4 or suffix != "k"):
            digits = f".{_decimals(step / scale)}f" if step else ".3g"
            return f"{v / scale:{digits}}{suffix}"
    if step is None:
        return f"{v:,.0f}" if a >= 100 or float(v).is_integer() else f"{v:.3g}"
    return f"{v:,.{_decimals(step)}f}"


def _decimals(step: float) -> int:
    """Decimals that show a step exactly (0.25 -> 2, 0.5 -> 1, 20 -> 0)."""
    for d in range(0, 8):
        if abs(round(step, d) - step) < 1e-9 * max(1.0, abs(step)):
            return d
    return 8


@dataclass(frozen=True)
class Axis:
    """A value axis: ticks, their labels and the value -> [0, 1] mapping."""

    lo: float
    hi: float
    ticks: list[float]
    labels: list[str]
    log: bool = False

    def frac(self, v: float) -> float:
        t = _log(v) if self.log else v
        lo, hi = (_log(self.lo), _log(self.hi)) if self.log else (self.lo, self.hi)
        return (t - lo) / ((hi - lo) or 1.0)


def _log(v: float) -> float:
    return math.log10(1.0 + max(v, 0.0))


def linear_axis(values: Sequence[float], integer: bool = False, fixed: tuple[float, float] | None = None) -> Axis:
    """Nice linear ticks over the values (or over a fixed range, e.g. probabilities 0..1)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    lo, hi = fixed if fixed else (min(vals, default=0.0), max(vals, default=1.0))
    ticks = nice_ticks(lo, hi, integer=integer)
    if fixed:
        ticks = [t for t in ticks if fixed[0] - 1e-9 <= t <= fixed[1] + 1e-9]
        lo, hi = fixed
    else:
        lo, hi = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return Axis(lo, hi, ticks, [fmt_number(t, step) for t in ticks])


def log_axis(values: Sequence[float]) -> Axis:
    """log10(1 + v) axis for skewed non-negative money: ticks at 0, 1, 10, 100, 1k, ..."""
    vals = [max(float(v), 0.0) for v in values if v is not None and math.isfinite(v)]
    top = math.ceil(math.log10(max(max(vals, default=1.0), 1.0)) + 1e-9)
    ticks = [0.0] + [10.0 ** k for k in range(0, max(top, 1) + 1)]
    return Axis(0.0, ticks[-1], ticks, [fmt_number(t) for t in ticks], log=True)


def date_axis(values: Sequence[datetime | date]) -> Axis:
    """Time axis in days since the epoch, labelled with ISO dates (every point when there are few)."""
    days = sorted({_days(v) for v in values})
    lo, hi = (days[0], days[-1]) if days else (0.0, 1.0)
    ticks = days if len(days) <= 6 else [lo + (hi - lo) * i / 4 for i in range(5)]
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    return Axis(lo, hi, ticks, [date.fromordinal(int(t) + 719_163).isoformat() for t in ticks])


def _days(v: datetime | date) -> float:
    """Days since 1970-01-01 (timezone-aware datetimes in UTC)."""
    if isinstance(v, datetime):
        return v.timestamp() / DAY_S if v.tzinfo else (v - datetime(1970, 1, 1)).total_seconds() / DAY_S
    return float(v.toordinal() - 719_163)


def _frame(title: str, body: list[str], height: int = H) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{W}" height="{height}" '
            f'viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="11" role="img">'
            f'<title>{escape(title)}</title><rect width="100%" height="100%" fill="#fff"/>'
            f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>')
    return head + "".join(body) + "</svg>"


def _legend(names: list[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = TOP + 14 * i
        out.append(f'<rect x="{W - RIGHT + 10}" y="{y}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{W - RIGHT + 24}" y="{y + 9}">{escape(name)}</text>')
    return out


def _y_axis(axis: Axis, label: str) -> tuple[list[str], Callable[[float], float]]:
    """Frame lines, y ticks with grid lines and the label; returns the value -> pixel mapping."""
    plot_h = H - TOP - BOTTOM

    def to_px(v: float) -> float:
        return TOP + plot_h * (1 - axis.frac(v))

    suffix = " (log scale)" if axis.log else ""
    out = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#333"/>',
           f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#333"/>',
           f'<text x="14" y="{TOP + plot_h / 2}" transform="rotate(-90 14 {TOP + plot_h / 2})" '
           f'text-anchor="middle">{escape(label + suffix)}</text>']
    for v, text in zip(axis.ticks, axis.labels):
        out.append(f'<text x="{LEFT - 4}" y="{to_px(v) + 4:.1f}" text-anchor="end">{escape(text)}</text>'
                   f'<line x1="{LEFT}" y1="{to_px(v):.1f}" x2="{W - RIGHT}" y2="{to_px(v):.1f}" stroke="#eee"/>')
    return out, to_px


def _value_axis(values: list[float], log: bool, integer: bool, fixed: tuple[float, float] | None,
                zero: bool = False) -> Axis:
    if log:
        return log_axis(values)
    return linear_axis([*values, 0.0] if zero else values, integer=integer, fixed=fixed)


def bar_chart(title: str, categories: list[str], series: dict[str, list[float | None]], y_label: str = "",
              log: bool = False, integer: bool = False) -> str:
    """Grouped vertical bars: one group per category, one bar per series (None = no bar)."""
    values = [float(v) for vs in series.values() for v in vs if v is not None]
    body, to_px = _y_axis(_value_axis(values, log, integer, None, zero=True), y_label)
    group_w = (W - LEFT - RIGHT) / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    for ci, cat in enumerate(categories):
        x0 = LEFT + ci * group_w + group_w * 0.1
        body.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">'
                    f'{escape(cat)}</text>')
        for si, (name, vs) in enumerate(series.items()):
            v = vs[ci]
            if v is None:
                continue
            top, base = to_px(max(v, 0.0)), to_px(min(v, 0.0))
            body.append(f'<rect x="{x0 + si * bar_w:.1f}" y="{top:.1f}" width="{bar_w * 0.95:.1f}" '
                        f'height="{max(base - top, 0.5):.1f}" fill="{PALETTE[si % len(PALETTE)]}">'
                        f'<title>{escape(cat)} / {escape(name)}: {fmt_number(v)}</title></rect>')
    return _frame(title, body + _legend(list(series)))


def hbar_chart(title: str, values: dict[str, float], x_label: str = "") -> str:
    """Horizontal bars, largest first (importance plots)."""
    items = sorted(values.items(), key=lambda kv: -abs(kv[1]))
    height = TOP + 22 * len(items) + 40
    hi = max([abs(v) for _, v in items] or [1.0]) or 1.0
    body, left, width = [], 150, W - 150 - 60
    for i, (name, v) in enumerate(items):
        y = TOP + 22 * i
        body.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>'
                    f'<rect x="{left}" y="{y + 2}" width="{width * abs(v) / hi:.1f}" height="16" fill="{PALETTE[0]}"/>'
                    f'<text x="{left + width * abs(v) / hi + 4:.1f}" y="{y + 13}">{fmt_number(v)}</text>')
    body.append(f'<text x="{left + width / 2}" y="{height - 10}" text-anchor="middle">{escape(x_label)}</text>')
    return _frame(title, body, height)


Point = float | datetime | date


def line_chart(title: str, series: dict[str, tuple[Sequence[Point], Sequence[float]]], x_label: str = "",
               y_label: str = "", diagonal: bool = False, log_y: bool = False, integer_y: bool = False,
               unit_range: bool = False, markers: bool | None = None) -> str:
    """Lines over a shared x axis: numbers, or dates (labelled as dates).

    ``diagonal`` draws y = x dashed on a shared x/y range (calibration); ``unit_range`` fixes both
    axes to [0, 1] (probabilities); ``markers`` (default: when every series has <= 30 points)."""
    xs = [x for xv, _ in series.values() for x in xv]
    ys = [float(y) for _, yv in series.values() for y in yv]
    dates = bool(xs) and isinstance(xs[0], (datetime, date))
    fixed = (0.0, 1.0) if unit_range else None
    if diagonal:  # x and y share one axis so that y = x is the 45° line
        y_axis = _value_axis([*ys, *[float(x) for x in xs]], log_y, integer_y, fixed)
        x_axis = y_axis
    else:
        y_axis = _value_axis(ys, log_y, integer_y, fixed, zero=integer_y)  # counts start at zero
        x_axis = date_axis(xs) if dates else linear_axis([float(x) for x in xs], fixed=fixed)
    body, to_py = _y_axis(y_axis, y_label)

    def to_px(x: Point) -> float:
        return LEFT + (W - LEFT - RIGHT) * x_axis.frac(_days(x) if dates else float(x))

    if diagonal:
        lo, hi = y_axis.lo, y_axis.hi
        body.append(f'<line x1="{to_px(lo):.1f}" y1="{to_py(lo):.1f}" x2="{to_px(hi):.1f}" y2="{to_py(hi):.1f}" '
                    f'stroke="#999" stroke-dasharray="4 3"/>')
    dots = markers if markers is not None else all(len(xv) <= 30 for xv, _ in series.values())
    for i, (name, (xv, yv)) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(to_px(x), to_py(float(y))) for x, y in zip(xv, yv)]
        body.append(f'<polyline points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}" fill="none" '
                    f'stroke="{colour}" stroke-width="2"><title>{escape(name)}</title></polyline>')
        if dots:
            body.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in pts)
    for t, text in zip(x_axis.ticks, x_axis.labels):
        body.append(f'<text x="{LEFT + (W - LEFT - RIGHT) * x_axis.frac(t):.1f}" y="{H - BOTTOM + 14}" '
                    f'text-anchor="middle">{escape(text)}</text>')
    body.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 12}" text-anchor="middle">{escape(x_label)}</text>')
    return _frame(title, body + _legend(list(series)))


def heatmap(title: str, matrix: list[list[float]], rows: list[str], cols: list[str],
            row_label: str = "", col_label: str = "") -> str:
    """A matrix of shaded cells with their values (confusion matrices)."""
    n_r, n_c = len(rows), len(cols)
    cell = min(60, (W - 160) / max(n_c, 1))
    top = TOP + 34  # room for the column label and the column names
    height = top + cell * n_r + 40
    hi = max([v for r in matrix for v in r] or [1]) or 1
    body = [f'<text x="{100 + cell * n_c / 2}" y="{TOP + 12}" text-anchor="middle">{escape(col_label)}</text>']
    for j, c in enumerate(cols):
        body.append(f'<text x="{100 + cell * (j + 0.5):.1f}" y="{TOP + 30}" text-anchor="middle">{escape(c)}</text>')
    for i, r in enumerate(rows):
        y = top + cell * i
        body.append(f'<text x="94" y="{y + cell / 2 + 4:.1f}" text-anchor="end">{escape(r)}</text>')
        for j, v in enumerate(matrix[i]):
            shade = int(255 - 200 * v / hi)
            colour = "#fff" if shade < 130 else "#000"
            body.append(f'<rect x="{100 + cell * j:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                        f'fill="rgb({shade},{shade},255)" stroke="#fff"/><text x="{100 + cell * (j + 0.5):.1f}" '
                        f'y="{y + cell / 2 + 4:.1f}" text-anchor="middle" fill="{colour}">{v:g}</text>')
    body.append(f'<text x="12" y="{top + cell * n_r / 2:.1f}" transform="rotate(-90 12 '
                f'{top + cell * n_r / 2:.1f})" text-anchor="middle">{escape(row_label)}</text>')
    return _frame(title, body, int(height))
