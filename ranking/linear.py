"""The linear reference ``P = Z · W_score`` on the same Z as LightGBM.

Median imputation with missing indicators, standardisation, then a Poisson GLM with a log link on
purchasing power in money (its fitted mean equals the training mean, so the reference is calibrated
money; ridge on log1p, the former reference, had a negative test R² on the demo) or a multinomial
logistic regression for the tier. scikit-learn fits; the learned numbers are then
kept as plain arrays and prediction is numpy on those arrays, so a reloaded model predicts
bit-for-bit the same without pickling any estimator.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

_ARRAYS = ("medians_", "missing_cols_", "mean_", "scale_", "coef_", "intercept_", "classes_", "target_range_")


class LinearReference(BaseEstimator):
    """``task="regression"``: ridge on log1p(y); ``task="classification"``: multinomial logistic
    with balanced class weights, probabilities over ``n_classes`` (absent classes get 0)."""

    def __init__(self, task: str = "regression", alpha: float = 1.0, C: float = 1.0, n_classes: int = 0,
                 max_iter: int = 300, max_rows: int = 100_000, seed: int = 0, regression: str = "poisson"):
        self.task = task
        self.regression = regression
        self.alpha = alpha
        self.C = C
        self.n_classes = n_classes
        self.max_iter = max_iter
        self.max_rows = max_rows
        self.seed = seed

    def fit(self, Z: np.ndarray, y: np.ndarray) -> "LinearReference":
        """Fit imputer, scaler and the linear model, then keep only their arrays.

        A linear model of ~100 inputs gains nothing from more than ``max_rows`` rows, so larger
        inputs are fitted on a seeded sample of that many rows (bounds the 1M-example fit)."""
        if len(Z) > self.max_rows:
            rows = np.sort(np.random.default_rng(self.seed).choice(len(Z), self.max_rows, replace=False))
            Z, y = np.asarray(Z)[rows], np.asarray(y)[rows]
        # One BLAS thread: right after LightGBM, idle OpenMP workers still spin and a multi-threaded
        # BLAS fighting them made this fit 17x slower (58 s vs 3.4 s on 19k rows, 2 cores).
        with threadpool_limits(limits=1):
            return self._fit(Z, y)

    def _fit(self, Z: np.ndarray, y: np.ndarray) -> "LinearReference":
        imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True).fit(Z)
        self.medians_ = imputer.statistics_.astype(np.float64)
        self.missing_cols_ = (imputer.indicator_.features_ if imputer.indicator_ is not None
                              else np.empty(0)).astype(np.int64)
        scaler = StandardScaler().fit(self._impute(Z))
        self.mean_, self.scale_ = scaler.mean_.astype(np.float64), scaler.scale_.astype(np.float64)
        Zs = self._design(Z)
        if self.task == "regression" and self.regression == "poisson":
            y = np.asarray(y, dtype=np.float64)
            # alpha is per row in sklearn's GLMs: a small L2 keeps ~100 standardised inputs stable.
            # Newton-Cholesky: a ~100-column GLM converges in a few exact Newton steps, where lbfgs on
            # heavy-tailed money stopped at max_iter with a ConvergenceWarning (issue 16).
            model = PoissonRegressor(alpha=self.alpha * 1e-3, solver="newton-cholesky",
                                     max_iter=self.max_iter).fit(Zs, y)
            self.coef_, self.intercept_ = model.coef_.reshape(1, -1), np.atleast_1d(model.intercept_)
            # exp of an unbounded linear score explodes on outlying rows; keep the log-mean within
            # a little above the largest training value.
            self.target_range_ = np.array([-np.inf, np.log(y.max(initial=1.0) + 1.0) + 1.0])
            self.classes_ = np.empty(0, dtype=np.int64)
        elif self.task == "regression":
            y_log = np.log1p(np.asarray(y, dtype=np.float64))
            model = Ridge(alpha=self.alpha).fit(Zs, y_log)
            self.coef_, self.intercept_ = model.coef_.reshape(1, -1), np.atleast_1d(model.intercept_)
            # expm1 of an unbounded linear score explodes on outlying rows (test RMSE in the
            # millions); predictions stay within the log-range seen in training.
            self.target_range_ = np.array([0.0, y_log.max(initial=0.0)])
            self.classes_ = np.empty(0, dtype=np.int64)
        elif self.task == "classification":
            model = LogisticRegression(C=self.C, class_weight="balanced", max_iter=self.max_iter)
            model.fit(Zs, np.asarray(y, dtype=np.int64))
            self.coef_, self.intercept_ = model.coef_.astype(np.float64), model.intercept_.astype(np.float64)
            self.classes_ = model.classes_.astype(np.int64)
            self.target_range_ = np.empty(0)
        else:
            raise ValueError(f"task must be 'regression' or 'classification', got {self.task!r}")
        return self

    def _impute(self, Z: np.ndarray) -> np.ndarray:
        Z = np.asarray(Z, dtype=np.float64)
        missing = np.isnan(Z)
        filled = np.where(missing, self.medians_, Z)
        return np.hstack([filled, missing[:, self.missing_cols_].astype(np.float64)])

    def _design(self, Z: np.ndarray) -> np.ndarray:
        return (self._impute(Z) - self.mean_) / self.scale_

    def decision_function(self, Z: np.ndarray) -> np.ndarray:
        """Linear scores ``Z_std · W + b`` (one column per class for the tier); one BLAS thread, so
        the scores do not depend on the machine's thread count (see ``TextProjector.transform``)."""
        with threadpool_limits(limits=1):
            return self._design(Z) @ self.coef_.T + self.intercept_

    def predict(self, Z: np.ndarray) -> np.ndarray:
        """Purchasing power (>= 0) or the most probable class index."""
        if self.task == "regression":
            lo, hi = self.target_range_
            score = np.clip(self.decision_function(Z)[:, 0], lo, hi)
            return np.exp(score) if self.regression == "poisson" else np.expm1(score)
        return np.argmax(self.predict_proba(Z), axis=1)

    def predict_proba(self, Z: np.ndarray) -> np.ndarray:
        """Class probabilities over all ``n_classes`` (rows sum to 1)."""
        scores = self.decision_function(Z)
        present = np.column_stack([1 - expit(scores[:, 0]), expit(scores[:, 0])]) if scores.shape[1] == 1 \
            else softmax(scores, axis=1)
        out = np.zeros((len(scores), max(self.n_classes, int(self.classes_.max()) + 1)))
        out[:, self.classes_] = present
        return out

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-able params and named arrays that rebuild this fitted model."""
        return self.get_params(), {name: getattr(self, name) for name in _ARRAYS}

    @classmethod
    def from_state(cls, params: dict, arrays: dict[str, np.ndarray]) -> "LinearReference":
        """Inverse of :meth:`get_state`."""
        model = cls(**{"regression": "ridge_log1p", **params})  # runs saved before the GLM used ridge
        # Runs saved before the regression range was stored predict unbounded, as they did then.
        defaults = {"target_range_": np.array([-np.inf, np.inf]) if model.task == "regression" else np.empty(0)}
        for name in _ARRAYS:
            setattr(model, name, np.asarray(arrays[name] if name in arrays else defaults[name]))
        return model
