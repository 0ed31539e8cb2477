"""Tiny inline-SVG charts for the self-contained HTML report (no plotting library needed)."""

from __future__ import annotations

from html import escape

PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb")
W, H = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 150, 30, 50


def _frame(title: str, body: list[str], height: int = H) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
            f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="#fff"/>'
            f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>')
    return head + "".join(body) + "</svg>"


def _legend(names: list[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = TOP + 14 * i
        out.append(f'<rect x="{W - RIGHT + 10}" y="{y}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{W - RIGHT + 24}" y="{y + 9}">{escape(name)}</text>')
    return out


def _axis(y_min: float, y_max: float, y_label: str) -> tuple[list[str], callable]:
    """Y axis with 5 ticks; returns the elements and the value → pixel mapping."""
    span = (y_max - y_min) or 1.0
    plot_h = H - TOP - BOTTOM

    def to_px(v: float) -> float:
        return TOP + plot_h * (1 - (v - y_min) / span)

    out = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#333"/>',
           f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#333"/>',
           f'<text x="14" y="{TOP + plot_h / 2}" transform="rotate(-90 14 {TOP + plot_h / 2})" '
           f'text-anchor="middle">{escape(y_label)}</text>']
    for i in range(5):
        v = y_min + span * i / 4
        out.append(f'<text x="{LEFT - 4}" y="{to_px(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>'
                   f'<line x1="{LEFT}" y1="{to_px(v):.1f}" x2="{W - RIGHT}" y2="{to_px(v):.1f}" stroke="#eee"/>')
    return out, to_px


def bar_chart(title: str, categories: list[str], series: dict[str, list[float | None]], y_label: str = "") -> str:
    """Grouped vertical bars: one group per category, one bar per series (None = no bar)."""
    values = [v for vs in series.values() for v in vs if v is not None]
    lo, hi = min([0.0, *values]), max([0.0, *values]) or 1.0
    body, to_px = _axis(lo, hi, y_label)
    group_w = (W - LEFT - RIGHT) / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    for ci, cat in enumerate(categories):
        x0 = LEFT + ci * group_w + group_w * 0.1
        body.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">'
                    f'{escape(cat)}</text>')
        for si, vs in enumerate(series.values()):
            v = vs[ci]
            if v is None:
                continue
            top, base = to_px(max(v, 0.0)), to_px(min(v, 0.0))
            body.append(f'<rect x="{x0 + si * bar_w:.1f}" y="{top:.1f}" width="{bar_w * 0.95:.1f}" '
                        f'height="{max(base - top, 0.5):.1f}" fill="{PALETTE[si % len(PALETTE)]}">'
                        f'<title>{escape(cat)} / {escape(list(series)[si])}: {v:.4g}</title></rect>')
    return _frame(title, body + _legend(list(series)))


def hbar_chart(title: str, values: dict[str, float], x_label: str = "") -> str:
    """Horizontal bars, largest first (importance plots)."""
    items = sorted(values.items(), key=lambda kv: -abs(kv[1]))
    height = TOP + 22 * len(items) + 40
    hi = max([abs(v) for _, v in items] or [1.0]) or 1.0
    body, left, width = [], 150, W - 150 - 40
    for i, (name, v) in enumerate(items):
        y = TOP + 22 * i
        body.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>'
                    f'<rect x="{left}" y="{y + 2}" width="{width * abs(v) / hi:.1f}" height="16" fill="{PALETTE[0]}"/>'
                    f'<text x="{left + width * abs(v) / hi + 4:.1f}" y="{y + 13}">{v:.3g}</text>')
    body.append(f'<text x="{left + width / 2}" y="{height - 10}" text-anchor="middle">{escape(x_label)}</text>')
    return _frame(title, body, height)


def line_chart(title: str, series: dict[str, tuple[list[float], list[float]]], x_label: str = "",
               y_label: str = "", diagonal: bool = False) -> str:
    """Lines over a shared numeric x axis (optionally the y = x diagonal, dashed)."""
    xs = [x for xv, _ in series.values() for x in xv]
    ys = [y for _, yv in series.values() for y in yv]
    lo, hi = min([*ys, *(xs if diagonal else [])], default=0.0), max([*ys, *(xs if diagonal else [])], default=1.0)
    # With the diagonal (calibration), x and y share one range so that y = x is drawn at 45°.
    x_lo, x_hi = (lo, hi) if diagonal else (min(xs, default=0.0), max(xs, default=1.0))
    body, to_py = _axis(lo, hi, y_label)

    def to_px(x: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * (x - x_lo) / ((x_hi - x_lo) or 1.0)

    if diagonal:
        body.append(f'<line x1="{to_px(lo):.1f}" y1="{to_py(lo):.1f}" x2="{to_px(hi):.1f}" y2="{to_py(hi):.1f}" '
                    f'stroke="#999" stroke-dasharray="4 3"/>')
    for i, (name, (xv, yv)) in enumerate(series.items()):
        pts = " ".join(f"{to_px(x):.1f},{to_py(y):.1f}" for x, y in zip(xv, yv))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="2"/>')
    for i in range(5):
        x = x_lo + (x_hi - x_lo) * i / 4
        body.append(f'<text x="{to_px(x):.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">{x:.3g}</text>')
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
