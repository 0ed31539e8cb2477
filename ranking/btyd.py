"""Buy-Till-You-Die models: BG/NBD (Fader, Hardie & Lee 2005), Pareto/NBD (Schmittlein, Morrison &
Colombo 1987, in the form of Fader & Hardie's 2005 note) and Gamma-Gamma (Fader & Hardie 2013).

scikit-learn style estimators over the classic sufficient statistics of each customer:

* ``frequency`` x — repeat purchases (purchase days after the first) in the calibration period;
* ``recency`` t_x — time from the first purchase to the last one;
* ``T`` — time from the first purchase to the end of calibration (the customer's age);
* ``monetary`` m_x — mean value of the repeat purchases (Gamma-Gamma only; needs x > 0).

Times are in any one unit (PowerTier uses days, the published CDNOW figures use weeks); the fitted
scale parameters (alpha, gamma) carry that unit. Fits are maximum likelihood with scipy: the
parameters are optimised in log space with L-BFGS-B on the analytic log-likelihood (scipy.special),
so they stay positive without bounds. pymc-marketing was not used: it pulls pymc, pytensor (C
compilation at first use) and arviz into an environment pinned around torch, for a MAP fit that
scipy does in seconds on 100k customers (bench/btyd_fit.py: BG/NBD × GG 0.9 s, Pareto/NBD × GG 3.0 s
on a population with dropout; 3.4 s and 25 s on one with none).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, gammaln, hyp2f1, log1p
from sklearn.base import BaseEstimator

_QUADRATURE_NODES = 48  # Pareto/NBD P(buy): within 1e-13 of adaptive quadrature (CDNOW in days, 273-day horizon)
# Pareto/NBD A0 is integrated numerically where its log integrand spans at most this much over the nodes
# (on 600 random parameter sets the quadrature was within 5e-12 of the closed form up to 60).
_MAX_QUADRATURE_VARIATION = 40.0
_CLOSED_FORM_MAX_Z = 0.9  # below it scipy's hyp2f1 is ~0.1-0.4 us a value, faster than 48 nodes
_START = np.zeros(4)  # log(1) for every parameter: a neutral start the likelihood moves away from fast


@cache
def _unit_gauss_legendre() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights moved from [-1, 1] to [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
    return (nodes + 1.0) / 2.0, weights / 2.0


def _columns(X: np.ndarray, n: int, names: str) -> list[np.ndarray]:
    """The ``n`` float columns of ``X`` (a 2-D array), validated: finite and non-negative."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n:
        raise ValueError(f"expected an array of shape (n, {n}) with columns {names}, got {X.shape}")
    if not np.isfinite(X).all() or (X < 0).any():
        raise ValueError(f"columns {names} must be finite and >= 0")
    return [X[:, j] for j in range(n)]


