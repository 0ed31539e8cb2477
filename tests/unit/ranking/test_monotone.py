"""Monotone constraints on the spend model (``train.monotone_increasing``): the fitted prediction
never falls as a constrained input rises; a column the design lacks is an error or a note."""

from __future__ import annotations

import numpy as np
import pytest

from ranking import gbm
from ranking.params import TrainParams

NAMES = ["f0", "f1", "f2"]


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-inflated spend that FALLS with f0 (so an unconstrained fit decreases in it) and rises with f1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    buys = rng.random(n) < 1 / (1 + np.exp(X[:, 0]))
    return X, np.where(buys, np.exp(2 - 0.8 * X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.5, n)), 0.0)


def _fit(increasing: tuple[str, ...]) -> tuple[dict, str, dict]:
    X, y = _data(500, 0)
    Xv, yv = _data(200, 1)
    p = TrainParams(seed=0, trials=0, num_boost_round=60, early_stopping_rounds=10, split="time",
                    monotone_increasing=increasing)
    return gbm.fit_purchasing_power(X, y, Xv, yv, NAMES, p)


def _largest_drop_along_f0(boosters: dict, objective: str, info: dict) -> float:
    """The largest fall of the prediction as f0 sweeps upwards, over 30 rows' other inputs."""
    rows, _ = _data(30, 2)
    grid = np.linspace(-3, 3, 41)
    worst = 0.0
    for row in rows:
        Z = np.tile(row, (len(grid), 1))
        Z[:, 0] = grid
        pred = gbm.predict_selected(boosters, objective, info, Z)
        worst = max(worst, float(np.max(-np.diff(pred))))
    return worst


def test_monotone_params_align_with_the_design_and_refuse_unknown_columns():
    assert gbm.monotone_params(NAMES, ()) == {}
    params = gbm.monotone_params(NAMES, ("f2", "f0"))
    assert params["monotone_constraints"] == [1, 0, 1]
    with pytest.raises(ValueError, match="not model inputs.*'nope'"):
        gbm.monotone_params(NAMES, ("f0", "nope"))


@pytest.mark.parametrize("objective", ["selected", "tweedie", "ziln"])
def test_constrained_spend_never_falls_as_the_input_rises(objective):
    boosters, selected, info = _fit(("f0",))
    name = selected if objective == "selected" else objective
    assert _largest_drop_along_f0(boosters, name, info) <= 1e-9


def test_without_the_constraint_the_same_data_give_a_falling_prediction():
    boosters, selected, info = _fit(())
    assert _largest_drop_along_f0(boosters, selected, info) > 1.0


def test_params_round_trip_and_old_runs_read_without_the_field():
    p = TrainParams(monotone_increasing=("btyd_expected_spend",))
    assert TrainParams.from_dict(p.to_dict()) == p
    old = {k: v for k, v in p.to_dict().items() if k != "monotone_increasing"}
    assert TrainParams.from_dict(old).monotone_increasing == ()


def test_a_constrained_column_missing_from_the_design_is_noted_not_dropped_silently():
    from ranking.model import TwoStageModel

    model = TwoStageModel(TrainParams(monotone_increasing=("spend_365d", "btyd_expected_spend")), "XY", ("spend_365d",))
    model.feature_columns_, model.notes_ = ["spend_365d"], []  # as fit_inputs leaves them without BTYD
    assert model._monotone_params().monotone_increasing == ("spend_365d",)
    assert model.notes_ == ["monotone constraints not applied to ['btyd_expected_spend']: not among this run's model inputs"]
