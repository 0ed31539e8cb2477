"""Stage 'ingest' (placeholder until its issue lands)."""

from __future__ import annotations

from pipelines.cli_common import ConfigOpt, UserError


def ingest(config: ConfigOpt = None) -> None:
    """Not built yet."""
    raise UserError("stage 'ingest' is not built yet")