def _distinct_rows(*cols: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the columns and their share of all rows: the likelihood is evaluated once
    per distinct (x, t_x, T), which on day-resolution data is a small fraction of the customers."""
    rows, counts = np.unique(np.c_[cols], axis=0, return_counts=True)
    return [rows[:, j] for j in range(rows.shape[1])], counts / counts.sum()


def _fit_log_params(nll, n_params: int, start: np.ndarray | None = None) -> tuple[np.ndarray, float, bool]:
    """Minimise ``nll(log_params)`` with L-BFGS-B; returns (params, log-likelihood, converged)."""
    x0 = _START[:n_params] if start is None else np.log(start)
    # Bounded log parameters (e^±12): the line search never visits overflowing values.
    with np.errstate(all="ignore"):
        res = minimize(nll, x0, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * n_params,
                       options={"maxiter": 2000, "gtol": 1e-8})
    return np.exp(res.x), -float(res.fun), bool(res.success)


def _fit_purchase_model(model: "BetaGeo | ParetoNBD", X: np.ndarray) -> np.ndarray:
    """Maximum likelihood of a purchase model (``model.log_likelihood(params, x, t_x, T)``, four
    parameters, those at ``model.TIME_PARAMS`` carrying the time unit) on the first three columns
    of ``X``; sets ``params_``, ``log_likelihood_``, ``converged_`` and ``n_customers_``."""
    x, t_x, T = _columns(np.asarray(X, dtype=np.float64)[:, :3], 3, "(frequency, recency, T)")
    if (t_x > T + 1e-9).any() or ((x == 0) & (t_x > 0)).any():
        raise ValueError("recency must be <= T, and 0 for customers without repeat purchases")
    if not len(x):
        raise ValueError(f"{model.LABEL} needs at least one customer")
    # Scale times so the scale parameters start near 1 whatever the unit; undone on the fitted ones.
    scale = max(float(np.mean(T)), 1e-9)
    unscale = np.ones(4)
    unscale[list(model.TIME_PARAMS)] = scale
    (ux, ut, uT), w = _distinct_rows(x, t_x / scale, T / scale)

    def nll(log_p: np.ndarray) -> float:
        p = np.exp(log_p)
        return -float(w @ model.log_likelihood(p, ux, ut, uT)) + model.penalizer * float(np.sum(p ** 2))

    params, _, model.converged_ = _fit_log_params(nll, 4)
    model.params_ = params * unscale
    model.log_likelihood_ = float(np.sum(model.log_likelihood(model.params_, x, t_x, T)))
    model.n_customers_ = len(x)
    return model.params_


class BetaGeo(BaseEstimator):
    """BG/NBD: Poisson purchases with gamma(r, alpha) rates while alive; after each purchase the
    customer drops out with probability p ~ beta(a, b).

    ``fit(X)`` with ``X[:, :3] = (frequency, recency, T)``; ``predict(X)`` is the expected number of
    purchases in the next ``horizon`` time units. ``penalizer`` adds an L2 term on the parameters
    (0 = plain maximum likelihood, as published).
    """

    LABEL, PARAM_NAMES = "BG/NBD", ("r", "alpha", "a", "b")
    TIME_PARAMS = (1,)  # alpha carries the time unit

    def __init__(self, horizon: float = 1.0, penalizer: float = 0.0):
        self.horizon = horizon
        self.penalizer = penalizer

    @staticmethod
    def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Per-customer log-likelihood of (x, t_x, T) under ``params = (r, alpha, a, b)``."""
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a3 = -(r + x) * np.log(alpha + T)
        repeat = x > 0
        # log(a) - log(b + x - 1) is only defined for x > 0; the term is absent otherwise.
        a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
                      -np.inf)
        return a1 + a2 + np.logaddexp(a3, a4)

    def fit(self, X: np.ndarray, y: None = None) -> "BetaGeo":
        """Maximum-likelihood (r, alpha, a, b) from the first three columns of ``X``."""
        self.r_, self.alpha_, self.a_, self.b_ = _fit_purchase_model(self, X)
        return self

    def expected_purchases(self, X: np.ndarray, t: float | None = None, alive: np.ndarray | None = None) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T] (``t`` defaults to ``horizon``; ``alive``: the
        rows' :meth:`p_alive` when the caller has it)."""
        x, t_x, T = _columns(np.asarray(X, dtype=np.float64)[:, :3], 3, "(frequency, recency, T)")
        t = self.horizon if t is None else float(t)
        r, alpha, a, b = self.params_
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        return np.clip(head * body * (self.p_alive(X) if alive is None else alive), 0.0, None)

    def p_alive(self, X: np.ndarray) -> np.ndarray:
        """P(the customer is still active at T | x, t_x, T)."""
        x, t_x, T = _columns(np.asarray(X, dtype=np.float64)[:, :3], 3, "(frequency, recency, T)")
        r, alpha, a, b = self.params_
        repeat = x > 0
        # In log space: the odds overflow for frequent customers who stopped long ago.
        log_odds = np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        return np.where(repeat, expit(-log_odds), 1.0)

    def p_purchase(self, X: np.ndarray, t: float | None = None, alive: np.ndarray | None = None) -> np.ndarray:
        """P(at least one purchase in (T, T + t] | x, t_x, T) = P(alive) x (1 - P(no purchase | alive)),
        the rate's posterior being gamma(r + x, alpha + T) (``t`` defaults to ``horizon``)."""
        x, _, T = _columns(np.asarray(X, dtype=np.float64)[:, :3], 3, "(frequency, recency, T)")
        t = self.horizon if t is None else float(t)
        r, alpha, _, _ = self.params_
        none_if_alive = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        return np.clip((self.p_alive(X) if alive is None else alive) * (1.0 - none_if_alive), 0.0, 1.0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Expected purchases in the next ``horizon`` time units."""
        return self.expected_purchases(X)


class ParetoNBD(BaseEstimator):
    """Pareto/NBD: Poisson purchases with gamma(r, alpha) rates, and an exponential lifetime whose
    rate is gamma(s, beta): unlike BG/NBD, a customer can drop out at any time, also before buying
    again. Same contract as :class:`BetaGeo` (``X[:, :3] = (frequency, recency, T)``)."""

    LABEL, PARAM_NAMES = "Pareto/NBD", ("r", "alpha", "s", "beta")
    TIME_PARAMS = (1, 3)  # alpha and beta carry the time unit

    def __init__(self, horizon: float = 1.0, penalizer: float = 0.0):
        self.horizon = horizon
        self.penalizer = penalizer

    @staticmethod
    def _log_a0(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """log A0 of Fader & Hardie's note, the integral over the unobserved dropout time tau in (t_x, T]:
        A0 = (r+s+x) int (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau. In closed form, except where its
        hypergeometric argument z is near 1 (alpha and beta far apart, e.g. a population with no sign of
        dropout, where s and beta grow together): there scipy's hyp2f1 sums thousands of terms (the fit
        took 168 s on 20k such customers, bench/btyd_fit.py), so Gauss-Legendre quadrature is used where
        the integrand is smooth enough on its nodes (5.5 s)."""
        r, alpha, s, beta = params
        x, t_x, T = (np.asarray(a, dtype=np.float64) for a in (x, t_x, T))
        out = np.empty_like(x)
        near_one = abs(alpha - beta) / (max(alpha, beta) + t_x) > _CLOSED_FORM_MAX_Z  # z is largest at t_x
        if near_one.any():
            quadrature, variation = ParetoNBD._log_a0_quadrature(params, x[near_one], t_x[near_one], T[near_one])
            near_one[near_one] = variation <= _MAX_QUADRATURE_VARIATION
            out[near_one] = quadrature[variation <= _MAX_QUADRATURE_VARIATION]
        closed = ~near_one
        out[closed] = ParetoNBD._log_a0_hypergeometric(params, x[closed], t_x[closed], T[closed])
        return out

    @staticmethod
    def _log_a0_quadrature(params: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                           T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log A0, the log integrand's range over the nodes) by 48-node Gauss-Legendre in v = log(m + tau),
        m = min(alpha, beta): the substitution moves the nearest singularity (tau = -m) to infinity, so only
        the integrand's own range limits the accuracy (within 1e-11 of the closed form up to a range of 60)."""
        r, alpha, s, beta = params
        x, t_x, T = (np.asarray(a, dtype=np.float64) for a in (x, t_x, T))
        near, far = (r + x, np.full_like(x, s + 1.0)) if alpha <= beta else (np.full_like(x, s + 1.0), r + x)
        low, gap = min(alpha, beta), abs(alpha - beta)
        v0 = np.log(low + t_x)
        width = np.log(low + T) - v0
        nodes, weights = _unit_gauss_legendre()
        v = v0[:, None] + width[:, None] * nodes[None, :]
        log_f = (1.0 - near)[:, None] * v - far[:, None] * np.log(np.exp(v) + gap)
        top = log_f.max(axis=1)
        with np.errstate(divide="ignore"):  # t_x == T: no room to drop out unseen, A0 = 0
            log_int = top + np.log(np.exp(log_f - top[:, None]) @ weights) + np.log(width)
        return np.log(r + s + x) + log_int, np.ptp(log_f, axis=1)

    @staticmethod
    def _log_a0_hypergeometric(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """log A0 in closed form. Euler's transformation 2F1(a, b; a+1; z) = (1-z)^(1-b) 2F1(1, a+1-b; a+1; z)
        keeps every hypergeometric value bounded, so frequent customers neither overflow nor cancel."""
        r, alpha, s, beta = params
        rsx = r + s + x
        big, b = (alpha, s + 1.0) if alpha >= beta else (beta, r + x)

        def log_term(t: np.ndarray) -> np.ndarray:
            z = abs(alpha - beta) / (big + t)
            return (1.0 - b) * log1p(-z) + np.log(hyp2f1(1.0, rsx + 1.0 - b, rsx + 1.0, z)) - rsx * np.log(big + t)

        first, last = log_term(t_x), log_term(T)
        with np.errstate(divide="ignore"):  # t_x == T: no room to drop out unseen, A0 = 0
            return first + np.log(-np.expm1(np.minimum(last - first, 0.0)))

    @staticmethod
    def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Per-customer log-likelihood of (x, t_x, T) under ``params = (r, alpha, s, beta)``."""
        r, alpha, s, beta = params
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        return head + np.logaddexp(alive, np.log(s) - np.log(r + s + x) + ParetoNBD._log_a0(params, x, t_x, T))

    def fit(self, X: np.ndarray, y: None = None) -> "ParetoNBD":
        """Maximum-likelihood (r, alpha, s, beta) from the first three columns of ``X``."""
        self.r_, self.alpha_, self.s_, self.beta_ = _fit_purchase_model(self, X)
        return self

    def p_alive(self, X: np.ndarray) -> np.ndarray:
        """P(the customer is still active at T | x, t_x, T)."""
        x, t_x, T = _columns(np.asarray(X, dtype=np.float64)[:, :3], 3, "(frequency, recency, T)")
        r, alpha, s, beta = self.params_
        log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
                    + self._log_a0(self.params_, x, t_x, T))
        return expit(-log_odds)

    def expected_purchases(self, X: np.ndarray, t: float | None = None, alive: np.ndarray | None = None) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T]: P(alive) x E[lambda] x E[(1 - e^(-mu t)) / mu],
        the posteriors of an active customer's rates being gamma(r + x, alpha + T) and gamma(s, beta + T)."""
        x, _, T = _columns(np.asarray(X, dtype=np.float64)[:, :3], 3, "(frequency, recency, T)")
        t = self.horizon if t is None else float(t)
        r, alpha, s, beta = self.params_
        log_ratio = np.log(beta + T) - np.log(beta + T + t)
        # (beta+T)/(s-1) (1 - ((beta+T)/(beta+T+t))^(s-1)); its limit at s = 1 is (beta+T) log((beta+T+t)/(beta+T)).
        life = (beta + T) * (-np.expm1((s - 1) * log_ratio) / (s - 1) if abs(s - 1) > 1e-9 else -log_ratio)
        return (self.p_alive(X) if alive is None else alive) * (r + x) / (alpha + T) * life

    def p_purchase(self, X: np.ndarray, t: float | None = None, alive: np.ndarray | None = None) -> np.ndarray:
        """P(at least one purchase in (T, T + t] | x, t_x, T): for an active customer the first purchase
        comes before the dropout with density lambda e^(-(lambda+mu)u), whose posterior mean factorises;
        integrated over u in (0, t] by Gauss-Legendre quadrature (the integrand is smooth and monotone)."""
        x, _, T = _columns(np.asarray(X, dtype=np.float64)[:, :3], 3, "(frequency, recency, T)")
        t = self.horizon if t is None else float(t)
        r, alpha, s, beta = self.params_
        nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
        u = (nodes + 1.0) * t / 2.0
        a_T, b_T = (alpha + T)[:, None], (beta + T)[:, None]
        density = (r + x)[:, None] / a_T * (a_T / (a_T + u)) ** ((r + x)[:, None] + 1.0) * (b_T / (b_T + u)) ** s
        p_buy_if_alive = density @ weights * t / 2.0
        return np.clip((self.p_alive(X) if alive is None else alive) * p_buy_if_alive, 0.0, 1.0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Expected purchases in the next ``horizon`` time units."""
        return self.expected_purchases(X)


class GammaGamma(BaseEstimator):
    """Gamma-Gamma spend: a customer's transaction values are gamma(p, nu) with nu ~ gamma(q, gamma).

    ``fit(X)`` with ``X = (frequency, monetary)``, on customers with ``frequency > 0`` (others are
    ignored: they have no repeat value); ``predict(X)`` is E[transaction value | x, m_x], the
    population mean ``p·gamma/(q-1)`` for customers without repeat purchases.
    """

    def __init__(self, penalizer: float = 0.0):
        self.penalizer = penalizer

    @staticmethod
    def log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Per-customer log-density of the mean repeat value ``m`` over ``x`` transactions."""
        p, q, g = params
        px = p * x
        return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g) + (px - 1) * np.log(m)
                + px * np.log(x) - (px + q) * np.log(x * m + g))

    def fit(self, X: np.ndarray, y: None = None) -> "GammaGamma":
        """Maximum-likelihood (p, q, gamma) on the customers with repeat purchases and positive value."""
        x, m = _columns(X, 2, "(frequency, monetary)")
        keep = (x > 0) & (m > 0)
        if keep.sum() < 2:
            raise ValueError("Gamma-Gamma needs at least two customers with repeat purchases of positive value")
        x, m = x[keep], m[keep]
        scale = float(np.mean(m))  # fit in units of the mean value; gamma carries the money unit
        (ux, um), w = _distinct_rows(x, m / scale)

        def nll(log_p: np.ndarray) -> float:
            prm = np.exp(log_p)
            return -float(w @ self.log_likelihood(prm, ux, um)) + self.penalizer * float(np.sum(prm ** 2))

        (p, q, g), _, self.converged_ = _fit_log_params(nll, 3)
        g *= scale
        self.params_ = np.array([p, q, g])
        self.p_, self.q_, self.gamma_ = p, q, g
        self.log_likelihood_ = float(np.sum(self.log_likelihood(self.params_, x, m)))
        self.n_customers_ = int(keep.sum())
        return self

    def population_mean(self) -> float:
        """E[transaction value] of a customer nothing is known about (infinite if q <= 1)."""
        p, q, g = self.params_
        return float(p * g / (q - 1)) if q > 1 else float("inf")

    def predict(self, X: np.ndarray) -> np.ndarray:
        """E[transaction value | x, m_x]; customers with x = 0 get :meth:`population_mean`."""
        x, m = _columns(X, 2, "(frequency, monetary)")
        p, q, g = self.params_
        cond = p * (g + x * m) / (p * x + q - 1)
        return np.where(x > 0, cond, self.population_mean())


class BTYDSpend(BaseEstimator):
    """BG/NBD (or Pareto/NBD) × Gamma-Gamma: expected spend in the next ``horizon`` time units.

    ``X = (frequency, recency, T, monetary)``; ``purchases`` names the purchase model
    (:data:`PURCHASE_MODELS`). :meth:`transform` gives the three stage-2 inputs (expected purchases,
    P(alive), expected order value); :meth:`predict` their product's spend.
    """

    def __init__(self, horizon: float = 1.0, penalizer: float = 0.0, purchases: str = "bgnbd"):
        self.horizon = horizon
        self.penalizer = penalizer
        self.purchases = purchases

    def _purchase_model(self) -> "BetaGeo | ParetoNBD":
        if self.purchases not in PURCHASE_MODELS:
            raise ValueError(f"unknown BTYD purchase model {self.purchases!r}; expected one of {sorted(PURCHASE_MODELS)}")
        return PURCHASE_MODELS[self.purchases](self.horizon, self.penalizer)

    def fit(self, X: np.ndarray, y: None = None) -> "BTYDSpend":
        """Fit the purchase model on (x, t_x, T) and Gamma-Gamma on (x, m_x)."""
        cols = _columns(X, 4, "(frequency, recency, T, monetary)")
        self.purchases_ = self._purchase_model().fit(np.c_[cols[0], cols[1], cols[2]])
        self.gamma_gamma_ = GammaGamma(self.penalizer).fit(np.c_[cols[0], cols[3]])
        return self

    def get_state(self) -> dict:
        """JSON-able parameters that rebuild this fitted model (:meth:`from_state`)."""
        return {"horizon": self.horizon, "penalizer": self.penalizer, "purchase_model": self.purchases,
                "purchases": self.purchases_.params_.tolist(), "gamma_gamma": self.gamma_gamma_.params_.tolist(),
                "log_likelihood": [self.purchases_.log_likelihood_, self.gamma_gamma_.log_likelihood_]}

    @classmethod
    def from_state(cls, state: dict) -> "BTYDSpend":
        """Inverse of :meth:`get_state` (no refit); runs saved before Pareto/NBD existed are BG/NBD."""
        model = cls(state["horizon"], state["penalizer"], state.get("purchase_model", "bgnbd"))
        model.purchases_, model.gamma_gamma_ = model._purchase_model(), GammaGamma(state["penalizer"])
        model.purchases_.params_ = np.asarray(state.get("purchases", state.get("bgnbd")))
        model.gamma_gamma_.params_ = np.asarray(state["gamma_gamma"])
        model.purchases_.log_likelihood_, model.gamma_gamma_.log_likelihood_ = state["log_likelihood"]
        return model

    def describe(self) -> str:
        """The fitted parameters in one phrase, e.g. for a run's notes."""
        m = self.purchases_
        p, q, g = self.gamma_gamma_.params_
        return (f"{m.LABEL} ({', '.join(f'{n}={v:.3g}' for n, v in zip(m.PARAM_NAMES, m.params_))}) "
                f"x Gamma-Gamma (p={p:.3g}, q={q:.3g}, gamma={g:.3g})")

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n, 3): expected purchases in ``horizon``, P(alive), expected order value."""
        cols = _columns(X, 4, "(frequency, recency, T, monetary)")
        rft = np.c_[cols[0], cols[1], cols[2]]
        alive = self.purchases_.p_alive(rft)  # once: expected purchases are P(alive) x E[purchases | alive]
        return np.c_[self.purchases_.expected_purchases(rft, alive=alive), alive,
                     self.gamma_gamma_.predict(np.c_[cols[0], cols[3]])]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Expected spend in the next ``horizon``: expected purchases × expected order value."""
        out = self.transform(X)
        return out[:, 0] * out[:, 2]


PURCHASE_MODELS = {"bgnbd": BetaGeo, "pareto_nbd": ParetoNBD}


def label(purchases: str) -> str:
    """The BTYD baseline's name for reports, e.g. "BG/NBD × Gamma-Gamma"."""
    return f"{PURCHASE_MODELS[purchases].LABEL} × Gamma-Gamma"


def run_label(metrics: dict) -> str:
    """The BTYD baseline's name as a run's ``metrics.json`` records it (BG/NBD in runs from before)."""
    return metrics.get("btyd_model", label("bgnbd"))


def baseline_keys(purchases: str) -> dict[str, str]:
    """Baseline name -> purchase model, for a run whose BTYD inputs use ``purchases``: ``btyd`` is that
    model (the inputs' and the gate's, as before), ``btyd_<model>`` each other purchase model, so that a
    user who would pick either classic model sees it beside the main model."""
    return {"btyd": purchases, **{f"btyd_{m}": m for m in PURCHASE_MODELS if m != purchases}}


def is_baseline(name: str) -> bool:
    """Whether a model kind of a run is a BTYD baseline (``btyd`` or ``btyd_<purchase model>``)."""
    return name == "btyd" or name.removeprefix("btyd_") in PURCHASE_MODELS


def run_baselines(metrics: dict) -> dict[str, str]:
    """Baseline name -> report label of every BTYD baseline a run's ``metrics.json`` holds (runs from
    before the second baseline hold ``btyd`` alone)."""
    named = metrics.get("btyd_baselines") or {"btyd": run_label(metrics)}
    pp = metrics.get("purchasing_power", {})
    return {k: v for k, v in named.items() if k in pp}


def calibration_summary(customer: np.ndarray, ts: np.ndarray, value: np.ndarray, end: np.datetime64,
                        unit_days: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(customer ids, (n, 4) array of frequency, recency, T, monetary) from a transaction log.

    Transactions after ``end`` are ignored and a customer's transactions on one calendar day count
    as one purchase (values summed), as in the published BG/NBD and Gamma-Gamma fits. Times are in
    units of ``unit_days`` days (7 = weeks); ``monetary`` is the mean repeat value (0 without repeats).
    """
    day = np.asarray(ts, dtype="datetime64[D]")
    keep = day <= np.datetime64(end, "D")
    frame = {"c": np.asarray(customer)[keep], "d": day[keep].astype(np.int64), "v": np.asarray(value, float)[keep]}
    order = np.lexsort((frame["d"], frame["c"]))
    c, d, v = (frame[k][order] for k in ("c", "d", "v"))
    new_day = np.r_[True, (c[1:] != c[:-1]) | (d[1:] != d[:-1])]
    day_id = np.cumsum(new_day) - 1
    c, d, v = c[new_day], d[new_day], np.bincount(day_id, weights=v)
    ids, first_idx, counts = np.unique(c, return_index=True, return_counts=True)
    last_idx = first_idx + counts - 1
    first, last = d[first_idx], d[last_idx]
    first_value = v[first_idx]
    totals = np.add.reduceat(v, first_idx) if len(v) else np.empty(0)
    x = counts - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(x > 0, (totals - first_value) / np.where(x > 0, x, 1.0), 0.0)
    end_day = np.datetime64(end, "D").astype(np.int64)
    return ids, np.c_[x, (last - first) / unit_days, (end_day - first) / unit_days, monetary]


# Point-in-time statistics a training frame carries (features stage; T is computed on demand).
STATISTICS = ("btyd_repeat_purchases", "btyd_recency_days", "btyd_age_days", "btyd_mean_repeat_value")
# Stage-2 inputs derived from a fitted BTYDSpend (null for users without a purchase yet).
OUTPUTS = ("btyd_expected_purchases", "btyd_p_alive", "btyd_expected_value", "btyd_expected_spend", "btyd_p_buy")


def statistics_matrix(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X for :class:`BTYDSpend`, mask of customers) from the (n, 4) :data:`STATISTICS` columns.

    Users without a purchase yet (null age) are no BTYD customers; a null mean repeat value is 0
    (it only enters Gamma-Gamma when there are repeat purchases)."""
    stats = np.asarray(stats, dtype=np.float64)
    x, rec, age, value = stats.T
    customer = ~np.isnan(age)
    X = np.c_[np.nan_to_num(x), np.nan_to_num(rec), np.nan_to_num(age), np.nan_to_num(value)]
    X[:, 2] = np.maximum(X[:, 2], X[:, 1])  # age from the day start, recency in whole days: keep t_x <= T
    return X, customer


def btyd_outputs(model: "BTYDSpend", stats: np.ndarray) -> np.ndarray:
    """(n, 5) :data:`OUTPUTS` for the rows of ``stats``; NaN rows for non-customers."""
    X, customer = statistics_matrix(stats)
    out = np.full((len(X), len(OUTPUTS)), np.nan)
    if customer.any():
        t = model.transform(X[customer])
        out[customer] = np.c_[t, t[:, 0] * t[:, 2], model.purchases_.p_purchase(X[customer, :3], alive=t[:, 1])]
    return out
