"""What the CLI says when a step is missing or an input is ambiguous: exit 2, one line, the next command."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from feature_repo.names import MODEL_SERVICES
from pipelines.cli import app
from tests.support.serve_data import build_workspace

runner = CliRunner()


def _run(*args: str) -> SimpleNamespace:
    """Exit code and output with the error box's frame and line wrapping removed."""
    result = runner.invoke(app, list(args), terminal_width=200)
    return SimpleNamespace(exit_code=result.exit_code, output=" ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split()))


def test_materialize_on_a_never_applied_workspace_says_to_apply(data_dir):
    result = _run("features", "materialize")
    assert result.exit_code == 2 and "never applied" in result.output and "powertier features apply" in result.output


@pytest.mark.slow
def test_online_before_materialize_and_unknown_service(tmp_path, monkeypatch):
    cfg = build_workspace(tmp_path / "ws", train=False, n_users=6)
    monkeypatch.setenv("POWERTIER_DATA_DIR", str(cfg.data_dir))
    unknown = _run("features", "online", "--user", "u01", "--service", "nope_v9")
    assert unknown.exit_code == 2
    assert "unknown feature service 'nope_v9'" in unknown.output
    assert all(name in unknown.output for name in MODEL_SERVICES.values())
    assert "features apply" not in unknown.output
    fresh = tmp_path / "fresh"
    fresh_cfg = build_workspace(fresh, train=False, n_users=6, materialize=False)
    monkeypatch.setenv("POWERTIER_DATA_DIR", str(fresh_cfg.data_dir))
    shown = _run("features", "online", "--user", "u01")
    assert shown.exit_code == 2 and "never materialized" in shown.output and "features materialize" in shown.output


@pytest.mark.parametrize("args", [
    ("train", "--start", "01/09/2025", "--end", "2025-06-01"),
    ("generate", "--start", "2025/01/01", "--users", "3", "--days", "3"),
    ("features", "materialize", "--end", "09.01.2025"),
    ("labels", "build", "--out", "x.parquet", "--start", "1/9/25", "--end", "2025-06-01"),
    ("score", "--as-of", "01/09/2025"),
])
def test_ambiguous_dates_are_refused_everywhere(args, data_dir):
    result = _run(*args)
    assert result.exit_code == 2 and "ISO 8601" in result.output, result.output
