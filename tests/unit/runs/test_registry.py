"""Run management logic: headline numbers, comparison, promotion history and rollback targets."""

from __future__ import annotations

from pipelines.runs import registry


def _metrics(gini: float, qwk: float) -> dict:
    return {"main_feature_set": "XY",
            "purchasing_power": {"lightgbm": {"XY": {"gini": gini, "rmse": 100 - gini}}, "persistence": {"gini": 0.4}},
            "tier": {"lightgbm": {"XY": {"qwk": qwk}}, "persistence": {"qwk": 0.5}}}


def test_compare_says_which_run_is_better_per_metric():
    a = {"metrics": _metrics(0.6, 0.7), "run": {"feature_set": "XY", "split": {"rows": {"test": 300}}}}
    b = {"metrics": _metrics(0.65, 0.6), "run": {"feature_set": "XY", "split": {"rows": {"test": 310}}}}
    rows = {label: (va, vb, better) for label, va, vb, better in registry.compare(a, b)}
    assert rows["pp gini"] == (0.6, 0.65, "B")
    assert rows["pp rmse"] == (99.4, 99.35, "B")  # lower is better
    assert rows["tier qwk"] == (0.7, 0.6, "A")
    assert rows["persistence pp gini"] == (0.4, 0.4, "")
    assert rows["test rows"] == (300, 310, "")


def test_config_differences_name_nested_keys():
    diffs = registry.config_differences({"seed": 1, "train": {"trials": 4, "split": "time"}},
                                        {"seed": 1, "train": {"trials": 8, "split": "time"}})
    assert diffs == [("train.trials", 4, 8)]


def test_config_differences_open_a_section_only_one_run_has():
    # A run made before a config section existed (None) against one that has it: its leaves, not
    # the whole section printed as one value.
    diffs = registry.config_differences({"tags": None, "seed": 1}, {"tags": {"enabled": True, "tags": [1]}, "seed": 1})
    assert diffs == [("tags.enabled", None, True), ("tags.tags", None, [1])]


def test_rollback_walks_back_through_promotions():
    history: list[dict] = []
    for run in ("a", "b", "c"):
        history.append(registry.promotion_event("promote", run, "t", history))
    assert registry.serving(history)["run_id"] == "c" and registry.rollback_target(history) == "b"
    history.append(registry.promotion_event("rollback", "b", "t", history))
    assert registry.rollback_target(history) == "a"  # not back to the undone "c"
    history.append(registry.promotion_event("rollback", "a", "t", history))
    assert registry.rollback_target(history) is None


def test_gate_verdict_is_read_from_run_json():
    assert registry.gate_passed({"verdict": {"passed": False, "reasons": ["loses to persistence"]}}) is False
    assert registry.gate_reasons({"verdict": {"passed": False, "reasons": ["loses"]}}) == ["loses"]
    assert registry.gate_passed({"gate": {"passed": True}}) is True
    assert registry.gate_passed({}) is None
