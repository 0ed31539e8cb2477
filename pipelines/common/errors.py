"""The domain error of PowerTier. Library and job code raise it; only the CLI layer decides that
it becomes one clear line on stderr and exit code 2 (``pipelines.common.cli``)."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input or invocation (bad data, missing step, bad option value)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
