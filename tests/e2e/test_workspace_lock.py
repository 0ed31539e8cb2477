"""Issue 14 item 6: commands that write the registry or the stores take the workspace lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.storage.files import file_lock
from tests.e2e.test_ingest_cli import flat, write_raw

runner = CliRunner()


def _hold(root, seconds: float, started: threading.Event) -> None:
    with file_lock(root, 0, holder="test holder"):
        started.set()
        time.sleep(seconds)


def test_a_writer_fails_clearly_while_another_one_holds_the_lock(tmp_path, monkeypatch) -> None:
    data = tmp_path / "ws"
    monkeypatch.setenv("POWERTIER_DATA_DIR", str(data))
    monkeypatch.setenv("POWERTIER_LOCK_TIMEOUT_S", "0.5")
    started = threading.Event()
    holder = threading.Thread(target=_hold, args=(data, 3.0, started))
    holder.start()
    started.wait(5)
    try:
        result = runner.invoke(app, ["ingest", "--raw", str(write_raw(tmp_path))])
    finally:
        holder.join()
    assert result.exit_code == 2, result.output
    # flat(): the error panel wraps the message where the tmp path's length puts the line ends
    assert "is busy" in flat(result.output) and "test holder" in flat(result.output)
    assert not (data / "curated").exists()  # nothing was written without the lock


def test_a_writer_waits_for_the_lock_then_runs(tmp_path, monkeypatch) -> None:
    data = tmp_path / "ws"
    monkeypatch.setenv("POWERTIER_DATA_DIR", str(data))
    started = threading.Event()
    holder = threading.Thread(target=_hold, args=(data, 1.0, started))
    holder.start()
    started.wait(5)
    began = time.monotonic()
    result = runner.invoke(app, ["ingest", "--raw", str(write_raw(tmp_path))])
    holder.join()
    assert result.exit_code == 0, result.output
    assert "waiting for the workspace lock" in flat(result.output) and time.monotonic() - began >= 0.5


@pytest.mark.slow
def test_two_materialize_at_once_both_succeed(tmp_path) -> None:
    """Two processes used to rewrite registry.db at once: FeatureViewNotFoundException."""
    from tests.support.serve_data import build_workspace

    data = tmp_path / "ws"
    build_workspace(data, train=False)
    env = {**os.environ, "POWERTIER_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    cmd = [str(Path(sys.executable).parent / "powertier"), "features", "materialize", "--full"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert not any("Traceback" in out for out in outputs)
