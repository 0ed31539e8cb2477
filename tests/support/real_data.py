"""Real public data from ``../shared/data`` beside the repo root (the CI layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """Path of a shared data file; fails the test (never skips) when it is missing."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.fail(f"real data file missing: {path} (CI provides ../shared/data beside the repo root)")
    return path


def cdnow_weeks_summary() -> tuple[np.ndarray, np.ndarray]:
    """(customer ids, (frequency, recency, T, monetary) in weeks) of the CDNOW sample's customers,
    calibration to 1997-09-30: the published BG/NBD, Pareto/NBD and Gamma-Gamma fits' data."""
    from ranking.btyd import calibration_summary

    raw = pd.read_csv(shared_file("cdnow/CDNOW_sample.txt"), sep=r"\s+", header=None,
                      names=["customer", "sample", "date", "cds", "dollars"], dtype={"customer": str, "date": str})
    return calibration_summary(raw["customer"].to_numpy(), pd.to_datetime(raw["date"], format="%Y%m%d"),
                               raw["dollars"].to_numpy(), np.datetime64("1997-09-30"), unit_days=7)
