"""Stage 'generate' (placeholder until its issue lands)."""

from __future__ import annotations

from pipelines.cli_common import ConfigOpt, UserError


def generate(config: ConfigOpt = None) -> None:
    """Not built yet."""
    raise UserError("stage 'generate' is not built yet")
