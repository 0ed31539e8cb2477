"""Pareto/NBD: the published CDNOW parameters, its closed forms against brute-force integration over
the customers' rates, and its place under ``train.btyd_purchases`` (state, config, the run's inputs)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy.special import gammaln

from pipelines.common.config import load_config
from ranking.btyd import BTYDSpend, ParetoNBD
from ranking.model import fit_two_stage
from ranking.params import TrainParams
from ranking.splits import time_split
from ranking.synthetic import synthetic_frame

# (x, t_x, T) in weeks: a one-time buyer, Fader & Hardie's example customer, a lapsed frequent one, a new one.
CUSTOMERS = [(0, 0.0, 30.0), (2, 30.43, 38.86), (7, 20.0, 38.0), (1, 0.5, 3.0)]


def test_reproduces_the_published_cdnow_parameters(cdnow_summary):
    # Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related Expressions":
    # r = 0.553, alpha = 10.578, s = 0.606, beta = 11.669, log-likelihood -9595.0.
    model = ParetoNBD(horizon=39).fit(cdnow_summary)
    assert model.converged_
    np.testing.assert_allclose(model.params_, [0.553, 10.578, 0.606, 11.669], rtol=2e-3)
    assert model.log_likelihood_ == pytest.approx(-9595.0, abs=0.1)


def _posterior_integral(params, x, t_x, T, f) -> float:
    """∫∫ f(lambda, mu) over the gamma(r, alpha) x gamma(s, beta) prior, in log-rates (smooth there)."""
    r, alpha, s, beta = params

    def log_density(a: float, shape: float, rate: float) -> float:
        return shape * np.log(rate) - gammaln(shape) + shape * a - rate * np.exp(a)

    def integrand(b: float, a: float) -> float:
        lam, mu = np.exp(a), np.exp(b)
        return np.exp(log_density(a, r, alpha) + log_density(b, s, beta)) * f(lam, mu)

    return integrate.dblquad(integrand, -30, 4, -30, 4, epsabs=0, epsrel=1e-9)[0]


@pytest.mark.parametrize("params", [(0.553, 10.578, 0.606, 11.669), (0.9, 6.0, 1.7, 2.5), (0.9, 0.3, 8.0, 20.0)],
                         ids=["alpha<beta (CDNOW)", "alpha>beta", "alpha<<beta (A0 by quadrature at small t_x)"])
@pytest.mark.parametrize("customer", CUSTOMERS)
def test_closed_forms_match_brute_force_integration(params, customer):
    """Each customer's likelihood, P(alive), expected purchases and P(buy) in 39 weeks, from the
    individual-level model integrated numerically over the rates: both branches of A0."""
    x, t_x, T, t = *customer, 39.0
    decay = lambda lam, mu: lam ** x * np.exp(-(lam + mu) * T)  # noqa: E731 (alive at T, x purchases)
    lik = _posterior_integral(params, x, t_x, T, lambda lam, mu: decay(lam, mu) * lam / (lam + mu)
                              + lam ** x * mu / (lam + mu) * np.exp(-(lam + mu) * t_x))
    model, X = ParetoNBD(horizon=t), np.array([customer])
    model.params_ = np.array(params)
    ll = ParetoNBD.log_likelihood(model.params_, np.array([x * 1.0]), np.array([t_x]), np.array([T]))[0]
    assert ll == pytest.approx(np.log(lik), rel=1e-6)
    alive = _posterior_integral(params, x, t_x, T, decay) / lik
    assert model.p_alive(X)[0] == pytest.approx(alive, rel=1e-6)
    expected = _posterior_integral(params, x, t_x, T, lambda lam, mu: decay(lam, mu) * lam / mu * -np.expm1(-mu * t))
    assert model.expected_purchases(X)[0] == pytest.approx(expected / lik, rel=1e-6)
    buy = _posterior_integral(params, x, t_x, T,
                              lambda lam, mu: decay(lam, mu) * lam / (lam + mu) * -np.expm1(-(lam + mu) * t))
    assert model.p_purchase(X)[0] == pytest.approx(buy / lik, rel=1e-6)


def test_a0_by_quadrature_equals_the_closed_form_where_it_is_used():
    """Where the hypergeometric argument is near 1, A0 comes from Gauss-Legendre quadrature (scipy's
    series is slow there); on random parameters and customers it equals the closed form to 1e-9."""
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        params = np.exp(rng.uniform(-4, 5, 4))
        x = rng.integers(0, 80, 8).astype(float)
        T = np.exp(rng.uniform(-2, 1.5, 8))
        t_x = np.where(x > 0, rng.uniform(0, 0.999, 8) * T, 0.0)
        quad, variation = ParetoNBD._log_a0_quadrature(params, x, t_x, T)
        closed = ParetoNBD._log_a0_hypergeometric(params, x, t_x, T)
        used = variation <= 40.0
        np.testing.assert_allclose(quad[used], closed[used], rtol=0, atol=1e-9)
        near_one = abs(params[1] - params[3]) / (max(params[1], params[3]) + t_x) > 0.9
        expected = np.where(near_one & used, quad, closed)
        np.testing.assert_allclose(ParetoNBD._log_a0(params, x, t_x, T), expected, rtol=0, atol=1e-12)
        checked += int((near_one & used).sum())
    assert checked > 300  # the quadrature path was exercised, not only the closed form


def test_frequent_customers_neither_overflow_nor_cancel():
    """A0 = (r+s+x) ∫ (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau over the unseen dropout time (t_x, T]:
    integrated numerically relative to its value at t_x, it checks the hypergeometric form where the
    plain one overflows (lifetimes' overflow case: hundreds of purchases and fast rates)."""
    params = np.array([10.465, 7.98565181e-03, 3.0516, 2.820])
    x, t_x, T = np.array([400.0, 500.0, 500.0]), np.array([5.0, 1.0, 4.0]), np.array([6.0, 37.0, 37.0])
    r, alpha, s, beta = params
    log_a0 = ParetoNBD._log_a0(params, x, t_x, T)
    for i in range(3):
        def log_f(tau: float) -> float:
            return -(r + x[i]) * np.log(alpha + tau) - (s + 1) * np.log(beta + tau)

        # The integrand falls by orders of magnitude just after t_x: geometric pieces resolve it.
        edges = t_x[i] + (T[i] - t_x[i]) * np.r_[0.0, np.geomspace(1e-8, 1.0, 40)]
        ratio = sum(integrate.quad(lambda tau: np.exp(log_f(tau) - log_f(t_x[i])), lo, hi, epsrel=1e-12)[0]
                    for lo, hi in zip(edges[:-1], edges[1:]))
        assert log_a0[i] == pytest.approx(np.log(r + s + x[i]) + log_f(t_x[i]) + np.log(ratio), rel=1e-9)
    assert np.isfinite(ParetoNBD.log_likelihood(params, x, t_x, T)).all()
    model = ParetoNBD(horizon=10.0)
    model.params_ = params
    alive = model.p_alive(np.c_[x, t_x, T])
    assert np.isfinite(alive).all() and ((alive >= 0) & (alive <= 1)).all()
    assert model.p_alive(np.array([[500.0, 36.0, 37.0]]))[0] > alive[2]  # a later last purchase: likelier alive


def test_spend_model_state_round_trip_old_runs_and_a_clear_error(cdnow_summary):
    model = BTYDSpend(horizon=39, purchases="pareto_nbd").fit(cdnow_summary)
    assert isinstance(model.purchases_, ParetoNBD) and model.describe().startswith("Pareto/NBD (r=0.553")
    again = BTYDSpend.from_state(model.get_state())
    np.testing.assert_array_equal(again.predict(cdnow_summary), model.predict(cdnow_summary))
    bgnbd = BTYDSpend(horizon=39).fit(cdnow_summary)
    old_state = {k: v for k, v in bgnbd.get_state().items() if k not in ("purchase_model", "purchases")}
    old_state["bgnbd"] = bgnbd.purchases_.params_.tolist()  # how runs saved before Pareto/NBD stored it
    np.testing.assert_array_equal(BTYDSpend.from_state(old_state).predict(cdnow_summary), bgnbd.predict(cdnow_summary))
    # The two purchase models differ where BG/NBD keeps a one-time buyer alive for sure.
    one_timers = cdnow_summary[:, 0] == 0
    assert (bgnbd.transform(cdnow_summary)[one_timers, 1] == 1).all()
    assert (model.transform(cdnow_summary)[one_timers, 1] < 1).all()
    with pytest.raises(ValueError, match="unknown BTYD purchase model 'paretonbd'"):
        BTYDSpend(purchases="paretonbd").fit(cdnow_summary)


def test_config_choice_reaches_the_runs_btyd_inputs(tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path), train__btyd_purchases="pareto_nbd")
    params = TrainParams.from_config(cfg)
    assert params.btyd_purchases == "pareto_nbd"
    assert TrainParams.from_dict(params.to_dict()) == params
    assert TrainParams.from_dict({k: v for k, v in params.to_dict().items() if k != "btyd_purchases"}).btyd_purchases == "bgnbd"
    small = TrainParams(trials=0, num_boost_round=20, early_stopping_rounds=5, projection_dims=4, seed=3,
                        btyd_purchases=params.btyd_purchases)
    split = time_split(synthetic_frame(n_users=120, n_cutoffs=4, dim=8, seed=5), 0.2, 90, seed=0)
    model = fit_two_stage(split.train, split.valid, small)
    assert isinstance(model.btyd_.purchases_, ParetoNBD)
    assert any(n.startswith("BTYD inputs: Pareto/NBD (r=") for n in model.notes_)
    with pytest.raises(ValueError, match="btyd_purchases"):
        load_config(None, data_dir=str(tmp_path), train__btyd_purchases="pareto")


def test_reports_name_the_runs_btyd_model():
    from pipelines.report.training import metrics_section
    from ranking.btyd import label, run_label

    assert run_label({}) == "BG/NBD × Gamma-Gamma"  # runs from before the choice existed
    metrics = {"purchasing_power": {"lightgbm": {}, "linear": {}, "btyd": {"rmse": 1.0}}, "tier": {},
               "btyd_model": label("pareto_nbd")}
    rows = metrics_section(metrics).tables[0].rows
    assert rows[-1][0] == "BTYD (Pareto/NBD × Gamma-Gamma)"
