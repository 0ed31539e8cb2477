"""Backtest on a tiny simulated workspace: cutoffs and example counts, one retrieval,
reproducibility, the CLI end to end."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.storage import feast_store
from pipelines.backtest.verdicts import NEVER_LOST
from pipelines.backtest.job import BacktestPlan, plan_backtest, run_backtest, save_backtest
from pipelines.cli import app
from pipelines.common.errors import UserError
from pipelines.common.config import load_config
from pipelines.storage.curated import load_curated
from pipelines.common.workspace import Workspace
from tests.support.backtest_data import END, EVERY, START, cutoffs

METRICS_JSON_NAMES = {"n", "mae", "rmse", "r2", "spearman", "gini", "top10_share", "top10_share_oracle",
                      "mean_true", "mean_pred", "accuracy", "macro_f1", "qwk", "auc_ovr"}


@pytest.fixture(scope="module")
def store(backtest_ws):
    return feast_store.open_store(backtest_ws)


@pytest.fixture(scope="module")
def outcome(backtest_ws, store):
    return run_backtest(backtest_ws, store, pd.Timestamp(START, tz="UTC"), pd.Timestamp(END, tz="UTC"), EVERY)


def test_training_cutoffs_close_their_labels_by_the_cutoff():
    plan = BacktestPlan(tuple(cutoffs()), horizon_days=90, train_every_days=30, n_train_cutoffs=3)
    c = cutoffs()[0]
    assert plan.training_cutoffs(c) == [c - pd.Timedelta(days=d) for d in (150, 120, 90)]
    # 3 backtest cutoffs 30 days apart share training cutoffs: 3 + 2 extra training-only ones + overlaps
    assert plan.all_cutoffs() == sorted({*cutoffs(), *[c - pd.Timedelta(days=d) for c in cutoffs()
                                                         for d in (150, 120, 90)]})
    assert len(plan.all_cutoffs()) == 8


def test_plan_refuses_cutoffs_whose_outcomes_are_not_known_yet(backtest_ws):
    data_end = pd.Timestamp("2026-01-01", tz="UTC")
    with pytest.raises(UserError, match="last cutoff that can be evaluated is 2025-10-03"):
        plan_backtest(backtest_ws, pd.Timestamp("2025-09-01", tz="UTC"), pd.Timestamp("2025-12-01", tz="UTC"), 30,
                      data_end)
    with pytest.raises(UserError, match="before --start"):
        plan_backtest(backtest_ws, pd.Timestamp("2025-09-01", tz="UTC"), pd.Timestamp("2025-08-01", tz="UTC"), 30,
                      data_end)


def test_counts_per_cutoff_match_the_users_signed_up(backtest_ws, outcome):
    users = load_curated(Workspace(backtest_ws.data_dir))["users"]
    signed = lambda t: int((users["signup_ts"] <= t).sum())  # noqa: E731
    plan = outcome["plan"]
    assert [pd.Timestamp(s["cutoff"]) for s in outcome["summaries"]] == cutoffs()
    for s in outcome["summaries"]:
        c = pd.Timestamp(s["cutoff"])
        assert s["n_scored"] == signed(c) > 0
        assert s["n_train"] == sum(signed(t) for t in plan.training_cutoffs(c)) > 0
        assert s["n_train_cutoffs"] == 3
    preds = outcome["predictions"]
    assert preds.groupby("cutoff").size().tolist() == [s["n_scored"] for s in outcome["summaries"]]
    assert outcome["entity_rows"] == sum(signed(t) for t in plan.all_cutoffs())


def test_results_and_predictions_layout(outcome):
    res = outcome["results"]
    assert list(res.columns) == ["cutoff", "target", "model", "feature_set", "metric", "value"]
    assert set(res["model"]) == {"lightgbm", "linear", "persistence", "btyd", "btyd_pareto_nbd"}
    for kind in ("btyd", "btyd_pareto_nbd"):  # both classic BTYD models, spend only, no feature set
        assert set(res.loc[res.model == kind, "target"]) == {"purchasing_power"}
        assert set(res.loc[res.model == kind, "feature_set"]) == {""}
    base = {m.split(".")[0] for m in res["metric"]}
    assert base <= METRICS_JSON_NAMES | {"recall"} and {"gini", "rmse", "qwk"} <= base
    assert not res.duplicated(["cutoff", "target", "model", "metric"]).any()
    preds = outcome["predictions"]
    for col in ("cutoff", "user_id", "purchasing_power_pred", "tier_pred", "tier_proba_bronze",
                "tier_proba_platinum", "purchasing_power_true", "tier_true", "purchasing_power_btyd",
                "purchasing_power_btyd_pareto_nbd", "horizon_days"):
        assert col in preds.columns
    assert preds[[c for c in preds if c.startswith("tier_proba_")]].sum(axis=1).round(6).eq(1.0).all()
    drift = outcome["drift"]
    assert {"feature", "prediction"} == set(drift["kind"]) and (drift["psi"].dropna() >= 0).all()


def test_features_come_from_one_historical_retrieval(backtest_ws, store, monkeypatch):
    calls = []
    real = feast_store.historical_features
    monkeypatch.setattr(feast_store, "historical_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    run_backtest(backtest_ws, store, pd.Timestamp(START, tz="UTC"), pd.Timestamp(END, tz="UTC"), EVERY)
    assert len(calls) == 1


def test_same_config_and_seed_give_identical_results(backtest_ws, store):
    cfg = load_config(backtest_ws.data_dir / "powertier.yaml", data_dir=backtest_ws.data_dir, train__trials=2)
    runs = [run_backtest(cfg, store, pd.Timestamp(START, tz="UTC"), pd.Timestamp(END, tz="UTC"), EVERY)
            for _ in range(2)]  # with Optuna on: its sampler is seeded too
    pd.testing.assert_frame_equal(runs[0]["results"], runs[1]["results"], check_exact=True)
    args = {"start": START, "end": END}
    first, second = (save_backtest(cfg, run, args) for run in runs)
    assert first != second
    assert (first / "results.parquet").read_bytes() == (second / "results.parquet").read_bytes()
    assert (backtest_ws.data_dir / "backtests" / "latest").resolve() == second.resolve()


@pytest.mark.slow
def test_cli_end_to_end(backtest_ws):
    ws = backtest_ws.data_dir
    result = CliRunner().invoke(app, ["backtest", "--start", START, "--end", END, "--every", f"{EVERY}d",
                                      "--horizon", "90d", "--trials", "0", "--config", str(ws / "powertier.yaml")],
                                env={"POWERTIER_DATA_DIR": str(ws)})
    assert result.exit_code == 0, result.output
    assert "n_train" in result.output and "pp gini" in result.output and "report:" in result.output
    out = (ws / "backtests" / "latest").resolve()
    assert str(out / "report.html") in result.output.replace("\n", "")
    for name in ("results.parquet", "predictions.parquet", "drift.parquet", "report.html", "config.json",
                 "backtest.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["train"]["trials"] == 0
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 5 and "persistence" in html and "PSI" in html
    # The verdicts against the baselines, by train's rule: stored, printed, and on the page.
    info = json.loads((out / "backtest.json").read_text())
    assert info["rule"].startswith("promote if") and isinstance(info["losses"], list)
    assert all(s["verdict"]["main"].startswith("lightgbm") for s in info["summaries"])
    said = info["losses"] or [NEVER_LOST]
    flat = " ".join(result.output.split())
    assert all(" ".join(line.split())[:60] in flat for line in said), said
    assert "Against the baselines" in html and "BTYD" in result.output
    assert pd.read_parquet(out / "results.parquet")["cutoff"].nunique() == len(cutoffs())


def test_cli_rejects_a_range_past_the_data(backtest_ws):
    ws = backtest_ws.data_dir
    result = CliRunner().invoke(app, ["backtest", "--start", "2025-12-01", "--end", "2026-01-01",
                                      "--config", str(ws / "powertier.yaml")], env={"POWERTIER_DATA_DIR": str(ws)})
    text = " ".join(result.output.replace("│", " ").split())  # the error panel wraps long lines
    assert result.exit_code == 2 and "outcome window" in text and "Traceback" not in text
