"""Stage 'backtest' (placeholder until its issue lands)."""

from __future__ import annotations

from pipelines.cli_common import ConfigOpt, UserError


def backtest(config: ConfigOpt = None) -> None:
    """Not built yet."""
    raise UserError("stage 'backtest' is not built yet")
