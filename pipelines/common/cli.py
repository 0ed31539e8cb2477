"""Pieces every stage's ``cli.py`` shares: the consoles, the --config option, config loading, and
the mapping of :class:`~pipelines.common.errors.UserError` to one line on stderr and exit code 2."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer._click.exceptions import ClickException  # the click that Typer >= 0.25 vendors
from typer.core import TyperGroup

from pipelines.common.config import PowerTierConfig, load_config
from pipelines.common.errors import UserError

# Wide enough for the metric tables when output is piped (rich assumes 80 columns then).
console = Console(stderr=False, highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="YAML config file.", show_default="./powertier.yaml if present"),
]


class _UserErrorExit(ClickException):
    """How Click reports a UserError: the message in red on stderr, exit code 2, no traceback."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        err_console.print(f"[bold red]error:[/] {self.message}")


class PowerTierGroup(TyperGroup):
    """The root command group: every command below it reports a UserError as a user mistake."""

    def invoke(self, ctx):  # noqa: ANN001, ANN201 (Click's signature)
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise _UserErrorExit(exc.message) from exc


def library_output(verbose: bool) -> None:
    """The one policy for library warnings and log records: hidden by default, shown with --verbose.

    Warnings are routed through logging (``py.warnings``) instead of filtered: importing Feast calls
    ``warnings.simplefilter("once", DeprecationWarning)``, which overrides any filter installed
    before it, but it leaves the display hook alone. Library loggers (Feast, Optuna, ...) get no
    handler by default, so Python's last-resort handler never prints their warnings either.
    """
    from rich.logging import RichHandler

    logging.captureWarnings(True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if verbose:
        warnings.simplefilter("default")  # each distinct warning once per location
        root.addHandler(RichHandler(console=err_console, show_time=False, show_path=False, markup=False))
        root.setLevel(logging.WARNING)
    else:
        root.addHandler(logging.NullHandler())
        # transformers draws a tqdm bar per model load ("Loading weights"); the progress display
        # already shows the load. Read once when transformers is imported, which happens later.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class RichProgress:
    """The one progress display of every command: a line per task with its bar, count, elapsed time
    and ETA (a spinner while the total is unknown). Implements ``pipelines.common.progress.Progress``."""

    def __init__(self, bar) -> None:  # noqa: ANN001 (rich.progress.Progress)
        self.bar = bar
        self.tasks: dict[str, Any] = {}

    def start(self, task: str, total: float | None = None) -> None:
        if task in self.tasks:
            self.bar.reset(self.tasks[task], total=total)
        else:
            self.tasks[task] = self.bar.add_task(task, total=total)

    def advance(self, task: str, n: float = 1) -> None:
        if task not in self.tasks:
            self.start(task)
        self.bar.advance(self.tasks[task], n)

    def finish(self, task: str) -> None:
        if task in self.tasks:
            t = next(x for x in self.bar.tasks if x.id == self.tasks[task])
            done = t.total if t.total is not None else max(t.completed, 1)  # a spinner ends as 1/1
            self.bar.update(t.id, total=done, completed=done)


@contextlib.contextmanager
def progress_display() -> Iterator[RichProgress]:
    """A live display on stderr for the duration of one command."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    columns = (SpinnerColumn(finished_text="[green]done"), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as bar:
        yield RichProgress(bar)


def get_config(config_path: Path | None, **overrides: Any) -> PowerTierConfig:
    """Load the effective config, turning validation problems into a UserError."""
    from pydantic import ValidationError

    try:
        return load_config(config_path, **overrides)
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        raise UserError(f"invalid configuration: {exc}") from exc
