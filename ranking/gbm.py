"""LightGBM models of stage 2: purchasing power (Tweedie, log1p-L2 with smearing, Tweedie with the
BTYD offset, a zero-inflated lognormal hurdle, each optionally blended with BTYD and sharpened by
P(buy); one chosen by a declared rule over all headline metrics and calibrated to the training
mean by out-of-fold predictions) and the tier (multiclass, balanced class weights)."""

from __future__ import annotations

from typing import Any, Callable

import lightgbm as lgb
import numpy as np
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_class_weight

from ranking import ziln
from ranking.params import TrainParams
from ranking.tuning import simplest_within_one_se, tune

# Bounded depth keeps TreeSHAP explanations cheap (cost grows with depth squared) and regularises.
MAX_DEPTH = 8
# Tweedie's first trial. At the shared defaults (learning rate 0.1, 31 leaves) it early-stopped after
# 9-37 rounds on CDNOW's few hundred validation users, where one tree more or less is noise; slower
# and smaller, like the ZILN's, it won two of five splits' trials. CDNOW means: MAE and RMSE lower on 5
# and on 10 splits, R2 +0.011 on 5 and -0.001 on 10, the rest within 0.002 (docs/BENCHMARKS.md).
SLOW_FIRST_TRIAL = {"learning_rate": 0.03, "num_leaves": 15, "min_data_in_leaf": 40, "feature_fraction": 0.9,
                    "bagging_fraction": 1.0, "lambda_l2": 1.0}
PP_OBJECTIVES: dict[str, dict[str, Any]] = {
    "tweedie": {"objective": "tweedie", "tweedie_variance_power": 1.5, "metric": "tweedie", "defaults": SLOW_FIRST_TRIAL},
    "log1p_l2": {"objective": "regression", "metric": "l2"},
    # Tweedie (log link) starting from log(BTYD expected spend): trees learn a multiplicative
    # correction, so heavy spenders are not capped by leaf values. Needs the BTYD inputs.
    "tweedie_btyd_offset": {"objective": "tweedie", "tweedie_variance_power": 1.5, "metric": "tweedie"},
    # Hurdle P(buy) x E[spend | buy] as one zero-inflated lognormal booster (ranking/ziln.py).
    # Three scores per row from one tree set overfit fast: its first trial is regularised.
    "ziln": {"objective": ziln.objective, "num_class": 3, "metric": "ziln", "feval": ziln.metric,
             "defaults": {"learning_rate": 0.03, "num_leaves": 7, "min_data_in_leaf": 40, "feature_fraction": 0.9,
                          "bagging_fraction": 1.0, "lambda_l2": 1.0}},
}
OFFSET_COLUMN = "btyd_expected_spend"
# The P(buy) that sharpens the candidates without one of their own (Tweedie, log1p-L2): the ZILN
# booster's logit head, fitted first, when its validation log loss beats BTYD's btyd_p_buy (CDNOW:
# lower on all 5 user splits; BG/NBD's memoryless P(alive) cannot see what the trees see); else BTYD's.
P_BUY_MODEL = "ziln"
# The season of the row's request time (feature_repo time_features): a seasonal level
# log E[spend | t] = a + b sin + c cos of the year phase, a Poisson GLM on the training rows, starts the
# log-link boosters (their init score), so the trees learn the rest. Trees on the season columns alone
# interpolate between a handful of training cutoffs, one per season, and shrink the seasonal swing.
# Fitted only when the training cutoffs take SEASON_MIN_PHASES distinct phases spanning at least
# SEASON_MIN_SPAN_DAYS of the year (else the harmonic extrapolates from a corner of the year).
SEASON_COLUMNS = ("season_sin", "season_cos")
SEASON_OBJECTIVES = ("tweedie", "tweedie_btyd_offset", "ziln")
SEASON_MIN_PHASES = 3
SEASON_MIN_SPAN_DAYS = 180.0
P_BUY_COLUMN = "btyd_p_buy"
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
BOOTSTRAP_REPS = 30
BOOTSTRAP_MAX_ROWS = 5_000  # larger validation splits rank stably without resampling
# Prediction x P(buy)^(k - 1): k > 1 moves expected spend from the likely non-buyers (where MAE
# wants ~0) to the likely buyers; the mean calibration then keeps the total. k = 1 is no change.
# Up to 3: the choice sat at the old edge (1.5) on 3 of 5 CDNOW splits.
SHARPEN = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
# The main spend model, declared a priori: the mean of these candidates' predictions, each at its
# validation-chosen variant and calibration. Choosing one candidate per split on a few hundred
# validation users cost more than it gained on CDNOW (BENCHMARKS.md); the two likelihood models
# with a log link average their errors. Without both members: the rule's choice.
ENSEMBLE = ("ziln", "tweedie")
# The mean calibration is fitted on the held-out rows that look most like the test rows. Under the
# user split (test = new users) that is out-of-fold predictions of the training rows (folds by
# user, the tuned parameters at the early-stopped round count): 4x the rows of the validation
# users, whose heavy-tailed mean is noisy (CDNOW: 377 users, their scale moved test ratios by
# +-0.22). Under the time split (test = the same users later) it stays the later validation cutoff:
# out-of-fold by user under-predicts users the trees have seen (demo: x1.6 against x1.4 on validation).
CALIBRATION_FOLDS = 3
SELECTION_RULE = ("main model: the mean of the ziln and tweedie candidates' predictions (declared a priori); "
                  "each candidate's variant (BTYD blend weight x P(buy) sharpening), and the main model when a "
                  "member is missing: the one with the best mean rank over the "
                  "six validation headline metrics (mae, rmse: lower; r2, spearman, gini, top10_share: higher; "
                  "ties share ranks), averaged over 30 seeded bootstrap resamples of the validation rows (up to 5,000 rows), ties "
                  "broken by validation RMSE; every candidate is first scaled so that its mean prediction equals the "
                  f"mean truth: out-of-fold on the training rows ({CALIBRATION_FOLDS} folds by user) under the user "
                  "split, on the validation rows under the time split")


