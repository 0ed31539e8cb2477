"""Real public data from ``../shared/data`` beside the repo root (the CI layout)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """Path of a shared data file; fails the test (never skips) when it is missing."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.fail(f"real data file missing: {path} (CI provides ../shared/data beside the repo root)")
    return path
