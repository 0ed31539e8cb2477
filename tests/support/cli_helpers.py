"""Running the real CLI in-process from tests."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


def cli_ok(*args: str) -> str:
    """Run ``powertier ARGS``; fail the test with its output unless it exits 0."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def generated_raw(factory, users: int, days: int, seed: int) -> Path:
    """A fresh folder of ``powertier generate`` raw tables (``factory``: pytest's tmp_path_factory)."""
    raw = factory.mktemp("raw")
    cli_ok("generate", "--users", str(users), "--days", str(days), "--seed", str(seed), "--out", str(raw))
    return raw
