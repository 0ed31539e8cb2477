"""Which texts teach the fine-tuned encoder what: point in time, labels known by the end, users split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.finetune.examples import build_pairs, pair_texts

T = pd.Timestamp("2025-01-01", tz="UTC")
DAY = pd.Timedelta(days=1)


def _labels() -> pd.DataFrame:
    rows = [(u, c) for u in ("a", "b") for c in (10, 40)]
    return pd.DataFrame({"user_id": [u for u, _ in rows], "event_timestamp": [T + c * DAY for _, c in rows],
                         "purchasing_power": [100.0, 200.0, 0.0, 50.0],
                         "tier_next": pd.array([1, 2, None, 0], dtype="Int64"),
                         "label_available_at": [T + (c + 90) * DAY for _, c in rows]})


def _texts() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["a", "a", "b", "b"], "ts": [T + 5 * DAY, T + 20 * DAY, T + 9 * DAY, T + 41 * DAY],
                         "text": ["early a", "late a", "early b", "after all cutoffs"]})


def test_a_text_gets_its_authors_label_at_the_first_cutoff_after_it() -> None:
    got = pair_texts(_texts(), _labels(), T + 365 * DAY, "log_pp").set_index("text")
    assert got.loc["early a", "target"] == np.log1p(100.0) and got.loc["late a", "target"] == np.log1p(200.0)
    assert got.loc["early a", "cutoff"] == T + 10 * DAY
    assert "after all cutoffs" not in got.index  # no later cutoff: no label for it


def test_only_labels_available_by_the_end_are_used() -> None:
    got = pair_texts(_texts(), _labels(), T + 100 * DAY, "log_pp")  # the day-40 windows close on day 130
    assert set(got["text"]) == {"early a", "early b"}
    # Changing the future (labels after the end) changes nothing.
    future = _labels().assign(purchasing_power=[100.0, 9e9, 0.0, 9e9])
    pd.testing.assert_frame_equal(got, pair_texts(_texts(), future, T + 100 * DAY, "log_pp"))


def test_a_missing_tier_label_passes_the_text_to_the_next_cutoff() -> None:
    got = pair_texts(_texts(), _labels(), T + 365 * DAY, "tier_next").set_index("text")
    assert set(got.index) == {"early a", "late a", "early b"}
    assert got.loc["early b", "target"] == 0 and got.loc["early b", "cutoff"] == T + 40 * DAY  # day 10: null


def test_users_split_whole_and_targets_standardised_on_the_fitting_side() -> None:
    pairs = pd.DataFrame({"user_id": np.repeat([f"u{i}" for i in range(20)], 3), "text": [f"t{i}" for i in range(60)],
                          "target": np.arange(60, dtype=float), "cutoff": T})
    out = build_pairs(pairs, "log_pp", 0.25, 1000, seed=1)
    by_text = dict(zip(pairs["text"], pairs["user_id"]))
    assert not {by_text[t] for t in out.train.texts} & {by_text[t] for t in out.valid.texts}
    assert out.info["valid_users"] == 5 and abs(out.train.targets.mean()) < 1e-9
    capped = build_pairs(pairs, "log_pp", 0.25, 8, seed=1)
    assert capped.info["train_texts"] == 8 and capped.info["valid_texts"] == 2
