"""Stage 'serve' (placeholder until its issue lands)."""

from __future__ import annotations

from pipelines.cli_common import ConfigOpt, UserError


def serve(config: ConfigOpt = None) -> None:
    """Not built yet."""
    raise UserError("stage 'serve' is not built yet")
