"""The small seeded stage-2 workload the ranking tests share: its parameters and its time split."""

from __future__ import annotations

from ranking.params import TrainParams
from ranking.splits import Split, time_split
from ranking.synthetic import synthetic_frame

PARAMS = TrainParams(trials=2, num_boost_round=40, early_stopping_rounds=5, projection_dims=4, seed=3)


def small_split() -> Split:
    """160 synthetic users over 6 cutoffs, time split (a fifth of the cutoffs held out for test)."""
    return time_split(synthetic_frame(n_users=160, n_cutoffs=6, dim=8, seed=11), 0.2, 90, seed=0)
