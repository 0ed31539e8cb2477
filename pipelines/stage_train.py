"""Stages 'train', 'predict', 'score' (placeholder until the model issue lands)."""

from __future__ import annotations

from pipelines.cli_common import ConfigOpt, UserError


def train(config: ConfigOpt = None) -> None:
    """Not built yet."""
    raise UserError("stage 'train' is not built yet")


def predict(config: ConfigOpt = None) -> None:
    """Not built yet."""
    raise UserError("stage 'predict' is not built yet")


def score(config: ConfigOpt = None) -> None:
    """Not built yet."""
    raise UserError("stage 'score' is not built yet")
