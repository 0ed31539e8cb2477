"""Changing only the texts after a cutoff leaves every stored profile (and profile tag) up to the cutoff bit-identical
(default encoder, default precision): vectors depend on (model, text) alone, not on the corpus."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.embed.job import run_embed
from tests.support.embed_data import REVIEWS, SEARCHES, T0, config, write_curated
from tests.support.embed_data import default_model as e5

pytestmark = pytest.mark.slow
CUTOFF = T0 + pd.Timedelta(days=9)
FUTURE_REVIEWS = [("u1", 12, "完全不一样的长评论：物流很慢，包装破损，客服也不回复，非常失望。" * 3),
                  ("u2", 15, "Short."), ("u4", 20, "A much longer English review about a blender that broke in a week.")]
FUTURE_SEARCHES = [("u1", 11, "蓝牙耳机 降噪"), ("u3", 30, "trail running shoes waterproof size 44")]


def _profiles(data_dir, reviews, searches) -> dict[str, pd.DataFrame]:
    write_curated(data_dir, reviews, searches)
    run_embed(config(data_dir, encoder__model="multilingual-e5-small"), model=e5())
    views = ("user_review_profile", "user_search_profile", "user_profile_tags")
    return {v: pd.read_parquet(data_dir / "features" / f"{v}.parquet") for v in views}


def test_profiles_up_to_a_cutoff_ignore_texts_after_it(tmp_path) -> None:
    before = _profiles(tmp_path / "a", REVIEWS, SEARCHES)
    after = _profiles(tmp_path / "b", REVIEWS + FUTURE_REVIEWS, SEARCHES + FUTURE_SEARCHES)
    for view, frame in before.items():
        old = frame[frame["event_timestamp"] <= CUTOFF].reset_index(drop=True)
        new = after[view][after[view]["event_timestamp"] <= CUTOFF].reset_index(drop=True)
        assert len(old) > 0
        pd.testing.assert_frame_equal(old, new, check_exact=True)  # same bits, not merely close
        assert len(after[view]) > len(frame)  # the future texts did arrive
