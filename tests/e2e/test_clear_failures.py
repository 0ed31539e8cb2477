"""Issue 14 item 11: a too-short history and a corrupt model file are one clear line naming the
cause, quickly, never a traceback."""

from __future__ import annotations

import shutil
import time

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.common.errors import UserError
from pipelines.storage.artifact import load_model
from tests.support.serve_data import build_workspace, free_port

pytestmark = pytest.mark.slow
runner = CliRunner()


def _run(*args: str):
    started = time.monotonic()
    result = runner.invoke(app, list(args))
    return result, time.monotonic() - started


def test_pipeline_on_120_days_says_why_it_cannot_train(tmp_path, monkeypatch) -> None:
    """Used to raise ``ValueError: time split needs at least two cutoffs`` (a traceback)."""
    monkeypatch.setenv("POWERTIER_DATA_DIR", str(tmp_path / "ws"))
    raw = tmp_path / "raw"
    assert runner.invoke(app, ["generate", "--users", "30", "--days", "120", "--seed", "3", "--out", str(raw)]).exit_code == 0
    result, _ = _run("pipeline", "--raw", str(raw))
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "skipping train and score" in result.output and "two training cutoffs" in result.output
    assert "Traceback" not in result.output
    alone, seconds = _run("train")
    assert alone.exit_code == 2 and "two training cutoffs" in alone.output and seconds < 10


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = tmp_path_factory.mktemp("clear") / "ws"
    build_workspace(data)
    return data


@pytest.mark.parametrize("target", ["boosters", "model.json"])
def test_a_corrupt_model_file_is_one_line_naming_it(trained, target, tmp_path, monkeypatch) -> None:
    """Used to fail after ~10 s, inside a JSON log line that did not name the file."""
    run_dir = (trained / "runs" / "latest").resolve()
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    bad = sorted((copy / "boosters").glob("*.txt"))[0] if target == "boosters" else copy / "model.json"
    bad.write_text(bad.read_text()[: len(bad.read_text()) // 3] + "\n garbage ][")
    with pytest.raises(UserError, match="corrupt") as raised:
        load_model(copy)
    assert str(bad) in raised.value.message
    monkeypatch.setenv("POWERTIER_DATA_DIR", str(trained))
    monkeypatch.setenv("TERMINAL_WIDTH", "400")
    for args in (["serve", "--run", str(copy), "--port", str(free_port())], ["score", "--run", str(copy)]):
        result, seconds = _run(*args)
        assert result.exit_code == 2, result.output + repr(result.exception)
        # The CLI's error panel may shorten a long path in the middle; the message itself names it.
        assert "corrupt" in result.output and "retrain" in result.output
        assert "Traceback" not in result.output and seconds < 10
