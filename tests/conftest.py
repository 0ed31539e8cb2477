"""Shared fixtures: an isolated workspace per test module, no network."""

from __future__ import annotations

import os

import pytest

# Fixtures that build shared workspaces live with their data builders in tests/support/.
pytest_plugins = ["tests.support.backtest_data", "tests.support.ray_cluster"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A fresh workspace: POWERTIER_DATA_DIR points at it for the duration of the test."""
    path = tmp_path / "ws"
    monkeypatch.setenv("POWERTIER_DATA_DIR", str(path))
    return path
