"""Fixtures shared by the ranking tests: the real CDNOW sample's calibration summary."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.real_data import cdnow_weeks_summary


@pytest.fixture(scope="module")
def cdnow_summary() -> np.ndarray:
    """(frequency, recency, T, monetary) in weeks of the 2,357 CDNOW sample customers."""
    ids, stats = cdnow_weeks_summary()
    assert len(ids) == 2357
    return stats
