"""Optuna search over LightGBM hyper-parameters, early-stopped on the validation split.

The defaults are always the first trial, so ``trials=N`` never does worse on validation than the
defaults; ``trials=0`` trains the defaults once without Optuna. The sampler is seeded and trials
are told back in trial order (``parallel`` at a time), so the search is reproducible.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import re
from typing import Any, Callable

import lightgbm as lgb
import numpy as np
import optuna

DEFAULTS: dict[str, Any] = {"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20,
                            "feature_fraction": 0.9, "bagging_fraction": 1.0, "lambda_l2": 1e-3}


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The search space (contains :data:`DEFAULTS`)."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 7, 127, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 200, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def train_once(params: dict[str, Any], dtrain: lgb.Dataset, dvalid: lgb.Dataset, num_boost_round: int,
               early_stopping_rounds: int) -> lgb.Booster:
    """One early-stopped LightGBM fit (bagging every iteration when bagging_fraction < 1). A callable
    ``params["feval"]`` is a custom validation metric (for a custom objective); ``metric`` names it."""
    full = {**params, "bagging_freq": 1 if params.get("bagging_fraction", 1.0) < 1.0 else 0}
    feval = full.pop("feval", None)
    if feval is not None:
        full["metric"] = "None"
    return lgb.train(full, dtrain, num_boost_round=num_boost_round, valid_sets=[dvalid], valid_names=["valid"],
                     feval=feval, callbacks=[lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False)])


def copy_dataset(ds: lgb.Dataset, reference: lgb.Dataset | None = None) -> lgb.Dataset:
    """A constructed Dataset on ``ds``'s arrays, names and Dataset parameters (so binned the same:
    LightGBM's binning is deterministic given the data and parameters). Needs ``free_raw_data=False``,
    as :func:`ranking.gbm.make_dataset` builds every Dataset."""
    return lgb.Dataset(ds.get_data(), label=ds.get_label(), weight=ds.get_weight(), init_score=ds.get_init_score(),
                       feature_name=ds.feature_name, reference=reference, params=dict(ds.params),
                       free_raw_data=False).construct()


def dataset_slots(dtrain: lgb.Dataset, dvalid: lgb.Dataset, n: int) -> list[tuple[lgb.Dataset, lgb.Dataset]]:
    """``n`` (train, valid) pairs for ``n`` concurrent fits: the given pair, then copies.

    Threads must not share a Dataset: every ``lgb.train`` call rewrites its validation Dataset's
    feature names through the C API (``set_reference``), and two threads doing that at once read back
    freed memory. That was the intermittent "Do not support special JSON characters in feature
    name" of the ``parallel_trials: 2`` Ray end-to-end test."""
    slots = [(dtrain, dvalid)]
    for _ in range(1, n):
        train = copy_dataset(dtrain, reference=dtrain.reference)  # binned by the same reference, if any
        slots.append((train, copy_dataset(dvalid, reference=train)))
    return slots


def valid_score(booster: lgb.Booster, metric: str) -> float:
    """The validation loss at the best iteration (lower is better)."""
    return float(booster.best_score["valid"][metric])


