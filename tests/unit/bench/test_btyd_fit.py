"""bench/btyd_fit.py: its populations are what it says they are, and it reports both models' times."""

from __future__ import annotations

import numpy as np

from bench.btyd_fit import CDNOW_DAYS, MODELS, churn_population, no_dropout_population, run
from ranking.btyd import BTYDSpend


def test_the_churn_population_is_pareto_nbd_at_the_cdnow_parameters():
    X = churn_population(20_000, seed=1)
    assert (X[:, 1] <= X[:, 2]).all() and (X[X[:, 0] == 0, 1] == 0).all()
    fitted = BTYDSpend(horizon=90.0, purchases="pareto_nbd").fit(X).purchases_.params_
    np.testing.assert_allclose(fitted, [CDNOW_DAYS[k] for k in ("r", "alpha", "s", "beta")], rtol=0.2)


def test_the_no_dropout_population_sends_pareto_nbd_to_rare_dropout():
    fitted = BTYDSpend(horizon=90.0, purchases="pareto_nbd").fit(no_dropout_population(2_000, seed=1))
    r, alpha, s, beta = fitted.purchases_.params_
    assert s > 20 and beta / s > 300  # near-homogeneous dropout rates, a mean lifetime (beta / s) over 300 days


def test_the_bench_reports_both_models_per_population():
    out = run(customers=300, repeats=2, seed=3)
    assert set(out) == {"churn", "no_dropout"}
    for r in out.values():
        assert set(r["median_s"]) == set(MODELS) and all(len(v) == 2 for v in r["runs_s"].values())
        assert len(r["load_1min_before"]) == 2 and r["fitted"]["pareto_nbd"].startswith("Pareto/NBD (r=")
