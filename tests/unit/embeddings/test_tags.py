"""Profile tags against a brute-force computation from the texts up to every (user, t)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embeddings.profiles import review_profiles, search_profiles
from embeddings.tags import centre, cosine_scores, profile_tags, prototype_vectors, tag_columns, user_tags

T0 = pd.Timestamp("2025-01-01", tz="UTC")
HALF_LIFE = 30.0
NAMES = ["alpha", "beta", "gamma"]
SOURCES = [["review", "search"], ["review"], ["search"]]
GROUPS = ["g", "g", None]  # alpha and beta are centred together, gamma stays raw
DIM = 6


def _events(rng: np.random.Generator, n: int, users: list[str], days: int) -> tuple[pd.DataFrame, np.ndarray]:
    events = pd.DataFrame({
        "user_id": pd.array(rng.choice(users, n), dtype="string"),
        "ts": (T0 + pd.to_timedelta(rng.integers(0, days, n) * 3.5, unit="D")).astype("datetime64[us, UTC]"),
    })
    return events, rng.normal(size=(n, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    """Reviews and searches of 5 users (u5 only searches, u4 only reviews), same-time ties included."""
    rng = np.random.default_rng(11)
    reviews = _events(rng, 40, ["u1", "u2", "u3", "u4"], 30)
    searches = _events(rng, 50, ["u1", "u2", "u3", "u5"], 30)
    protos = {k: prototype_vectors(rng.normal(size=(7, DIM)), [0, 0, 1, 1, 1, 2, 2], 3) for k in ("review", "search")}
    return reviews, searches, protos


def _tags(reviews, searches, protos) -> pd.DataFrame:
    return profile_tags(review_profiles(*reviews), search_profiles(*searches, HALF_LIFE), NAMES, protos, SOURCES,
                        GROUPS)


def _profile_at(events: pd.DataFrame, vectors: np.ndarray, user: str, t: pd.Timestamp, decay: bool) -> np.ndarray | None:
    """The profile vector of ``user`` at ``t`` straight from the definition (None: no text yet)."""
    mask = ((events["user_id"] == user) & (events["ts"] <= t)).to_numpy()
    if not mask.any():
        return None
    age = (t - events.loc[mask, "ts"]).dt.total_seconds().to_numpy() / 86400
    w = 0.5 ** (age / HALF_LIFE) if decay else np.ones(mask.sum())
    return (w[:, None] * vectors[mask].astype(np.float64)).sum(0) / w.sum()


def _brute(reviews, searches, protos, user: str, t: pd.Timestamp) -> list[float]:
    """Each tag: the mean cosine over its sources in which the user has a text by t, minus the mean
    of its group's non-null tags."""
    vecs = {"review": _profile_at(*reviews, user, t, False), "search": _profile_at(*searches, user, t, True)}
    raw = []
    for i, srcs in enumerate(SOURCES):
        cos = [float(vecs[k] @ protos[k][i] / np.linalg.norm(vecs[k])) for k in srcs if vecs[k] is not None]
        raw.append(float(np.mean(cos)) if cos else np.nan)
    group = [v for v, g in zip(raw, GROUPS) if g == "g" and not np.isnan(v)]
    return [v - np.mean(group) if g == "g" else v for v, g in zip(raw, GROUPS)]


def test_prototypes_are_unit_means_and_every_tag_needs_a_phrase() -> None:
    vecs = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]])
    got = prototype_vectors(vecs, [0, 0, 1], 2)
    assert np.allclose(got, [[2 ** -0.5, 2 ** -0.5], [0.6, 0.8]])
    with pytest.raises(ValueError, match="without prototype phrases"):
        prototype_vectors(vecs, [0, 0, 0], 2)
    assert np.allclose(cosine_scores(np.array([[2.0, 0.0]]), got), [[2 ** -0.5, 0.6]])


def test_centring_opposes_a_pair_and_skips_nulls_and_ungrouped_tags() -> None:
    values = np.array([[0.9, 0.7, 0.5, 0.8], [0.6, np.nan, 0.4, np.nan]])
    got = centre(values, ["price", "price", None, "cat"])
    np.testing.assert_allclose(got[0], [0.1, -0.1, 0.5, 0.0])
    np.testing.assert_allclose(got[1], [0.0, np.nan, 0.4, np.nan])
    assert centre(values, None) is values


