"""The leak guard on fine-tuned encoders: labels ending after a cutoff are refused."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.backtest.leak_guard import LeakageError, check_encoder_labels

CUTOFF = pd.Timestamp("2025-06-01", tz="UTC")


def test_an_encoder_that_saw_no_label_passes() -> None:
    check_encoder_labels(None, CUTOFF)


def test_labels_ending_by_the_cutoff_pass_and_later_ones_are_refused() -> None:
    check_encoder_labels("2025-06-01T00:00:00+00:00", CUTOFF)
    with pytest.raises(LeakageError, match="fine-tuned on labels available up to 2025-06-02"):
        check_encoder_labels("2025-06-02T00:00:00+00:00", CUTOFF, "ft-abc")
