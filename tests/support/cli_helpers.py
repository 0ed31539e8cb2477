"""Running the real CLI in-process from tests."""

from __future__ import annotations

from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


def cli_ok(*args: str) -> str:
    """Run ``powertier ARGS``; fail the test with its output unless it exits 0."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output
