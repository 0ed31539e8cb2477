"""A pipeline command's stderr carries no library warnings by default; ``--verbose`` shows them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.support.serve_data import AS_OF, build_workspace

pytestmark = pytest.mark.slow
POWERTIER = str(Path(sys.executable).parent / "powertier")
WARNING = re.compile(r"\w*Warning\b")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    cfg = build_workspace(tmp_path_factory.mktemp("quiet") / "ws", train=False, n_users=6, materialize=False)
    entities = cfg.data_dir / "entities.parquet"
    pd.DataFrame({"user_id": ["u01", "u02"], "event_timestamp": [AS_OF, AS_OF]}).to_parquet(entities)
    return cfg, entities


def _powertier(cfg, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "POWERTIER_DATA_DIR": str(cfg.data_dir), "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run([POWERTIER, *args], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_retrieval_and_materialize_are_quiet_unless_verbose(workspace, tmp_path):
    cfg, entities = workspace
    args = ("features", "historical", "--entities", str(entities), "--out", str(tmp_path / "h.parquet"))
    quiet = _powertier(cfg, *args)
    assert not WARNING.search(quiet.stderr), quiet.stderr
    loud = _powertier(cfg, "--verbose", *args)
    assert WARNING.search(loud.stderr), "--verbose should show the library warnings"
    materialized = _powertier(cfg, "features", "materialize")
    assert not WARNING.search(materialized.stderr + materialized.stdout), materialized.stderr
    assert "Materializing" not in materialized.stdout  # Feast's own banner: the progress display replaces it
