"""Fixtures shared by the end-to-end CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_helpers import generated_raw


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory) -> Path:
    """The small simulated shop (300 users, 420 days) the pipeline and retrain tests share; generated
    once per test process and read-only (a test that needs other tables copies them out)."""
    return generated_raw(tmp_path_factory, users=300, days=420, seed=11)
