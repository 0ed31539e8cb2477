"""Both classic BTYD models as baselines of every run: the inputs' purchase model (``btyd``) and the
other one (``btyd_<model>``), fitted on the training rows only, never an input, named in the verdict."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.common.config import GATE_BASELINES, load_config
from pipelines.storage.artifact import load_model, save_model_files
from ranking import btyd
from ranking.dataset import FEATURE_SETS
from ranking.gate import GateRule, run_verdict
from ranking.metrics import regression_metrics
from ranking.model import fit_two_stage
from tests.support.ranking_data import PARAMS

# ``split`` and ``model`` (fitted at PARAMS) are the package's fixtures (conftest.py).


def test_baseline_keys_name_the_inputs_model_btyd_and_the_other_by_its_name():
    assert btyd.baseline_keys("bgnbd") == {"btyd": "bgnbd", "btyd_pareto_nbd": "pareto_nbd"}
    assert btyd.baseline_keys("pareto_nbd") == {"btyd": "pareto_nbd", "btyd_bgnbd": "bgnbd"}
    assert all(btyd.is_baseline(k) for k in ("btyd", "btyd_bgnbd", "btyd_pareto_nbd"))
    assert not any(btyd.is_baseline(k) for k in ("persistence", "btyd_p_buy", "btyd_expected_spend", "lightgbm"))


def test_the_other_model_is_fitted_on_the_training_customers_as_a_direct_fit_is(split, model):
    X, customer = btyd.statistics_matrix(split.train[list(btyd.STATISTICS)].to_numpy(dtype="float64"))
    direct = btyd.BTYDSpend(horizon=float(PARAMS.horizon_days), purchases="pareto_nbd").fit(X[customer])
    other = model.btyd_others_["pareto_nbd"]
    assert set(model.btyd_others_) == {"pareto_nbd"} and isinstance(model.btyd_.purchases_, btyd.BetaGeo)
    np.testing.assert_allclose(other.purchases_.params_, direct.purchases_.params_, rtol=1e-12)
    Xt, cust_t = btyd.statistics_matrix(split.test[list(btyd.STATISTICS)].to_numpy(dtype="float64"))
    spend = model.btyd_spend(split.test, "pareto_nbd")
    np.testing.assert_allclose(spend[cust_t], direct.predict(Xt[cust_t]), rtol=1e-9)
    assert (spend[~cust_t] == 0).all() and not np.allclose(spend, model.btyd_spend(split.test))
    assert model.btyd_spend(split.test, "bgnbd") is not None  # the inputs' model by its own name too
    assert any(n.startswith("BTYD baseline btyd_pareto_nbd: Pareto/NBD (r=") for n in model.notes_)


def test_the_other_model_is_no_input_and_ignores_everything_but_the_training_rows(split, model):
    assert not any("pareto" in c for c in model.feature_columns_)
    # Validation rows (early stopping) and the test rows may change; the baseline's fit may not.
    valid = split.valid.copy()
    valid["btyd_repeat_purchases"] = valid["btyd_repeat_purchases"] * 3 + 1
    again = fit_two_stage(split.train, valid, PARAMS)
    assert again.btyd_others_["pareto_nbd"].get_state() == model.btyd_others_["pareto_nbd"].get_state()


def test_the_other_model_survives_save_and_load(tmp_path, split, model):
    save_model_files(tmp_path, model)
    loaded = load_model(tmp_path)
    np.testing.assert_array_equal(loaded.btyd_spend(split.test, "pareto_nbd"),
                                  model.btyd_spend(split.test, "pareto_nbd"))
    meta, _, _ = model.get_state()
    del meta["btyd_others"]  # a run saved before the second baseline existed
    assert type(model).from_state(meta, *model.get_state()[1:]).btyd_others_ == {}


def _metrics(y: np.ndarray, main: np.ndarray, other: np.ndarray) -> dict:
    pp = {"lightgbm": {"XY": regression_metrics(y, main)}, "linear": {},
          "persistence": regression_metrics(y, np.zeros_like(y)), "btyd": regression_metrics(y, 0.5 * main),
          "btyd_pareto_nbd": regression_metrics(y, other)}
    return {"main_feature_set": "XY", "purchasing_power": pp, "tier": {},
            "btyd_baselines": {k: btyd.label(m) for k, m in btyd.baseline_keys("bgnbd").items()}}


def test_the_verdict_names_the_other_btyd_and_a_gate_on_it_refuses_a_run_that_loses_to_it():
    rng = np.random.default_rng(0)
    y = rng.lognormal(3, 1, 1000) * (rng.random(1000) < 0.5)
    main = y.mean() * np.ones_like(y) + rng.normal(0, 1, len(y))  # right mean, no ranking
    metrics = _metrics(y, main, y * 0.95)  # the other BTYD is nearly the truth
    v = run_verdict(metrics)
    assert "btyd_pareto_nbd" in v.baselines and any("loses to btyd_pareto_nbd on" in s for s in v.losses)
    gated = run_verdict(metrics, GateRule(baselines=("btyd_pareto_nbd",)))
    assert not gated.passed and "btyd_pareto_nbd" in gated.reasons[0]
    old = {k: v for k, v in metrics.items() if k != "btyd_baselines"}
    assert "btyd_pareto_nbd" not in run_verdict(old).baselines  # runs from before: their one BTYD only


def test_gate_baselines_are_the_names_a_verdict_can_have(tmp_path):
    names = {"persistence", *(k for m in btyd.PURCHASE_MODELS for k in btyd.baseline_keys(m)),
             *(f"{kind} {fs}" for kind in ("lightgbm", "linear") for fs in FEATURE_SETS)}
    assert set(GATE_BASELINES) == names
    cfg = load_config(None, data_dir=str(tmp_path), train__gate_baselines=["persistence", "btyd_pareto_nbd"])
    assert GateRule.from_config(cfg).baselines == ("persistence", "btyd_pareto_nbd")
    with pytest.raises(ValueError, match=r"unknown gate baselines \['btyd_paretonbd'\]"):
        load_config(None, data_dir=str(tmp_path), train__gate_baselines=["btyd_paretonbd"])
    with pytest.raises(ValueError, match="btyd_pareto_nbd is this run's 'btyd'"):  # it would gate nothing
        load_config(None, data_dir=str(tmp_path), train__btyd_purchases="pareto_nbd",
                    train__gate_baselines=["btyd_pareto_nbd"])
    cfg = load_config(None, data_dir=str(tmp_path), train__btyd_purchases="pareto_nbd",
                      train__gate_baselines=["btyd", "btyd_bgnbd"])
    assert GateRule.from_config(cfg).baselines == ("btyd", "btyd_bgnbd")