# Below this many rows a prediction runs on one thread: LightGBM's OpenMP team otherwise waits for a
# second core that the server's event loop or a client holds, and a single served row's predict
# went from ~0.02 ms to 6-12 ms with both cores held (docs/BENCHMARKS.md, "Serving"); batches keep every core.
SINGLE_THREAD_ROWS = 1024


def predict_threads(n_rows: int) -> dict[str, int]:
    """LightGBM ``predict`` keywords for ``n_rows`` rows: one thread for small batches, else LightGBM's default."""
    return {"num_threads": 1} if n_rows < SINGLE_THREAD_ROWS else {}


def base_params(p: TrainParams) -> dict[str, Any]:
    """Parameters shared by every booster: fixed seed and threads, deterministic histograms."""
    return {"seed": p.seed, "deterministic": True, "force_row_wise": True, "num_threads": p.num_threads,
            "verbose": -1, "max_depth": MAX_DEPTH}


def make_dataset(Z: np.ndarray, y: np.ndarray, names: list[str], weight: np.ndarray | None = None,
                 reference: lgb.Dataset | None = None, init_score: np.ndarray | None = None) -> lgb.Dataset:
    """A constructed Dataset. Pre-filtered at ``min_data_in_leaf`` 1, the least any trial uses, so
    only columns no trial can split (constant or all-NaN on these rows) leave the design: with
    ``feature_pre_filter=False`` they stayed in LightGBM's feature_fraction draw and moved every
    tree (CDNOW: the constant season columns of one calibration cutoff). Trials still vary
    ``min_data_in_leaf`` upwards."""
    params = {"feature_pre_filter": True, "min_data_in_leaf": 1, "verbose": -1, "max_bin": 255}
    return lgb.Dataset(Z, label=y, weight=weight, feature_name=names, reference=reference, init_score=init_score,
                       params=params, free_raw_data=False).construct()


def pp_target(objective: str, y: np.ndarray) -> np.ndarray:
    """The label each objective is trained on."""
    return np.log1p(y) if objective == "log1p_l2" else y


def phase_span_days(sin: np.ndarray, cos: np.ndarray) -> tuple[int, float]:
    """(distinct year phases, the shortest arc of the year in days that holds them all)."""
    phases = np.unique(np.round(np.mod(np.arctan2(sin, cos), 2 * np.pi), 9))
    if len(phases) < 2:
        return len(phases), 0.0
    gaps = np.diff(np.concatenate([phases, [phases[0] + 2 * np.pi]]))
    return len(phases), float((2 * np.pi - gaps.max()) * 365.2425 / (2 * np.pi))


