"""Profiles X against a brute-force computation at every (user, t), and their table layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embeddings.profiles import empty_profile, profile_columns, review_profiles, search_profiles

T0 = pd.Timestamp("2025-01-01", tz="UTC")


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    """60 events of 4 users over ~300 days, with same-time ties; 8-dimensional vectors."""
    rng = np.random.default_rng(3)
    n = 60
    events = pd.DataFrame({
        "user_id": pd.array(rng.choice(["u1", "u2", "u3", "u10"], n), dtype="string"),
        "ts": (T0 + pd.to_timedelta(rng.integers(0, 40, n) * 7.5, unit="D")).astype("datetime64[us, UTC]"),
    })
    return events, rng.normal(size=(n, 8)).astype(np.float32)


def brute_force(events: pd.DataFrame, vectors: np.ndarray, kind: str, half_life: float | None) -> pd.DataFrame:
    """The profile value at every (user, distinct ts), straight from the definition."""
    rows = []
    for (user, t), _ in events.groupby(["user_id", "ts"]):
        mask = ((events["user_id"] == user) & (events["ts"] <= t)).to_numpy()
        vecs = vectors[mask].astype(np.float64)
        if half_life is None:
            weights = np.ones(len(vecs))
        else:
            age_days = (t - events.loc[mask, "ts"]).dt.total_seconds().to_numpy() / 86400
            weights = 0.5 ** (age_days / half_life)
        extra = (float(weights.sum()),) if kind == "search" else ()
        rows.append((user, t, (weights[:, None] * vecs).sum(0) / weights.sum(), int(mask.sum()), *extra))
    return pd.DataFrame(rows, columns=profile_columns(kind))


def _compare(got: pd.DataFrame, want: pd.DataFrame, kind: str) -> None:
    got = got.sort_values(["user_id", "event_timestamp"]).reset_index(drop=True)
    assert list(got.columns) == profile_columns(kind)
    assert got["user_id"].tolist() == want["user_id"].tolist()
    assert (got["event_timestamp"] == want["event_timestamp"]).all()
    assert got[f"{kind}_count"].tolist() == want[f"{kind}_count"].tolist()
    diff = np.abs(np.stack(got[f"{kind}_embedding"]) - np.stack(want[f"{kind}_embedding"]))
    assert diff.max() < 1e-6
    if kind == "search":  # the decay-weight sum serving extends online
        assert np.allclose(got["search_weight"], want["search_weight"], rtol=1e-9)


def test_review_profile_is_the_mean_up_to_each_time(data) -> None:
    events, vectors = data
    _compare(review_profiles(events, vectors), brute_force(events, vectors, "review", None), "review")


@pytest.mark.parametrize("half_life", [30.0, 2.0, 0.05])
def test_search_profile_is_the_decayed_mean_up_to_each_time(data, half_life) -> None:
    # 0.05 days over ~300 days is ~6000 half-lives: exercises the rebasing segments.
    events, vectors = data
    got = search_profiles(events, vectors, half_life)
    _compare(got, brute_force(events, vectors, "search", half_life), "search")


def test_decayed_mean_is_pulled_toward_recent_searches() -> None:
    events = pd.DataFrame({"user_id": ["u"] * 2, "ts": [T0, T0 + pd.Timedelta(days=30)]})
    vectors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    last = np.asarray(search_profiles(events, vectors, 30.0)["search_embedding"].iloc[-1])
    assert np.allclose(last, [1 / 3, 2 / 3])  # weights 1/2 and 1


def test_profiles_are_float32_with_int64_counts_and_us_utc_times(data) -> None:
    events, vectors = data
    df = review_profiles(events.iloc[::-1], vectors[::-1])  # input order does not matter
    assert str(df["event_timestamp"].dtype) == "datetime64[us, UTC]"
    assert df["review_count"].dtype == np.int64
    assert all(v.dtype == np.float32 and v.shape == (8,) for v in df["review_embedding"])
    _compare(df, brute_force(events, vectors, "review", None), "review")


def test_users_without_texts_get_no_rows_and_empty_input_gives_typed_empty_tables() -> None:
    empty_events = pd.DataFrame({"user_id": pd.Series(dtype="string"), "ts": pd.Series(dtype="datetime64[us, UTC]")})
    for df, kind in ((review_profiles(empty_events, np.zeros((0, 4), np.float32)), "review"),
                     (search_profiles(empty_events, np.zeros((0, 4), np.float32), 30.0), "search"),
                     (empty_profile("search", 4), "search")):
        assert len(df) == 0 and list(df.columns) == profile_columns(kind)
        assert str(df["event_timestamp"].dtype) == "datetime64[us, UTC]" and df[f"{kind}_count"].dtype == np.int64

