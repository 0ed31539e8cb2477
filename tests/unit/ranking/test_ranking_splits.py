"""Train / validation / test splits: no leakage of users or label windows."""

from __future__ import annotations

import pandas as pd
import pytest

from ranking.splits import split_frame, time_split, user_split
from ranking.synthetic import synthetic_frame


@pytest.fixture(scope="module")
def frame():
    return synthetic_frame(n_users=60, n_cutoffs=8, dim=4, seed=2)


def test_time_split_no_training_label_window_overlaps_the_test_period(frame):
    s = time_split(frame, 0.25, 90, seed=0)
    first_test = s.test["event_timestamp"].min()
    for part in (s.train, s.valid):
        assert (part["label_available_at"] <= first_test).all()
        assert (part["event_timestamp"] < first_test).all()
    assert s.train["event_timestamp"].max() < s.valid["event_timestamp"].min()
    assert s.info["rows"]["test"] == 2 * 60 and s.info["dropped_gap_rows"] > 0
    assert sum(s.info["rows"].values()) + s.info["dropped_gap_rows"] == len(frame)


def test_time_split_holds_out_the_given_number_of_latest_cutoffs(frame):
    cutoffs = sorted(frame["event_timestamp"].unique())
    one = split_frame(frame, "time", 0.25, 90, 0, test_cutoffs=1)  # 0.25 of 8 cutoffs would be 2
    assert sorted(one.test["event_timestamp"].unique()) == cutoffs[-1:]
    assert one.valid["event_timestamp"].unique().tolist() == [cutoffs[-4]]  # label windows closed by the test
    three = time_split(frame, 0.25, 90, seed=0, test_cutoffs=3)
    assert sorted(three.test["event_timestamp"].unique()) == cutoffs[-3:]
    with pytest.raises(ValueError, match="label window closed"):  # 7 of 8 (never all): nothing left to train on
        time_split(frame, 0.25, 90, seed=0, test_cutoffs=99)


def test_time_split_uses_label_available_at_column(frame):
    late = frame.copy()
    late["label_available_at"] = late["label_available_at"] + pd.Timedelta(days=60)  # labels close later
    assert len(time_split(late, 0.25, 90, seed=0).train) < len(time_split(frame, 0.25, 90, seed=0).train)


def test_time_split_with_one_eligible_cutoff_carves_validation_users():
    f = synthetic_frame(n_users=40, n_cutoffs=4, dim=4, seed=3)  # every 30 d, H = 90: one eligible cutoff
    s = time_split(f, 0.2, 90, seed=0)
    assert "user share" in s.info["validation"]
    assert not set(s.train["user_id"]) & set(s.valid["user_id"])
    assert s.info["valid_label_overlap_days"] == 0  # same cutoff, other users: nothing remembered


def test_time_split_without_an_eligible_cutoff_is_a_clear_error():
    f = synthetic_frame(n_users=10, n_cutoffs=3, dim=4, seed=3)
    with pytest.raises(ValueError, match="label window closed"):
        time_split(f, 0.2, 90, seed=0)


def test_user_split_keeps_every_user_in_one_part_and_is_seeded(frame):
    s = user_split(frame, 0.2, seed=7)
    users = [set(p["user_id"]) for p in (s.train, s.valid, s.test)]
    assert not users[0] & users[2] and not users[1] & users[2] and not users[0] & users[1]
    assert sum(len(u) for u in users) == frame["user_id"].nunique()
    assert sorted(s.test["event_timestamp"].unique()) == sorted(frame["event_timestamp"].unique())
    assert set(user_split(frame, 0.2, seed=7).test["user_id"]) == users[2]
    assert set(user_split(frame, 0.2, seed=8).test["user_id"]) != users[2]


def test_unknown_strategy_is_rejected(frame):
    with pytest.raises(ValueError, match="unknown split strategy"):
        split_frame(frame, "random", 0.2, 90, 0)


def test_time_split_reports_how_far_training_labels_reach_into_the_validation_window(frame):
    s = time_split(frame, 0.25, 90, seed=0, test_cutoffs=1)
    brute = max((end - s.valid["event_timestamp"].min()).days for end in s.train["label_available_at"])
    assert s.info["valid_label_overlap_days"] == max(brute, 0) > 0  # monthly cutoffs, 90-day labels
    wide = frame.copy()
    wide["label_available_at"] = wide["event_timestamp"] + pd.Timedelta(days=1)  # labels close the next day
    assert time_split(wide, 0.25, 1, seed=0, test_cutoffs=1).info["valid_label_overlap_days"] == 0
    assert user_split(frame, 0.2, seed=0).info["valid_label_overlap_days"] == 0
