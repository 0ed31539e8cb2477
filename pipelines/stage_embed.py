"""Stage 'embed' (placeholder until its issue lands)."""

from __future__ import annotations

from pipelines.cli_common import ConfigOpt, UserError


def embed(config: ConfigOpt = None) -> None:
    """Not built yet."""
    raise UserError("stage 'embed' is not built yet")
