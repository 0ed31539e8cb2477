"""Zero-inflated lognormal (ZILN, Wang, Liu & Miao 2019) as a custom LightGBM objective.

One booster with three raw scores per row (``num_class=3``): the logit of P(spend > 0), the mean
``mu`` and the log standard deviation ``log sigma`` of log spend given a purchase. It is a hurdle
model (P(buy) x E[spend | buy]) whose two parts are fitted jointly. The expected spend is
``p * exp(mu + sigma^2 / 2)`` (the lognormal mean, no smearing needed); trees act on the log scale,
so a heavy spender's prediction is multiplicative, not capped by a leaf value on the money scale.

Gradients are exact; the Hessians are the Fisher information (``p(1-p)``, ``1/sigma^2`` and 2),
positive everywhere, with a tiny floor where a row does not inform a score (non-buyers for mu and
sigma). LightGBM's raw scores start from :func:`init_scores` (the training rows' pooled estimates).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
from scipy.special import expit

LOG_SIGMA_RANGE = (-4.0, 4.0)  # exp(±4): keeps exp(mu + sigma^2/2) finite
_FLOOR = 1e-6


def _scores(preds: np.ndarray, n: int) -> np.ndarray:
    """LightGBM hands multi-output raw scores as (n, 3), or column-major flat in older versions."""
    return preds.reshape(n, 3, order="F") if preds.ndim == 1 else preds


def _parts(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(buyer mask, P(buy), log sigma, standardised-free residual log y - mu (0 for non-buyers))."""
    pos = y > 0
    log_sigma = np.clip(z[:, 2], *LOG_SIGMA_RANGE)
    resid = np.where(pos, np.log(np.where(pos, y, 1.0)) - z[:, 1], 0.0)
    return pos, expit(z[:, 0]), log_sigma, resid


def objective(preds: np.ndarray, data: lgb.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Fisher Hessian of the ZILN negative log-likelihood w.r.t. the three raw scores."""
    y = data.get_label()
    z = _scores(preds, len(y))
    pos, p, log_sigma, resid = _parts(z, y)
    var = np.exp(2 * log_sigma)
    grad, hess = np.zeros_like(z), np.full_like(z, _FLOOR)
    grad[:, 0], hess[:, 0] = p - pos, np.maximum(p * (1 - p), _FLOOR)
    grad[:, 1] = np.where(pos, -resid / var, 0.0)
    hess[:, 1] = np.where(pos, 1.0 / var, _FLOOR)
    grad[:, 2] = np.where(pos, 1.0 - resid ** 2 / var, 0.0)
    hess[:, 2] = np.where(pos, 2.0, _FLOOR)
    return (grad, hess) if preds.ndim > 1 else (grad.ravel(order="F"), hess.ravel(order="F"))


def negative_log_likelihood(z: np.ndarray, y: np.ndarray) -> float:
    """Mean ZILN negative log-likelihood (up to the constant 0.5 log 2pi + log y of buyers)."""
    pos, p, log_sigma, resid = _parts(z, y)
    ll = np.where(pos, np.log(np.clip(p, 1e-12, 1.0)) - log_sigma - 0.5 * resid ** 2 / np.exp(2 * log_sigma),
                  np.log(np.clip(1.0 - p, 1e-12, 1.0)))
    return -float(np.mean(ll))


def metric(preds: np.ndarray, data: lgb.Dataset) -> tuple[str, float, bool]:
    """LightGBM ``feval``: the validation ZILN loss (lower is better), named ``ziln``."""
    y = data.get_label()
    return "ziln", negative_log_likelihood(_scores(preds, len(y)), y), False


def init_scores(y: np.ndarray) -> list[float]:
    """Starting raw scores from training labels: logit of the buyer share, mean and log sd of log spend."""
    y = np.asarray(y, dtype=np.float64)
    pos = y > 0
    if not pos.any() or pos.all():
        raise ValueError("the zero-inflated lognormal needs both zero and positive spend among training labels")
    share = pos.mean()
    log_y = np.log(y[pos])
    sd = float(np.std(log_y)) if pos.sum() > 1 else 1.0
    return [float(np.log(share / (1 - share))), float(log_y.mean()),
            float(np.clip(np.log(max(sd, 1e-3)), *LOG_SIGMA_RANGE))]


def expected_value(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(buy), E[spend]) from the (n, 3) raw scores including their init scores."""
    z = np.asarray(raw, dtype=np.float64).reshape(len(raw), 3)
    p = expit(z[:, 0])
    log_sigma = np.clip(z[:, 2], *LOG_SIGMA_RANGE)
    return p, p * np.exp(np.clip(z[:, 1] + 0.5 * np.exp(2 * log_sigma), None, 700.0))