def fit_season(Z: np.ndarray, y: np.ndarray, names: list[str]) -> dict[str, Any] | None:
    """The seasonal level of the training rows: Poisson GLM log E[y] = a + b·season_sin + c·season_cos
    (no penalty). Returns its columns, coefficients, intercept and the training rows' mean seasonal
    term (``center``), or None without the season columns or when the rows' phases do not cover
    :data:`SEASON_MIN_PHASES` distinct values over :data:`SEASON_MIN_SPAN_DAYS` days."""
    from sklearn.linear_model import PoissonRegressor

    if not all(c in names for c in SEASON_COLUMNS) or not (y > 0).any():
        return None
    cols = [names.index(c) for c in SEASON_COLUMNS]
    S = Z[:, cols]
    if np.isnan(S).any():
        return None
    n, span = phase_span_days(S[:, 0], S[:, 1])
    if n < SEASON_MIN_PHASES or span < SEASON_MIN_SPAN_DAYS:
        return None
    glm = PoissonRegressor(alpha=0.0, max_iter=1000, tol=1e-10).fit(S, y)
    coef = [float(c) for c in glm.coef_]
    return {"cols": cols, "coef": coef, "intercept": float(glm.intercept_), "center": float(np.mean(S @ coef)),
            "phases": n, "span_days": span}


def season_term(Z: np.ndarray, info: dict[str, Any]) -> np.ndarray | None:
    """b·season_sin + c·season_cos of each row (None when the objective has no seasonal level)."""
    season = info.get("season")
    if season is None:
        return None
    return Z[:, season["cols"]] @ np.asarray(season["coef"], dtype=np.float64)


def offset(Z: np.ndarray, info: dict[str, Any]) -> np.ndarray | None:
    """The init score: log of the BTYD expected spend (users without a purchase at ``offset_fill``)
    for the offset objective, the pooled ZILN start (flat, column-major) for ``ziln``, else None;
    with a seasonal level (:func:`fit_season`) its term is added: to the BTYD log spend and to the
    ZILN log-spend location around the training rows' mean, and as the whole GLM (intercept
    included) for plain Tweedie."""
    season = season_term(Z, info)
    if "ziln_init" in info:
        init = np.tile(np.asarray(info["ziln_init"], dtype=np.float64), (len(Z), 1))
        if season is not None:
            init[:, 1] += season - info["season"]["center"]
        return init.ravel(order="F")
    col = info.get("offset_col")
    if col is None:
        return None if season is None else info["season"]["intercept"] + season
    spend = np.where(np.isnan(Z[:, col]), info["offset_fill"], Z[:, col])
    base = np.log(np.clip(spend, 1e-3, None))
    return base if season is None else base + season - info["season"]["center"]


