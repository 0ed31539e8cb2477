"""The report page model and its one renderer.

A page is a title, a summary, an optional warning box and a list of sections (tables, charts,
notes); ``templates/report.html.j2`` lays it out. Templates ship as package data and load through
Jinja2's ``PackageLoader``, so an installed wheel renders the same page as a checkout. Autoescaping
is on: every string is escaped by Jinja except the charts, which :func:`chart` marks safe because
:mod:`pipelines.report.svg` escapes the text it writes into them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


@dataclass
class Table:
    """Headers and rows of already formatted cells (the first cell of a row is its label)."""

    headers: list[str]
    rows: list[list[str]]
    title: str = ""


@dataclass
class Section:
    """One ``<section>`` of a page; other stages add theirs by appending one of these."""

    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[Markup] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


@dataclass
class Page:
    title: str
    summary: str = ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    warning_title: str = "Warning"
    sections: list[Section] = field(default_factory=list)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Built on first render, not on import; StrictUndefined turns a template typo into an error.
    return Environment(loader=PackageLoader("pipelines.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render(page: Page) -> str:
    """The whole HTML document of ``page``."""
    return _environment().get_template("report.html.j2").render(page=page)


def chart(svg_markup: str) -> Markup:
    """An SVG chart from :mod:`pipelines.report.svg` (which escapes its own text) as trusted markup."""
    return Markup(svg_markup)


def charts(*svgs: str) -> list[Markup]:
    """The non-empty charts among ``svgs``."""
    return [chart(s) for s in svgs if s]


def count(value: Any) -> str:
    """A count as an integer with thousands separators ('' when missing)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{int(round(float(value))):,}"


def num(value: Any, digits: int = 4) -> str:
    """A metric with ``digits`` significant digits ('' when missing, '–' for a skipped model)."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return count(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else ""
    return str(value)


def money(value: Any) -> str:
    """Money with two decimals and thousands separators."""
    if value is None or not math.isfinite(float(value)):
        return ""
    return f"{float(value):,.2f}"
