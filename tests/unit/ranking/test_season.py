"""The seasonal level of the spend model: a Poisson GLM on the year phase of the training rows,
the log-link boosters' starting point."""

from __future__ import annotations

import numpy as np
import pytest

from ranking import gbm
from ranking.params import TrainParams

NAMES = ["f0", "season_sin", "season_cos"]
YEAR = 365.2425


def _rows(days: np.ndarray, seed: int, b: float = 0.4, c: float = -0.3) -> tuple[np.ndarray, np.ndarray]:
    """Rows at cutoffs ``days`` (days since 1970) whose spend level is exp(2 + b sin + c cos)."""
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.mod(days, YEAR) / YEAR
    x = rng.normal(size=len(days))
    mean = np.exp(2 + 0.5 * x + b * np.sin(phase) + c * np.cos(phase))
    buys = rng.random(len(days)) < 0.4
    y = np.where(buys, rng.gamma(2.0, mean / 2.0 / 0.4), 0.0)
    return np.c_[x, np.sin(phase), np.cos(phase)], y


def _cutoffs(first: float, n: int, every: float, per: int) -> np.ndarray:
    return np.repeat(first + every * np.arange(n), per)


def test_the_glm_recovers_the_seasonal_swing_of_the_training_rows():
    Z, y = _rows(_cutoffs(20000, 10, 30, 3000), seed=0)
    season = gbm.fit_season(Z, y, NAMES)
    assert season is not None and season["cols"] == [1, 2] and season["phases"] == 10
    assert season["coef"] == pytest.approx([0.4, -0.3], abs=0.05)
    assert season["span_days"] == pytest.approx(270, abs=1e-6)


@pytest.mark.parametrize("days, why", [
    (_cutoffs(20000, 2, 90, 500), "two phases"),
    (_cutoffs(20000, 6, 30, 500), "150 days of the year"),
    (_cutoffs(20000, 1, 30, 500), "one phase"),
])
def test_no_seasonal_level_from_a_corner_of_the_year(days, why):
    Z, y = _rows(days, seed=1)
    assert gbm.fit_season(Z, y, NAMES) is None, why


def test_no_seasonal_level_without_the_season_columns():
    Z, y = _rows(_cutoffs(20000, 10, 30, 100), seed=2)
    assert gbm.fit_season(Z, y, ["f0", "a", "b"]) is None


def test_the_span_is_the_shortest_arc_across_new_year():
    days = np.array([0.0, 330.0, 30.0, 60.0]) + 20089  # 20089 = 2025-01-01: Nov 27 .. Mar 2
    phase = 2 * np.pi * np.mod(days, YEAR) / YEAR
    n, span = gbm.phase_span_days(np.sin(phase), np.cos(phase))
    assert n == 4 and span == pytest.approx(60 + (YEAR - 330), abs=1e-6)


def test_offsets_carry_the_seasonal_term():
    Z, y = _rows(_cutoffs(20000, 10, 30, 200), seed=3)
    season = gbm.fit_season(Z, y, NAMES)
    term = Z[:, 1:] @ np.asarray(season["coef"])
    np.testing.assert_allclose(gbm.offset(Z, {"season": season}), season["intercept"] + term)
    ziln = gbm.offset(Z, {"season": season, "ziln_init": [0.1, 2.0, -0.5]}).reshape(len(Z), 3, order="F")
    np.testing.assert_allclose(ziln[:, 0], 0.1)
    np.testing.assert_allclose(ziln[:, 2], -0.5)
    np.testing.assert_allclose(ziln[:, 1], 2.0 + term - season["center"])
    assert gbm.offset(Z, {}) is None  # no season, no offset: plain Tweedie boosts from the average


def test_log_link_candidates_start_from_the_seasonal_level_and_log1p_does_not():
    Z, y = _rows(_cutoffs(20000, 9, 30, 150), seed=4)
    Zv, yv = _rows(_cutoffs(20000 + 300, 1, 30, 300), seed=5)
    p_buy = lambda n: np.random.default_rng(n).uniform(0.05, 0.9, n)  # noqa: E731  (BTYD P(buy) beside the season)
    Z, Zv = np.c_[Z, p_buy(len(Z))], np.c_[Zv, p_buy(len(Zv))]
    p = TrainParams(seed=0, trials=0, num_threads=1, num_boost_round=40, split="time")
    boosters, _, info = gbm.fit_purchasing_power(Z, y, Zv, yv, [*NAMES, gbm.P_BUY_COLUMN], p)
    assert {o for o in info if "season" in info[o]} == {"tweedie", "ziln"}
    assert all("p_col" in info[o] for o in ("tweedie", "ziln"))
    # the same rows half a year later: the prediction moves with the seasonal term
    later = Zv.copy()
    later[:, 1:] = -later[:, 1:]
    for o in ("tweedie",):
        a = gbm.predict_pp(boosters[o], o, Zv, info[o]["best_iteration"], info[o])
        b = gbm.predict_pp(boosters[o], o, later, info[o]["best_iteration"], info[o])
        assert not np.allclose(a, b)
