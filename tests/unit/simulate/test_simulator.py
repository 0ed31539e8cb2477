"""The e-commerce simulator and `powertier generate`: contract, determinism, realism knobs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from embeddings.cleaning import redact_series
from pipelines.cli import app
from pipelines.simulate.simulator import RAW_TABLES, simulate, simulate_with_latent
from pipelines.simulate.params import SimParams
from pipelines.simulate.text import CATEGORY_NAMES
from pipelines.simulate.tiers import assess_tiers, tier_rule

START = pd.Timestamp("2025-01-01", tz="UTC")
DAYS = 150
TS = "datetime64[us, UTC]"
COLUMNS = {
    "users": ["user_id", "signup_ts"],
    "orders": ["order_id", "user_id", "ts", "amount", "status", "category", "discount"],
    "reviews": ["review_id", "user_id", "ts", "text", "rating", "category"],
    "searches": ["search_id", "user_id", "ts", "query"],
    "tiers": ["user_id", "ts", "tier"],
}


@pytest.fixture(scope="module")
def sim() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return simulate_with_latent(800, DAYS, seed=5, start="2025-01-01")


@pytest.fixture(scope="module")
def tables(sim) -> dict[str, pd.DataFrame]:
    return sim[0]


@pytest.fixture(scope="module")
def demo() -> dict[str, pd.DataFrame]:
    """The `make demo` size (about 2 s)."""
    return simulate(3000, 540, seed=7)


def test_same_seed_same_tables_other_seed_differs() -> None:
    a, b = simulate(120, 60, seed=3), simulate(120, 60, seed=3)
    for name in RAW_TABLES:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["orders"]["amount"].equals(simulate(120, 60, seed=4)["orders"]["amount"])


def test_every_table_follows_the_raw_contract(tables) -> None:
    assert set(tables) == set(RAW_TABLES)
    for name, cols in COLUMNS.items():
        df = tables[name]
        assert len(df) > 0, name
        assert set(cols) <= set(df.columns), name
        for col in ("ts", "signup_ts"):
            if col in df:
                assert str(df[col].dtype) == TS, (name, col)
        assert df[cols].drop(columns=["rating"], errors="ignore").notna().all().all(), name
    orders, reviews = tables["orders"], tables["reviews"]
    assert (orders["amount"] >= 0).all() and (orders["discount"] >= 0).all()
    assert set(orders["status"]) == {"completed", "returned", "cancelled"}
    assert set(orders["category"]) <= set(CATEGORY_NAMES) and set(reviews["category"]) <= set(CATEGORY_NAMES)
    assert reviews["rating"].dropna().isin([1.0, 2.0, 3.0, 4.0, 5.0]).all()
    assert reviews["rating"].isna().any()  # optional field really is optional


def test_ids_unique_and_events_reference_known_users(tables) -> None:
    for name, id_col in (("users", "user_id"), ("orders", "order_id"), ("reviews", "review_id"),
                         ("searches", "search_id")):
        assert tables[name][id_col].is_unique, name
        assert tables[name][id_col].map(type).eq(str).all(), name
    known = set(tables["users"]["user_id"])
    for name in ("orders", "reviews", "searches", "tiers"):
        assert set(tables[name]["user_id"]) <= known, name
    assert not tables["tiers"].duplicated(["user_id", "ts"]).any()


def test_timestamps_inside_period_and_after_signup(tables) -> None:
    end = START + pd.Timedelta(days=DAYS)
    signup = tables["users"].set_index("user_id")["signup_ts"]
    assert signup.between(START, end).all()
    for name in ("orders", "reviews", "searches", "tiers"):
        df = tables[name]
        assert df["ts"].between(START, end).all(), name
        assert (df["ts"] >= signup.loc[df["user_id"]].to_numpy()).all(), name
    tiers = tables["tiers"]
    assert (tiers["ts"] > signup.loc[tiers["user_id"]].to_numpy()).all()
    assert (tiers["ts"].dt.day == 1).all() and (tiers["ts"].dt.hour == 0).all()


def test_users_keep_arriving_and_statuses_have_realistic_rates(tables) -> None:
    end = START + pd.Timedelta(days=DAYS)
    assert (tables["users"]["signup_ts"] >= end - pd.Timedelta(days=30)).sum() >= 40
    status = tables["orders"]["status"].value_counts(normalize=True)
    assert 0.04 < status["returned"] < 0.13 and 0.015 < status["cancelled"] < 0.08
    assert 0.1 < (tables["orders"]["discount"] > 0).mean() < 0.5


def test_most_users_spend_nothing_over_the_next_90_days(tables) -> None:
    cut = START + pd.Timedelta(days=60)
    users = tables["users"].loc[tables["users"]["signup_ts"] < cut, "user_id"]
    o = tables["orders"]
    future = o[(o["status"] == "completed") & (o["ts"] > cut) & (o["ts"] <= cut + pd.Timedelta(days=90))]
    zero_share = 1 - users.isin(future["user_id"]).mean()
    assert 0.5 < zero_share < 0.85


def test_search_queries_repeat_heavily(tables) -> None:
    queries = tables["searches"]["query"]
    counts = queries.value_counts()
    assert counts.head(10).sum() / len(queries) > 0.10
    assert len(counts) / len(queries) < 0.5


def test_some_reviews_are_chinese(tables) -> None:
    zh_share = tables["reviews"]["text"].str.contains(r"[\u4e00-\u9fff]").mean()
    assert 0.03 < zh_share < 0.25


def test_raw_texts_carry_some_pii(tables) -> None:
    for name, col in (("reviews", "text"), ("searches", "query")):
        redacted, counts = redact_series(tables[name][col])
        share = redacted.str.contains("<EMAIL>|<PHONE>|<CARD>", regex=True).mean()
        assert sum(counts.values()) > 0 and 0.003 < share < 0.08, (name, counts, share)


def test_identical_ads_are_posted_by_many_users(demo) -> None:
    reviews = demo["reviews"]
    ads = reviews[reviews["text"].str.contains(r"http|www\.", regex=True)]
    assert 0.01 < len(ads) / len(reviews) < 0.08
    assert ads.groupby("text")["user_id"].nunique().max() >= 5


def test_wording_follows_the_latent_affluence(sim) -> None:
    tables, latent = sim
    texts = pd.concat([tables["reviews"][["user_id", "text"]],
                       tables["searches"].rename(columns={"query": "text"})[["user_id", "text"]]])
    premium = texts["text"].str.contains(r"luxury|premium|designer|genuine|craftsmanship|高端|正品")
    affluence = latent.set_index("user_id")["affluence"].loc[texts["user_id"]].to_numpy()
    assert premium[affluence > 1].mean() > 2 * premium[affluence < -1].mean()


def test_tier_names_come_from_the_argument() -> None:
    tiers = simulate(300, 120, seed=2, tiers=["basic", "plus", "vip"])["tiers"]
    assert set(tiers["tier"]) <= {"basic", "plus", "vip"} and tiers["tier"].nunique() >= 2


def test_tier_rule_thresholds_orders_and_grace() -> None:
    p = SimParams()
    threshold, min_orders = tier_rule(4, p)
    assert np.all(np.diff(threshold) > 0) and list(min_orders) == [0, 1, 3, 6]
    at = np.array([400.0, 430.0, 800.0])
    # user 0: six big orders -> top; user 1: one big order -> 2nd tier only; user 2: nothing;
    # users 3 and 4: just qualify for tier 1, then an old order leaves the window: 3 stays within
    # the grace margin, 4 falls below it; user 5 signs up after the first assessment.
    low = threshold[1]
    user = np.array([0] * 6 + [1, 3, 3, 4, 4])
    t = np.array([100, 150, 200, 250, 300, 350, 390.0, 50, 300, 50, 300])
    amount = np.array([threshold[3]] * 7 + [0.2 * low, 0.9 * low, 0.5 * low, 0.6 * low])
    signup = np.array([0, 0, 0, 0, 0, 410.0])
    u, j, k = assess_tiers(user, t, amount, signup, at, 4, p)
    tier = {(a, b): c for a, b, c in zip(u, j, k)}
    assert tier[(0, 0)] == 3 and tier[(1, 0)] == 1 and tier[(2, 0)] == 0
    assert tier[(3, 0)] == 1 and tier[(4, 0)] == 1
    assert tier[(3, 1)] == 1 and tier[(4, 1)] == 0
    assert tier[(0, 2)] == 0 and tier[(1, 2)] == 0  # nothing in the trailing 365 days any more
    assert (5, 0) not in tier and tier[(5, 1)] == 0


def test_demo_size_volumes_fit_cpu_embedding_budget(demo) -> None:
    assert len(demo["reviews"]) <= 10_000 and len(demo["searches"]) <= 40_000
    last_year = demo["tiers"][demo["tiers"]["ts"] >= START + pd.Timedelta(days=200)]
    share = last_year["tier"].value_counts(normalize=True)
    assert share["bronze"] > share["silver"] > share["gold"] > share["platinum"] > 0.01


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        simulate(0, 10, seed=1)
    with pytest.raises(ValueError):
        simulate(10, 10, seed=1, tiers=["only"])


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_cli_writes_a_raw_dir(tmp_path, fmt) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'ws'}\ntiers: [low, mid, high]\n")
    args = ["generate", "--users", "80", "--days", "70", "--seed", "9", "--format", fmt, "--config", str(cfg)]
    runner = CliRunner()
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "b")]).exit_code == 0
    read = pd.read_parquet if fmt == "parquet" else pd.read_csv
    for name in RAW_TABLES:
        path = tmp_path / "a" / f"{name}.{fmt}"
        assert path.read_bytes() == (tmp_path / "b" / f"{name}.{fmt}").read_bytes(), name
        df = read(path)
        assert f"{len(df):,}" in first.output and set(COLUMNS[name]) <= set(df.columns)
    assert set(read(tmp_path / "a" / f"tiers.{fmt}")["tier"]) <= {"low", "mid", "high"}
    assert str(tmp_path / "a") in first.output.replace("\n", "")


def test_cli_refuses_mixed_formats_and_bad_dates(tmp_path) -> None:
    runner = CliRunner()
    base = ["generate", "--users", "20", "--days", "20", "--out", str(tmp_path)]
    assert runner.invoke(app, base).exit_code == 0
    mixed = runner.invoke(app, [*base, "--format", "csv"])
    flat = lambda text: re.sub(r"[\s│╭╮╰╯─]", "", text)  # noqa: E731  (the error panel wraps lines)
    assert mixed.exit_code == 2 and "users.parquet" in flat(mixed.output)
    bad = runner.invoke(app, [*base, "--start", "someday"])
    assert bad.exit_code == 2 and "someday" in flat(bad.output)
