"""Pieces every CLI stage shares: the --config option, config loading, user-facing errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.exceptions import ClickException  # the click that Typer >= 0.25 vendors
from rich.console import Console

from pipelines.config import PowerTierConfig, load_config

# Wide enough for the metric tables when output is piped (rich assumes 80 columns then).
console = Console(stderr=False, highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="YAML config file (default: powertier.yaml at the repo root)."),
]


class UserError(ClickException):
    """A mistake in the user's input or invocation: reported as one clear line, exit code 2
    (Typer handles it in every command, so no traceback reaches the user)."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        err_console.print(f"[bold red]error:[/] {self.message}")


def get_config(config_path: Path | None, **overrides: Any) -> PowerTierConfig:
    """Load the effective config, turning validation problems into a UserError."""
    from pydantic import ValidationError

    try:
        return load_config(config_path, **overrides)
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        raise UserError(f"invalid configuration: {exc}") from exc
