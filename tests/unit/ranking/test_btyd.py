"""BG/NBD and Gamma-Gamma: the published CDNOW parameters, and the estimators' contracts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ranking.btyd import BetaGeo, BTYDSpend, GammaGamma, ParetoNBD, calibration_summary
from tests.support.real_data import shared_file

CALIBRATION_END = np.datetime64("1997-09-30")


def test_bgnbd_reproduces_published_cdnow_parameters(cdnow_summary):
    model = BetaGeo().fit(cdnow_summary)
    assert model.converged_
    np.testing.assert_allclose(model.params_, [0.243, 4.414, 0.793, 2.426], rtol=2e-3)
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)


def test_gamma_gamma_reproduces_published_cdnow_parameters(cdnow_summary):
    model = GammaGamma().fit(cdnow_summary[:, [0, 3]])
    assert model.n_customers_ == 946  # customers with at least one repeat purchase
    np.testing.assert_allclose(model.params_, [6.25, 3.74, 15.44], rtol=2e-3)


@pytest.mark.parametrize("model, unit", [(BetaGeo, [1, 7, 1, 1]), (ParetoNBD, [1, 7, 1, 7])], ids=["BG/NBD", "Pareto/NBD"])
def test_time_unit_only_rescales_the_scale_parameters(cdnow_summary, model, unit):
    days = cdnow_summary.copy()
    days[:, 1:3] *= 7
    weeks, in_days = model(horizon=39).fit(cdnow_summary), model(horizon=273).fit(days)
    np.testing.assert_allclose(in_days.params_, weeks.params_ * unit, rtol=1e-3)
    np.testing.assert_allclose(in_days.predict(days), weeks.predict(cdnow_summary), rtol=1e-3)
    np.testing.assert_allclose(in_days.p_purchase(days), weeks.p_purchase(cdnow_summary), rtol=1e-3)


def test_predictions_behave(cdnow_summary):
    model = BTYDSpend(horizon=39).fit(cdnow_summary)
    n_purchases, p_alive, value = model.transform(cdnow_summary).T
    assert (n_purchases >= 0).all() and ((p_alive > 0) & (p_alive <= 1)).all() and (value > 0).all()
    assert np.all(p_alive[cdnow_summary[:, 0] == 0] == 1.0)  # no repeat purchase: never seen dropping out
    # Same frequency and age, an older last purchase: less likely alive, fewer expected purchases.
    recent, stale = np.array([[3, 30, 38, 20.0]]), np.array([[3, 5, 38, 20.0]])
    assert model.purchases_.p_alive(stale) < model.purchases_.p_alive(recent)
    assert model.predict(stale) < model.predict(recent)
    # The whole-cohort 39-week forecast is within 15% of the 1,882 holdout purchase days.
    assert n_purchases.sum() == pytest.approx(1882, rel=0.15)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="shape"):
        BetaGeo().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match=">= 0"):
        BetaGeo().fit(np.array([[1.0, -1.0, 3.0]]))
    with pytest.raises(ValueError, match="recency must be <= T"):
        BetaGeo().fit(np.array([[1.0, 5.0, 3.0]]))
    with pytest.raises(ValueError, match="two customers"):
        GammaGamma().fit(np.array([[0.0, 0.0], [1.0, 3.0]]))


def test_summary_merges_same_day_purchases():
    ts = pd.to_datetime(["2020-01-01 09:00", "2020-01-01 18:00", "2020-01-08 00:00", "2020-02-01 00:00", "2020-01-05 00:00"]).to_numpy()
    ids, stats = calibration_summary(np.array(["a", "a", "a", "a", "b"]), ts, np.array([1.0, 2.0, 4.0, 100.0, 5.0]),
                                     np.datetime64("2020-01-15"), unit_days=7)
    assert list(ids) == ["a", "b"]
    np.testing.assert_allclose(stats, [[1, 1, 2, 4.0], [0, 0, 10 / 7, 0.0]])


def test_p_purchase_is_a_probability_bounded_by_the_expected_count_and_matches_the_cohort(cdnow_summary):
    model = BTYDSpend(horizon=39).fit(cdnow_summary)
    rft = cdnow_summary[:, :3]
    p_buy = model.purchases_.p_purchase(rft)
    assert ((p_buy > 0) & (p_buy <= model.purchases_.p_alive(rft))).all()
    assert (p_buy <= model.purchases_.expected_purchases(rft) + 1e-12).all()  # P(X > 0) <= E[X] (Markov)
    assert (model.purchases_.p_purchase(rft, t=78) >= p_buy).all()  # a longer window: at least as likely
    # Customers with a purchase in the 39-week holdout, counted from the raw log.
    raw = pd.read_csv(shared_file("cdnow/CDNOW_sample.txt"), sep=r"\s+", header=None,
                      names=["customer", "sample", "date", "cds", "dollars"], dtype={"customer": str, "date": str})
    ts = pd.to_datetime(raw["date"], format="%Y%m%d")
    end = pd.Timestamp(CALIBRATION_END)
    buyers = raw.loc[(ts > end) & (ts <= end + pd.Timedelta(weeks=39)), "customer"].nunique()
    assert p_buy.sum() == pytest.approx(buyers, rel=0.15)