def test_a_profile_scores_the_same_bits_alone_or_among_many_rows() -> None:
    rng = np.random.default_rng(0)
    profiles, protos = rng.normal(size=(3000, 384)), rng.normal(size=(14, 384))
    many = cosine_scores(profiles, protos)
    for lo, n in ((0, 1), (5, 3), (1000, 17), (2000, 333)):
        assert np.array_equal(cosine_scores(profiles[lo:lo + n], protos), many[lo:lo + n])


def test_tags_equal_brute_force_at_every_profile_time(data) -> None:
    reviews, searches, protos = data
    got = _tags(reviews, searches, protos)
    assert list(got.columns) == tag_columns(NAMES)
    want_keys = pd.concat([reviews[0], searches[0]])[["user_id", "ts"]].drop_duplicates()
    assert len(got) == len(want_keys) and not got.duplicated(["user_id", "event_timestamp"]).any()
    for row in got.itertuples(index=False):
        want = _brute(reviews, searches, protos, row.user_id, row.event_timestamp)
        np.testing.assert_allclose(list(row)[2:], want, rtol=0, atol=1e-6, equal_nan=True)  # profiles are float32
    # review-only tag is null for the searches-only user, search-only tag for the reviews-only user
    assert got.loc[got["user_id"] == "u5", "tag_beta"].isna().all()
    assert got.loc[got["user_id"] == "u4", "tag_gamma"].isna().all()
    assert got[got["user_id"] == "u1"].iloc[-1][["tag_alpha", "tag_beta", "tag_gamma"]].notna().all()


def test_texts_after_a_cutoff_do_not_move_earlier_tags(data) -> None:
    reviews, searches, protos = data
    cutoff = T0 + pd.Timedelta(days=60)
    rng = np.random.default_rng(5)
    late_r, late_s = _events(rng, 15, ["u1", "u4", "u6"], 30), _events(rng, 15, ["u2", "u5", "u6"], 30)
    shift = pd.Timedelta(days=61)
    late_r[0]["ts"], late_s[0]["ts"] = late_r[0]["ts"] + shift, late_s[0]["ts"] + shift
    more_r = (pd.concat([reviews[0], late_r[0]], ignore_index=True), np.vstack([reviews[1], late_r[1]]))
    more_s = (pd.concat([searches[0], late_s[0]], ignore_index=True), np.vstack([searches[1], late_s[1]]))
    before, after = _tags(reviews, searches, protos), _tags(more_r, more_s, protos)
    old = before[before["event_timestamp"] <= cutoff].reset_index(drop=True)
    new = after[after["event_timestamp"] <= cutoff].reset_index(drop=True)
    assert len(old) > 10 and len(after) > len(before)
    pd.testing.assert_frame_equal(old, new, check_exact=True)


def test_no_profiles_or_no_tags_give_a_typed_empty_table(data) -> None:
    _, _, protos = data
    empty = profile_tags(None, None, NAMES, protos, SOURCES)
    assert list(empty.columns) == tag_columns(NAMES) and len(empty) == 0
    assert str(empty["event_timestamp"].dtype) == "datetime64[us, UTC]"
    assert list(profile_tags(None, None, [], {}, []).columns) == ["user_id", "event_timestamp"]


def test_one_user_update_scores_like_the_table(data) -> None:
    """Serving recomputes one user's tags from its current profile vectors: same bits as the batch rows."""
    reviews, searches, protos = data
    review, search = review_profiles(*reviews), search_profiles(*searches, HALF_LIFE)
    table = profile_tags(review, search, NAMES, protos, SOURCES, GROUPS)
    for user in ("u1", "u4", "u5"):
        last = {k: (p[p.user_id == user].iloc[-1][f"{k}_embedding"] if (p.user_id == user).any() else None)
                for k, p in (("review", review), ("search", search))}
        want = table[table.user_id == user].iloc[-1][tag_columns(NAMES)[2:]].to_numpy(dtype=float)
        np.testing.assert_array_equal(user_tags(last, protos, SOURCES, GROUPS), want)
