"""The backtest's verdicts against the baselines, by train's gate rule, said in plain sentences."""

from __future__ import annotations

from pipelines.backtest.verdicts import cutoff_verdict, plain_losses
from ranking.gate import GateRule

GOOD = {"n": 100, "mae": 10.0, "rmse": 20.0, "r2": 0.5, "spearman": 0.6, "gini": 0.7, "top10_share": 0.5,
        "mean_pred": 100.0, "mean_true": 100.0}
CUTOFFS = ["2025-12-01T00:00:00+00:00", "2025-12-31T00:00:00+00:00", "2026-01-30T00:00:00+00:00"]


def _pp(main: dict, btyd: dict | None = None) -> dict:
    """One cutoff's purchasing-power metrics: the main model, persistence (always worse), BTYD."""
    worse = {**GOOD, "mae": 99.0, "rmse": 99.0, "r2": 0.0, "spearman": 0.0, "gini": 0.0, "top10_share": 0.1}
    return {"lightgbm": main, "persistence": worse, "btyd": btyd or worse}


def test_a_model_losing_three_metrics_to_btyd_at_two_cutoffs_is_said_so():
    btyd_better = {**GOOD, "mae": 5.0, "rmse": 10.0, "r2": 0.9}
    verdicts = [cutoff_verdict(_pp(GOOD, btyd_better), "XY", GateRule()), cutoff_verdict(_pp(GOOD), "XY", GateRule()),
                cutoff_verdict(_pp(GOOD, btyd_better), "XY", GateRule())]
    assert [v["passed"] for v in verdicts] == [False, True, False]  # 3 wins of 6: the gate asks for 4
    assert verdicts[0]["baselines"]["btyd"]["losses"] == ["mae", "rmse", "r2"]
    assert plain_losses(CUTOFFS, verdicts, GateRule()) == [
        "lightgbm XY loses to btyd on mae at 2 of 3 cutoffs, rmse at 2 of 3 cutoffs, r2 at 2 of 3 cutoffs",
        "train's promotion gate would refuse the model of 2 of 3 cutoffs (2025-12-01, 2026-01-30)"]
    lenient = GateRule(min_wins=3)
    assert plain_losses(CUTOFFS, [cutoff_verdict(_pp(GOOD, btyd_better), "XY", lenient)] * 3, lenient) == [
        "lightgbm XY loses to btyd on mae at 3 of 3 cutoffs, rmse at 3 of 3 cutoffs, r2 at 3 of 3 cutoffs"]


def test_a_miscalibrated_model_is_refused_by_the_gate_at_its_cutoffs():
    rule = GateRule()
    high = {**GOOD, "mean_pred": 142.5}
    verdicts = [cutoff_verdict(_pp(high), "XY", rule), cutoff_verdict(_pp(GOOD), "XY", rule)]
    assert plain_losses(CUTOFFS[:2], verdicts, rule) == [
        "mean prediction / mean truth outside [0.8, 1.25] at 1 of 2 cutoffs: 2025-12-01 1.425",
        "train's promotion gate would refuse the model of 1 of 2 cutoffs (2025-12-01)"]


def test_cutoffs_without_a_main_model_are_left_out_and_a_clean_run_says_nothing():
    skipped = cutoff_verdict({"lightgbm": {"skipped": "no training rows"}}, "XY", GateRule())
    assert skipped is None and cutoff_verdict({}, "XY", GateRule()) is None
    clean = cutoff_verdict(_pp(GOOD), "XY", GateRule())
    assert plain_losses(CUTOFFS[:2], [skipped, clean], GateRule()) == []
    assert plain_losses(CUTOFFS[:1], [None], GateRule()) == []


def test_a_skipped_baseline_is_listed_not_compared():
    pp = {"lightgbm": GOOD, "btyd": {"skipped": "no orders history"}}
    v = cutoff_verdict(pp, "Y", GateRule())
    assert v["baselines"] == {"btyd": {"skipped": "no orders history"}} and v["passed"]
