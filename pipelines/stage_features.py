"""Stages 'features ...' and 'labels build' (placeholder)."""

from __future__ import annotations

import typer

features_app = typer.Typer(no_args_is_help=True, help="Transactional features in Feast.")
labels_app = typer.Typer(no_args_is_help=True, help="Training labels.")
