"""The none / frozen / fine-tuned encoder ablation (pure part): the point-in-time join of recomputed
profiles, one split for the three rows, and that the fine-tuned row really uses its own X."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embeddings.profiles import review_profiles
from pipelines.finetune.ablation import encoder_ablation, keys_digest, pit_vectors, with_vectors
from pipelines.finetune.examples import label_window, run_cutoffs
from ranking.params import TrainParams
from ranking.synthetic import synthetic_frame

PARAMS = TrainParams(trials=0, num_boost_round=60, early_stopping_rounds=10, projection_dims=4, seed=3)


def _texts(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 60
    events = pd.DataFrame({"user_id": rng.choice(["a", "b", "c"], n),
                           "ts": pd.Timestamp("2025-01-01", tz="UTC")
                           + pd.to_timedelta(rng.integers(0, 200, n), unit="D")})
    return events, rng.standard_normal((n, 4)).astype(np.float32)


def test_pit_vectors_equal_a_brute_force_mean_of_earlier_texts():
    events, vecs = _texts()
    profile = review_profiles(events, vecs)
    keys = pd.DataFrame({"user_id": ["a", "b", "c", "a", "z"],
                         "event_timestamp": pd.to_datetime(["2025-01-01", "2025-03-10", "2025-05-01",
                                                            "2025-12-31", "2025-06-01"], utc=True)})
    got = pit_vectors(keys, profile, "review_embedding")
    for i, row in keys.iterrows():
        mine = (events["user_id"] == row["user_id"]) & (events["ts"] <= row["event_timestamp"])
        if not mine.any():
            assert got[i] is None
        else:
            np.testing.assert_allclose(got[i], vecs[mine.to_numpy()].mean(axis=0), rtol=1e-5, atol=1e-6)


def test_with_vectors_replaces_only_the_embedding_column():
    frame = synthetic_frame(n_users=20, n_cutoffs=3, dim=4, seed=1)
    profile = pd.DataFrame({"user_id": frame["user_id"].astype(str), "event_timestamp": frame["event_timestamp"],
                            "review_embedding": list(np.ones((len(frame), 4), dtype=np.float32))})
    out = with_vectors(frame, {"review_embedding": profile})
    assert all(np.array_equal(v, np.ones(4)) for v in out["review_embedding"])
    pd.testing.assert_frame_equal(out.drop(columns="review_embedding"), frame.drop(columns="review_embedding"))
    with pytest.raises(ValueError, match="no nope_embedding"):
        with_vectors(frame, {"nope_embedding": profile})


def _informative(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``frame`` whose review vectors carry log purchasing power (what a label-tuned encoder learns)."""
    rng = np.random.default_rng(seed)
    y = np.log1p(frame["purchasing_power"].to_numpy(float))
    mat = rng.standard_normal((len(frame), 8)) * 0.05
    mat[:, 0] += y
    out = frame.copy()
    out["review_embedding"] = list(mat.astype(np.float32))
    return out


def test_three_rows_share_one_split_and_the_fine_tuned_row_uses_its_own_vectors():
    frozen = synthetic_frame(n_users=300, n_cutoffs=6, dim=8, seed=5)
    noise = np.random.default_rng(0).standard_normal((len(frozen), 8)).astype(np.float32)
    frozen["review_embedding"] = list(noise)  # the frozen X carries nothing
    tuned = _informative(frozen, 1)
    rows = encoder_ablation(frozen, tuned, PARAMS)
    assert [rows[r]["feature_set"] for r in ("none", "frozen", "fine_tuned")] == ["Y", "XY", "XY"]
    assert len({r["test_keys"] for r in rows.values()}) == 1 and len({r["test_rows"] for r in rows.values()}) == 1
    assert rows["frozen"]["test_rows"] == (frozen["event_timestamp"] == frozen["event_timestamp"].max()).sum()
    assert rows["fine_tuned"]["test"]["pp_r2"] > rows["frozen"]["test"]["pp_r2"] + 0.05
    assert rows["fine_tuned"]["new_user_rows"] > 0 and rows["fine_tuned"]["new_users"]["pp_n"] > 0


def test_frames_that_split_differently_are_refused():
    frozen = synthetic_frame(n_users=60, n_cutoffs=4, dim=8, seed=2)
    tuned = frozen.iloc[:-5].copy()
    with pytest.raises(ValueError, match="splits differently"):
        encoder_ablation(frozen, tuned, PARAMS)


def test_keys_digest_is_order_free_and_row_sensitive():
    frame = synthetic_frame(n_users=10, n_cutoffs=2, dim=4, seed=0)
    assert keys_digest(frame) == keys_digest(frame.iloc[::-1])
    assert keys_digest(frame) != keys_digest(frame.iloc[1:])


def test_label_window_stops_at_a_time_split_runs_first_test_cutoff():
    end = pd.Timestamp("2026-03-01", tz="UTC")
    split = {"strategy": "time", "first_test_cutoff": "2025-12-01T00:00:00+00:00",
             "cutoffs": {"train": ["2025-07-04T00:00:00+00:00"], "test": ["2025-12-01T00:00:00+00:00"]}}
    assert label_window(split, end) == pd.Timestamp("2025-12-01", tz="UTC")
    assert label_window(split, pd.Timestamp("2025-10-01", tz="UTC")) == pd.Timestamp("2025-10-01", tz="UTC")
    assert label_window({"strategy": "user"}, end) == end
    # Gap cutoffs are in run.json's list only: it wins over the split's parts.
    full = ["2025-07-04T00:00:00+00:00", "2025-10-02T00:00:00+00:00", "2025-12-01T00:00:00+00:00"]
    assert len(run_cutoffs({"cutoffs": full, "split": split})) == 3
    assert run_cutoffs({"split": split}) == [pd.Timestamp("2025-07-04", tz="UTC"), pd.Timestamp("2025-12-01", tz="UTC")]
