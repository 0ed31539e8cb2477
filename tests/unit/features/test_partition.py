"""The user-partitioned features build (pure, no Ray): equal to the whole build, rows never dropped."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.features import partition
from pipelines.features.transactional import build_transactional_features
from tests.support.pit_data import TIERS, tricky_tables

WINDOWS = [7, 30, 90, 365]


@pytest.mark.parametrize("per_part", [1, 4, 13, 1000])
def test_partitions_concatenate_to_the_whole_build(per_part):
    tables = tricky_tables(seed=2, n_users=30)
    tables["orders"].loc[tables["orders"].index[::3], "category"] = "rare-" + tables["orders"]["order_id"]
    whole = partition.combine([build_transactional_features(
        tables["users"], tables["orders"], WINDOWS, TIERS, tiers=tables["tiers"], reviews=tables["reviews"],
        searches=tables["searches"])])
    parts = partition.split_by_user(tables, per_part)
    assert sum(len(p["users"]) for p in parts) == len(tables["users"])
    assert sum(len(p["orders"]) for p in parts) == len(tables["orders"])
    built = [partition.build_partition(p, WINDOWS, TIERS, partition.buckets_of(tables)) for p in parts]
    pd.testing.assert_frame_equal(partition.combine(built), whole, check_exact=True)


def test_partition_is_a_stable_hash():
    ids = pd.Series([f"u{i}" for i in range(50)])
    first = partition.partition_of(ids, 4)
    assert (first == partition.partition_of(ids[::-1], 4)[::-1]).all() and set(first) <= {0, 1, 2, 3}
    assert partition.partition_of(pd.Series(["u7"]), 4)[0] == first[7]


def test_events_of_unknown_users_are_an_error_not_a_drop():
    tables = tricky_tables(seed=2, n_users=10)
    tables["orders"].loc[tables["orders"].index[0], "user_id"] = "ghost"
    with pytest.raises(ValueError, match="absent from users"):
        partition.split_by_user(tables, 3)