def _model_pp(booster: lgb.Booster, objective: str, Z: np.ndarray, num_iteration: int,
              info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """(expected spend, the model's own P(buy) or None) before blending and calibration."""
    raw = booster.predict(Z, num_iteration=num_iteration, raw_score=objective != "log1p_l2", **predict_threads(len(Z)))
    if objective == "log1p_l2":
        return np.clip(np.exp(raw) * info.get("smear", 1.0) - 1.0, 0.0, None), None
    off = offset(Z, info)
    if objective == "ziln":
        p_buy, spend = ziln.expected_value(np.asarray(raw).reshape(len(Z), 3) + off.reshape(len(Z), 3, order="F"))
        return spend, p_buy
    return np.exp(raw + (0.0 if off is None else off)), None


def btyd_p_buy(Z: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """BTYD P(a purchase in the horizon), users without BTYD statistics at the training buy rate."""
    return np.where(np.isnan(Z[:, info["p_col"]]), info["p_fill"], Z[:, info["p_col"]])


def predict_pp(booster: lgb.Booster, objective: str, Z: np.ndarray, num_iteration: int,
               info: dict[str, Any] | None = None, p_buy: np.ndarray | None = None,
               own: tuple[np.ndarray, np.ndarray | None] | None = None) -> np.ndarray:
    """Purchasing power on the money scale (>= 0): the booster's prediction (with its offset, the log
    back-transform's smearing factor or the lognormal mean), the blend with BTYD, the sharpening by
    P(buy) (the model's own, else ``p_buy``: the P(buy) model's, see :data:`P_BUY_MODEL`; blended
    with BTYD's like the spend; BTYD's alone without either) and the mean calibration. ``own``: the
    booster's ``_model_pp`` output when the caller has it already."""
    info = info or {}
    pred, p_model = own if own is not None else _model_pp(booster, objective, Z, num_iteration, info)
    p_model = p_buy if p_model is None else p_model
    blend = info.get("blend")
    w = blend["weight"] if blend else 1.0
    if w < 1.0:
        pred = w * pred + (1 - w) * np.nan_to_num(Z[:, blend["col"]], nan=0.0)
    k = info.get("sharpen", 1.0)
    if k != 1.0:
        p_btyd = btyd_p_buy(Z, info)
        p = p_btyd if p_model is None else w * np.asarray(p_model) + (1 - w) * p_btyd
        pred = pred * np.clip(p, 1e-9, 1.0) ** (k - 1.0)
    return pred * info.get("scale", 1.0)


def predict_selected(boosters: dict[str, lgb.Booster], selected: str, info: dict[str, dict[str, Any]],
                     Z: np.ndarray) -> np.ndarray:
    """The main spend prediction: the selected candidate's, or the mean of the ensemble members'.
    Each booster predicts once: a member sharpened by another member's P(buy) reuses its output."""
    members = info[selected]["members"] if selected == "ensemble" else [selected]
    own: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}

    def model_pp(o: str) -> tuple[np.ndarray, np.ndarray | None]:
        if o not in own:
            own[o] = _model_pp(boosters[o], o, Z, info[o]["best_iteration"], info[o])
        return own[o]

    preds = []
    for o in members:
        src = p_buy_source(boosters, info, o)
        preds.append(predict_pp(boosters[o], o, Z, info[o]["best_iteration"], info[o],
                                None if src is None else model_pp(src)[1], own=model_pp(o)))
    return np.mean(preds, axis=0)


def p_buy_source(boosters: dict[str, lgb.Booster], info: dict[str, dict[str, Any]], objective: str) -> str | None:
    """The P(buy) model a candidate is sharpened by (``p_source``), else None."""
    src = info[objective].get("p_source")
    if not src or src == objective or src not in boosters or info[objective].get("sharpen", 1.0) == 1.0:
        return None
    return src


def explained_objective(selected: str, info: dict[str, dict[str, Any]]) -> str:
    """The booster whose contributions explain the main prediction (an ensemble's first member:
    TreeSHAP values of two boosters with different links do not add up to one prediction)."""
    return info[selected]["members"][0] if selected == "ensemble" else selected


def _mean_ranks(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean rank of each candidate over the headline metrics (1 = best)."""
    from scipy.stats import rankdata

    names = list(scores)
    ranks = np.zeros(len(names))
    for metric, higher in (("mae", False), ("rmse", False), ("r2", True), ("spearman", True), ("gini", True),
                           ("top10_share", True)):
        values = np.array([scores[n].get(metric) if scores[n].get(metric) is not None else np.nan for n in names])
        values = np.where(np.isnan(values), -np.inf if higher else np.inf, values)
        ranks += rankdata(-values if higher else values)
    return dict(zip(names, ranks / 6))


def _selection_ranks(preds: dict[str, np.ndarray], y: np.ndarray, seed: int) -> dict[str, float]:
    """Mean rank of each candidate's validation predictions (:func:`_mean_ranks`), averaged over
    :data:`BOOTSTRAP_REPS` seeded bootstrap resamples of the validation rows (plain ranks above
    :data:`BOOTSTRAP_MAX_ROWS` rows):
    on a few hundred heavy-tailed rows one lucky user otherwise decides the choice."""
    from ranking.metrics import regression_metrics

    if BOOTSTRAP_REPS <= 0 or len(y) > BOOTSTRAP_MAX_ROWS:
        return _mean_ranks({k: regression_metrics(y, p) for k, p in preds.items()})
    rng = np.random.default_rng(seed)
    total = dict.fromkeys(preds, 0.0)
    for _ in range(BOOTSTRAP_REPS):
        idx = rng.integers(0, len(y), len(y))
        for k, r in _mean_ranks({k: regression_metrics(y[idx], p[idx]) for k, p in preds.items()}).items():
            total[k] += r / BOOTSTRAP_REPS
    return total


def monotone_params(names: list[str], increasing: tuple[str, ...]) -> dict[str, Any]:
    """LightGBM keywords constraining the booster to be non-decreasing in the ``increasing`` columns
    ({} when there are none). A ZILN booster's three heads share the constraint, so its P(buy), mu
    and sigma, and so its expected spend, all rise with those columns."""
    if not increasing:
        return {}
    missing = sorted(set(increasing) - set(names))
    if missing:
        raise ValueError(f"monotone_increasing names columns that are not model inputs: {missing}")
    # LightGBM's default "basic" method over-constrains the predictions (its docs); "intermediate"
    # is much less constraining, at a small cost in training speed.
    return {"monotone_constraints": [int(n in increasing) for n in names],
            "monotone_constraints_method": "intermediate"}


def _objective_extra(objective: str, Ztr: np.ndarray, ytr: np.ndarray, names: list[str],
                     season: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """What an objective's predictions need besides the booster (offset column, ZILN start, P(buy)
    column, the seasonal level for :data:`SEASON_OBJECTIVES`); None when the objective cannot be
    fitted on these inputs."""
    off_col = names.index(OFFSET_COLUMN) if OFFSET_COLUMN in names else None
    extra: dict[str, Any] = {}
    if season is not None and objective in SEASON_OBJECTIVES:
        extra["season"] = season
    if P_BUY_COLUMN in names:
        no_btyd = np.isnan(Ztr[:, names.index(P_BUY_COLUMN)])
        extra.update(p_col=names.index(P_BUY_COLUMN),
                     p_fill=float(np.mean(ytr[no_btyd] > 0)) if no_btyd.any() else float(np.mean(ytr > 0)))
    if objective == "tweedie_btyd_offset":
        if off_col is None:
            return None
        no_btyd = np.isnan(Ztr[:, off_col])
        extra.update(offset_col=off_col, offset_fill=float(np.mean(ytr[no_btyd])) if no_btyd.any() else 1.0)
    if objective == "ziln":
        if not (ytr > 0).any() or (ytr > 0).all():
            return None
        extra["ziln_init"] = ziln.init_scores(ytr)
    return extra


def _variants(extra: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """Blend weights with BTYD x P(buy) sharpening exponents this frame allows."""
    off_col = names.index(OFFSET_COLUMN) if OFFSET_COLUMN in names else None
    blends = [None] if off_col is None else [{"weight": w, "col": off_col} for w in BLEND_WEIGHTS]
    sharpen = SHARPEN if "p_col" in extra else (1.0,)
    return [{**extra, "blend": b, "sharpen": k} for b in blends for k in sharpen]


def user_folds(groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray | None:
    """Seeded fold index per row, a user's rows (all its cutoffs) in one fold; None when there are
    fewer than ``5 * n_folds`` users (too few for stable out-of-fold means)."""
    users, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    if n_folds < 2 or len(users) < 5 * n_folds:
        return None
    fold_of_user = np.empty(len(users), dtype=np.int64)
    fold_of_user[np.random.default_rng(seed).permutation(len(users))] = np.arange(len(users)) % n_folds
    return fold_of_user[inverse]


def _fit_fixed(params: dict[str, Any], dtrain: lgb.Dataset, rounds: int) -> lgb.Booster:
    """One fit at a fixed round count without a validation set (an out-of-fold calibration fold)."""
    full = {k: v for k, v in params.items() if k not in ("feval", "defaults")}
    full.update(metric="None", bagging_freq=1 if full.get("bagging_fraction", 1.0) < 1.0 else 0)
    return lgb.train(full, dtrain, num_boost_round=max(rounds, 1))


def oof_boosters(objective: str, params: dict[str, Any], Ztr: np.ndarray, ytr: np.ndarray, names: list[str],
                 extra: dict[str, Any], rounds: int, folds: np.ndarray, reference: lgb.Dataset | None
                 ) -> list[tuple[lgb.Booster, np.ndarray]]:
    """(booster fitted without fold f, mask of fold f) for every fold: training rows only."""
    out = []
    for f in range(int(folds.max()) + 1):
        keep = folds != f
        d = make_dataset(Ztr[keep], pp_target(objective, ytr[keep]), names, reference=reference,
                         init_score=offset(Ztr[keep], extra))
        out.append((_fit_fixed(params, d, rounds), folds == f))
    return out


def oof_prediction(oof: list[tuple[lgb.Booster, np.ndarray]], objective: str, Ztr: np.ndarray, rounds: int,
                   cand: dict[str, Any], p_buy: np.ndarray | None = None) -> np.ndarray:
    """Each training row predicted by the fold booster that never saw it (uncalibrated variant);
    ``p_buy``: the P(buy) model's out-of-fold P(buy) of the same rows (same folds), if it sharpens."""
    pred = np.empty(len(Ztr))
    for booster, rows in oof:
        pred[rows] = predict_pp(booster, objective, Ztr[rows], rounds, cand, None if p_buy is None else p_buy[rows])
    return pred


def oof_p_buy(oof: list[tuple[lgb.Booster, np.ndarray]], Z: np.ndarray, rounds: int, info: dict[str, Any]) -> np.ndarray:
    """The ZILN fold boosters' out-of-fold P(buy) of every row."""
    p = np.empty(len(Z))
    for booster, rows in oof:
        p[rows] = _model_pp(booster, "ziln", Z[rows], rounds, info)[1]
    return p


def _mean_scale(y: np.ndarray, pred: np.ndarray) -> float:
    """Factor making the mean prediction equal the mean truth (1 when the prediction is all 0)."""
    return float(np.mean(y) / np.mean(pred)) if np.mean(pred) > 0 else 1.0


def _best_variant(booster: lgb.Booster, objective: str, it: int, variants: list[dict[str, Any]],
                  Zva: np.ndarray, yva: np.ndarray, seed: int,
                  oof: tuple[list[tuple[lgb.Booster, np.ndarray]], np.ndarray, np.ndarray] | None = None,
                  p_buy: tuple[np.ndarray, np.ndarray | None] | None = None
                  ) -> tuple[dict[str, Any], dict, np.ndarray]:
    """Each variant scaled to the training rows' out-of-fold mean (``oof`` = (fold boosters,
    Ztr, ytr); the validation mean without it); ``p_buy`` the P(buy) model's (validation, out-of-fold
    training) P(buy) when it sharpens this candidate; the best by :data:`SELECTION_RULE`:
    (its prediction info, its validation metrics, its validation predictions)."""
    from ranking.metrics import regression_metrics

    scored, preds = [], {}
    for i, cand in enumerate(variants):
        pred = predict_pp(booster, objective, Zva, it, cand, None if p_buy is None else p_buy[0])
        if oof is None:
            cand = {**cand, "scale": _mean_scale(yva, pred), "scale_source": "validation mean"}
        else:
            folds, Ztr, ytr = oof
            cand = {**cand, "scale": _mean_scale(ytr, oof_prediction(folds, objective, Ztr, it, cand,
                                                                     None if p_buy is None else p_buy[1])),
                    "scale_source": f"out-of-fold training mean ({len(folds)} folds by user)"}
        preds[str(i)] = pred * cand["scale"]
        scored.append((cand, regression_metrics(yva, preds[str(i)])))
    ranks = _selection_ranks(preds, yva, seed)
    best = min(ranks, key=lambda k: (ranks[k], scored[int(k)][1]["rmse"]))
    return (*scored[int(best)], preds[best])


def planned_fits(p: TrainParams, n_models: int) -> int:
    """How many LightGBM fits ``n_models`` two-stage models make at most (every purchasing-power
    objective and the tier model, ``trials`` each, or once without Optuna), for a progress total."""
    return n_models * (len(PP_OBJECTIVES) + 1) * max(p.trials, 1)


def fit_purchasing_power(Ztr: np.ndarray, ytr: np.ndarray, Zva: np.ndarray, yva: np.ndarray, names: list[str],
                         p: TrainParams, on_fit: Callable[[], None] | None = None,
                         groups: np.ndarray | None = None, valid_groups: np.ndarray | None = None
                         ) -> tuple[dict[str, lgb.Booster], str, dict[str, Any]]:
    """Tune every objective, add its blends with BTYD and P(buy) sharpenings, calibrate each (under
    the user split on out-of-fold training predictions, ``groups`` / ``valid_groups`` the rows' user
    ids, each row its own user without them; else on validation), choose by :data:`SELECTION_RULE`;
    under the user split refit the chosen variant on training + validation rows (:func:`_refit`).
    Returns (boosters by objective, the selected objective, per-objective validation info)."""
    groups = np.arange(len(ytr)).astype(str) if groups is None else np.asarray(groups).astype(str)
    folds = user_folds(groups, CALIBRATION_FOLDS, p.seed) if p.split == "user" else None
    boosters, info, valid_preds = {}, {}, {}
    reference = None
    season = fit_season(Ztr, ytr, names)
    shared: dict[str, Any] | None = None  # the P(buy) model's P(buy), when it beats BTYD's on validation
    for objective in sorted(PP_OBJECTIVES, key=lambda o: o != P_BUY_MODEL):  # the P(buy) model first
        obj_params = {**PP_OBJECTIVES[objective], **monotone_params(names, p.monotone_increasing)}
        extra = _objective_extra(objective, Ztr, ytr, names, season)
        if extra is None:
            continue
        if shared is not None and objective != P_BUY_MODEL:
            extra["p_source"] = P_BUY_MODEL
        dtrain = make_dataset(Ztr, pp_target(objective, ytr), names, reference=reference, init_score=offset(Ztr, extra))
        if reference is None:  # bin the features once, reuse the bins for the other objectives
            reference = dtrain
        dvalid = make_dataset(Zva, pp_target(objective, yva), names, reference=dtrain, init_score=offset(Zva, extra))
        booster, params, history = tune({**base_params(p), **obj_params}, dtrain, dvalid, p.trials, p.seed,
                                        p.num_boost_round, p.early_stopping_rounds, p.parallel_trials, on_fit)
        it = int(booster.best_iteration)
        if objective == "log1p_l2":  # Duan's smearing: E[exp(e)] of the training residuals on the log scale
            extra["smear"] = float(np.mean(np.exp(np.log1p(ytr) - booster.predict(Ztr, num_iteration=it))))
        oof = None if folds is None else (oof_boosters(objective, {**base_params(p), **obj_params, **params}, Ztr,
                                                       ytr, names, extra, it, folds, reference), Ztr, ytr)
        uses = shared if "p_source" in extra else None
        cand, valid, valid_preds[objective] = _best_variant(booster, objective, it, _variants(extra, names), Zva,
                                                            yva, p.seed, oof, uses and (uses["valid"], uses["train"]))
        if objective == P_BUY_MODEL and "p_col" in extra:
            shared = _shared_p_buy(booster, it, extra, Zva, yva, oof)
        if folds is not None:
            vg = (np.char.add("valid-row:", np.arange(len(yva)).astype(str)) if valid_groups is None
                  else np.asarray(valid_groups).astype(str))
            booster, cand, refit_oof = _refit(objective, {**base_params(p), **obj_params, **params},
                                              np.vstack([Ztr, Zva]), np.concatenate([ytr, yva]),
                                              np.concatenate([groups, vg]), names, cand, it, p.seed, reference,
                                              uses and uses.get("refit"))
            if objective == P_BUY_MODEL and shared is not None and refit_oof is not None:
                shared["refit"] = oof_p_buy(refit_oof, np.vstack([Ztr, Zva]), it, cand)
        if shared is not None and objective == P_BUY_MODEL:
            cand = {**cand, "p_buy_log_loss": shared["log_loss"]}
        boosters[objective] = booster
        info[objective] = {**cand, "valid_rmse": valid["rmse"], "valid_mae": valid["mae"], "valid": valid,
                           "best_iteration": it, "params": params, "trials": history}
    if all(o in info for o in ENSEMBLE):
        valid_preds["ensemble"] = np.mean([valid_preds[o] for o in ENSEMBLE], axis=0)
        info["ensemble"] = _ensemble_info(valid_preds["ensemble"], yva, info)
    ranks = _selection_ranks(valid_preds, yva, p.seed)
    selected = "ensemble" if "ensemble" in info else min(ranks, key=lambda k: (ranks[k], info[k]["valid_rmse"]))
    for k in info:
        info[k]["valid_mean_rank"] = ranks[k]
    return boosters, selected, info


def _shared_p_buy(booster: lgb.Booster, it: int, extra: dict[str, Any], Zva: np.ndarray, yva: np.ndarray,
                  oof: tuple[list[tuple[lgb.Booster, np.ndarray]], np.ndarray, np.ndarray] | None
                  ) -> dict[str, Any] | None:
    """The ZILN booster's P(buy) on the validation rows and out-of-fold on the training rows, when its
    validation log loss beats BTYD's ``btyd_p_buy`` (else None: the others keep BTYD's)."""
    p_va = _model_pp(booster, P_BUY_MODEL, Zva, it, extra)[1]
    buy = yva > 0
    losses = {P_BUY_MODEL: float(log_loss(buy, p_va, labels=[False, True])),
              "btyd": float(log_loss(buy, btyd_p_buy(Zva, extra), labels=[False, True]))}
    if losses[P_BUY_MODEL] >= losses["btyd"]:
        return None
    return {"valid": p_va, "train": None if oof is None else oof_p_buy(oof[0], oof[1], it, extra), "log_loss": losses}


def _refit(objective: str, params: dict[str, Any], Z: np.ndarray, y: np.ndarray, groups: np.ndarray,
           names: list[str], cand: dict[str, Any], rounds: int, seed: int, reference: lgb.Dataset | None,
           p_buy: np.ndarray | None = None) -> tuple[lgb.Booster, dict[str, Any], list | None]:
    """User split, after the choice: the chosen variant refitted on training + validation rows (25 %
    more users; their labels are as old as the training rows') at the early-stopped round count,
    its mean calibration out-of-fold over both (its effect on CDNOW: docs/BENCHMARKS.md).
    ``p_buy``: the P(buy) model's out-of-fold P(buy) of the same rows (same folds), if it sharpens.
    Returns (booster, the variant with its new scale, the fold boosters or None)."""
    folds = user_folds(groups, CALIBRATION_FOLDS, seed)
    if folds is None:
        return _fit_fixed(params, make_dataset(Z, pp_target(objective, y), names, reference=reference,
                                               init_score=offset(Z, cand)), rounds), cand, None
    plain = {k: v for k, v in cand.items() if k not in ("scale", "scale_source")}
    booster = _fit_fixed(params, make_dataset(Z, pp_target(objective, y), names, reference=reference,
                                              init_score=offset(Z, plain)), rounds)
    oof = oof_boosters(objective, params, Z, y, names, plain, rounds, folds, reference)
    scale = _mean_scale(y, oof_prediction(oof, objective, Z, rounds, plain, p_buy))
    return booster, {**plain, "scale": scale, "refit": "training + validation rows",
                     "scale_source": f"out-of-fold training + validation mean ({CALIBRATION_FOLDS} folds by user)"}, oof


def _ensemble_info(pred: np.ndarray, yva: np.ndarray, info: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ensemble's entry beside the candidates': members, validation metrics (no booster of its own)."""
    from ranking.metrics import regression_metrics

    valid = regression_metrics(yva, pred)
    return {"members": list(ENSEMBLE), "valid": valid, "valid_rmse": valid["rmse"], "valid_mae": valid["mae"],
            "best_iteration": info[ENSEMBLE[0]]["best_iteration"], "params": {}, "trials": []}


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced weight per class index (classes absent from ``y`` get 1)."""
    present = np.unique(y)
    weights = np.ones(n_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    return weights


def fit_tier(Ztr: np.ndarray, ytr: np.ndarray, Zva: np.ndarray, yva: np.ndarray, names: list[str],
             n_classes: int, p: TrainParams, on_fit: Callable[[], None] | None = None
             ) -> tuple[lgb.Booster, dict[str, Any]]:
    """Multiclass booster over all ``n_classes`` tiers, weighted by the training class balance."""
    weights = class_weights(ytr, n_classes)
    dtrain = make_dataset(Ztr, ytr, names, weight=weights[ytr])
    dvalid = make_dataset(Zva, yva, names, weight=weights[yva], reference=dtrain)
    base = {**base_params(p), "objective": "multiclass", "num_class": n_classes, "metric": "multi_logloss"}
    decided: dict[str, Any] = {}

    def select(boosters: list[lgb.Booster]) -> int:
        chosen, why = simplest_within_one_se(boosters, lambda b: tier_log_loss(b, Zva, yva), weights[yva])
        decided.update(why)
        return chosen

    booster, params, history = tune(base, dtrain, dvalid, p.trials, p.seed, p.num_boost_round,
                                    p.early_stopping_rounds, p.parallel_trials, on_fit, select)
    info = {"best_iteration": int(booster.best_iteration), "params": params, "trials": history,
            "class_weights": weights.tolist(), "selection": decided}
    return booster, info


def tier_log_loss(booster: lgb.Booster, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row multiclass log loss at the booster's best iteration (LightGBM's clipping)."""
    proba = predict_tier_proba(booster, Z, booster.best_iteration)
    return -np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0))


def predict_tier_proba(booster: lgb.Booster, Z: np.ndarray, num_iteration: int) -> np.ndarray:
    """Tier probabilities (n × n_classes, rows sum to 1)."""
    return np.asarray(booster.predict(Z, num_iteration=num_iteration, **predict_threads(len(Z)))).reshape(len(Z), -1)
