"""Stage 'pipeline' (placeholder until its issue lands)."""

from __future__ import annotations

from pipelines.cli_common import ConfigOpt, UserError


def pipeline(config: ConfigOpt = None) -> None:
    """Not built yet."""
    raise UserError("stage 'pipeline' is not built yet")
