"""Fixtures shared by the ranking tests: the real CDNOW sample's calibration summary, and the small
synthetic split with the stage-2 model fitted on it once for all modules."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.model import TwoStageModel, fit_two_stage
from ranking.splits import Split
from tests.support.ranking_data import PARAMS, small_split
from tests.support.real_data import cdnow_weeks_summary


@pytest.fixture(scope="module")
def cdnow_summary() -> np.ndarray:
    """(frequency, recency, T, monetary) in weeks of the 2,357 CDNOW sample customers."""
    ids, stats = cdnow_weeks_summary()
    assert len(ids) == 2357
    return stats


@pytest.fixture(scope="session")
def split() -> Split:
    """:func:`tests.support.ranking_data.small_split`."""
    return small_split()


@pytest.fixture(scope="session")
def model(split: Split) -> TwoStageModel:
    """The stage-2 model at :data:`tests.support.ranking_data.PARAMS` on the small split (do not refit it)."""
    return fit_two_stage(split.train, split.valid, PARAMS)