def tune(base: dict[str, Any], dtrain: lgb.Dataset, dvalid: lgb.Dataset, trials: int, seed: int,
         num_boost_round: int, early_stopping_rounds: int, parallel: int = 1,
         on_fit: Callable[[], None] | None = None,
         select: Callable[[list[lgb.Booster]], int] | None = None) -> tuple[lgb.Booster, dict[str, Any], list[dict]]:
    """Best booster, its tuned parameters, and the trial history (params, loss, rounds).

    ``select`` (optional) picks the kept trial from all trials' boosters, in trial order (e.g.
    :func:`simplest_within_one_se`); by default the lowest validation loss wins.

    Trials are asked from the seeded sampler ``parallel`` at a time, fitted in parallel threads
    (LightGBM releases the GIL) and told back in trial order, so the search depends on the seed
    and ``parallel`` only, never on which fit finishes first. ``parallel=1`` is the plain
    sequential search. ``on_fit`` is called after every finished fit (a caller's progress bar).
    """
    on_fit = on_fit or (lambda: None)
    base = dict(base)
    defaults = {**DEFAULTS, **base.pop("defaults", {})}  # an objective may start from its own first trial
    metric = base["metric"]
    if trials <= 0:
        booster = train_once({**base, **defaults}, dtrain, dvalid, num_boost_round, early_stopping_rounds)
        on_fit()
        return booster, dict(defaults), [_record(0, defaults, booster, metric)]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(defaults)
    best: dict[str, Any] = {}
    kept: list[tuple[lgb.Booster, dict[str, Any]]] = []
    history: list[dict] = []

    slots = dataset_slots(dtrain, dvalid, min(max(1, parallel), trials))

    def fit(slot: int, params: dict[str, Any]) -> lgb.Booster:
        return train_once({**base, **params}, *slots[slot], num_boost_round, early_stopping_rounds)

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for start in range(0, trials, max(1, parallel)):
            asked = [study.ask() for _ in range(min(parallel, trials - start))]
            suggested = [suggest(t) for t in asked]
            # Trial i of a batch fits on slot i: no two concurrent fits share a Dataset.
            for trial, params, booster in zip(asked, suggested, pool.map(fit, range(len(suggested)), suggested)):
                loss = valid_score(booster, metric)
                study.tell(trial, loss)
                history.append(_record(trial.number, params, booster, metric))
                on_fit()
                if select is not None:
                    kept.append((booster, params))
                elif not best or loss < best["loss"]:  # keep only the best booster in memory
                    best.update(loss=loss, booster=booster, params=params)
    if select is not None:
        booster, params = kept[select([b for b, _ in kept])]
        return booster, params, history
    return best["booster"], best["params"], history


def _record(number: int, params: dict[str, Any], booster: lgb.Booster, metric: str) -> dict:
    return {"trial": number, "params": dict(params), "valid_loss": valid_score(booster, metric),
            "best_iteration": int(booster.best_iteration)}


def leaf_count(booster: lgb.Booster) -> int:
    """Leaves of the trees up to the best iteration: what prediction and TreeSHAP walk per row."""
    k = booster.num_model_per_iteration()
    n_trees = (booster.best_iteration or booster.current_iteration()) * k
    text = booster.model_to_string(num_iteration=booster.best_iteration or None)
    return sum(int(v) for v in re.findall(r"^num_leaves=(\d+)$", text, flags=re.M)[:n_trees])


def simplest_within_one_se(boosters: list[lgb.Booster], row_losses: Callable[[lgb.Booster], np.ndarray],
                           weights: np.ndarray) -> tuple[int, dict[str, Any]]:
    """The one-standard-error rule (Breiman et al. 1984; Hastie, Tibshirani & Friedman, ESL 7.10):
    among trials whose weighted mean validation loss is within one standard error of the best's,
    the one with the fewest leaves. Returns its index and what decided it.

    Why for serving: every served prediction walks these trees (and, under ``reasons: treeshap``,
    explains them with TreeSHAP, whose cost grows with the leaves walked); a model 10x larger for a
    validation loss inside the noise only costs latency."""
    w = np.asarray(weights, dtype=np.float64)
    means, ses = [], []
    for booster in boosters:
        loss = np.asarray(row_losses(booster), dtype=np.float64)
        mean = float(np.sum(w * loss) / np.sum(w))
        means.append(mean)
        ses.append(float(np.sqrt(np.sum(w ** 2 * (loss - mean) ** 2)) / np.sum(w)))
    best = int(np.argmin(means))
    leaves = [leaf_count(b) for b in boosters]
    eligible = [i for i, m in enumerate(means) if m <= means[best] + ses[best]]
    chosen = min(eligible, key=lambda i: (leaves[i], means[i]))
    return chosen, {"rule": "one-SE: fewest leaves among trials within one standard error of the best "
                            "weighted validation loss", "best_trial": best, "chosen_trial": chosen,
                    "valid_losses": means, "best_se": ses[best], "leaves": leaves}
