"""The Feast CLI on a workspace folder: ``<data_dir>/feast`` carries the definitions
(``powertier_repo.py``, written by apply), so ``plan`` deletes nothing, ``apply`` keeps the registry
whole, and ``feast ui`` (which needs the grpcio extra) answers on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.storage import feast_store
from tests.support.serve_data import build_workspace, free_port, running_server

pytestmark = pytest.mark.slow
FEAST = str(Path(sys.executable).parent / "feast")


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("feast-cli") / "ws", train=False, n_users=8)


def _feast(cfg, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    # Another workspace in the environment must not matter: the folder names its own paths.
    env = {**os.environ, "POWERTIER_DATA_DIR": str(cwd / "elsewhere")}
    return subprocess.run([FEAST, "-c", str(cfg.data_dir / "feast"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_plan_and_apply_in_the_workspace_folder_keep_every_object(cfg, tmp_path):
    before = feast_store.open_store(cfg)
    objects = sorted(v.name for v in [*before.list_feature_views(), *before.list_on_demand_feature_views()])
    plan = _feast(cfg, "plan", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "Deleted" not in plan.stdout and "Deleted" not in plan.stderr
    applied = _feast(cfg, "apply", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr[-3000:]
    after = feast_store.open_store(cfg)
    assert sorted(v.name for v in [*after.list_feature_views(), *after.list_on_demand_feature_views()]) == objects
    assert {s.name for s in after.list_feature_services()} == {"purchasing_power_v3", "tier_model_v3"}


def test_feast_ui_answers_on_loopback(cfg, tmp_path):
    port = free_port()
    cmd = [FEAST, "-c", str(cfg.data_dir / "feast"), "ui", "-h", "127.0.0.1", "-p", str(port)]
    with running_server(cmd, dict(os.environ), f"http://127.0.0.1:{port}/", tmp_path / "ui.log", timeout=180):
        import httpx

        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        projects = httpx.get(f"http://127.0.0.1:{port}/projects-list.json", timeout=10)
        assert projects.status_code == 200 and "powertier" in projects.text
