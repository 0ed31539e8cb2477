"""Projection of each text view's vector V to a few dimensions: ``X = W_pro · V``, L2-normalised.

PCA is fitted on training rows that have a vector; rows without one project to NaN, which both
LightGBM and the linear reference's imputer understand as "no text yet".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from ranking.dataset import EMBEDDING_SUFFIX

_CHUNK = 100_000  # rows projected at a time, to bound the float32 copy of the vectors


def vector_mask(series: pd.Series) -> np.ndarray:
    """True where a row holds a vector (list/ndarray), False for None / NaN / pd.NA."""
    return np.fromiter((isinstance(v, (list, tuple, np.ndarray)) for v in series.to_numpy(dtype=object)),
                       dtype=bool, count=len(series))


def stack_vectors(series: pd.Series, mask: np.ndarray) -> np.ndarray:
    """The vectors of the masked rows as one float32 matrix; all must share one dimension."""
    values = series.to_numpy(dtype=object)[mask]
    if len(values) == 0:
        return np.empty((0, 0), dtype=np.float32)
    dims = {len(v) for v in values}
    if len(dims) != 1:
        raise ValueError(f"{series.name}: vectors of different dimensions {sorted(dims)}")
    return np.stack([np.asarray(v, dtype=np.float32) for v in values])


def projected_columns(view: str, k: int, method: str) -> list[str]:
    """Names of the projected columns of one view."""
    tag = "pc" if method == "pca" else "e"
    return [f"{view}_{tag}{i:02d}" for i in range(k)]


class TextProjector(BaseEstimator, TransformerMixin):
    """Per text view: PCA to ``dims`` components (``method="pca"``) or the raw vector (``"none"``)."""

    def __init__(self, views: tuple[str, ...] = (), method: str = "pca", dims: int = 16, seed: int = 0,
                 max_fit_rows: int = 100_000):
        self.views = views
        self.method = method
        self.dims = dims
        self.seed = seed
        self.max_fit_rows = max_fit_rows

    def fit(self, frame: pd.DataFrame, y: object = None) -> "TextProjector":
        """Fit one projection per view on the rows of ``frame`` that have a vector."""
        if self.method not in ("pca", "none"):
            raise ValueError(f"projection must be 'pca' or 'none', got {self.method!r}")
        self.components_, self.mean_, self.input_dim_, self.fit_rows_ = {}, {}, {}, {}
        for view in self.views:
            col = frame[f"{view}{EMBEDDING_SUFFIX}"]
            mask = vector_mask(col)
            rows = np.flatnonzero(mask)
            if len(rows) > self.max_fit_rows:  # PCA of a seeded sample: components converge long before 1M rows
                rows = np.sort(np.random.default_rng(self.seed).choice(rows, self.max_fit_rows, replace=False))
            sub = np.zeros(len(col), dtype=bool)
            sub[rows] = True
            self._fit_view(view, stack_vectors(col, sub))
        return self

    def _fit_view(self, view: str, mat: np.ndarray) -> None:
        d = mat.shape[1]
        self.input_dim_[view], self.fit_rows_[view] = int(d), int(mat.shape[0])
        if self.method == "none":
            self.components_[view] = np.eye(d, dtype=np.float64)
            self.mean_[view] = np.zeros(d, dtype=np.float64)
            return
        k = min(self.dims, mat.shape[0], d)
        if k == 0:
            self.components_[view], self.mean_[view] = np.empty((0, d)), np.zeros(d)
            return
        with threadpool_limits(limits=1):  # see transform
            pca = PCA(n_components=k, svd_solver="covariance_eigh", random_state=self.seed).fit(mat)
        self.components_[view] = pca.components_.astype(np.float64)
        self.mean_[view] = pca.mean_.astype(np.float64)

    def feature_names_out(self) -> list[str]:
        """Output column names, in order."""
        return [c for v in self.views for c in projected_columns(v, self.components_[v].shape[0], self.method)]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Projected, L2-normalised columns; NaN where a row has no vector for that view."""
        # One BLAS thread, as in the fit: a threaded BLAS sums in an order that depends on its thread
        # count, so a Ray worker (one thread) and a local run (two) differed in the last bits, which
        # the linear reference's GLM amplified to 1e-7 (test_engine_ray_runs_..._like_local).
        with threadpool_limits(limits=1):
            parts = [self._transform_view(v, frame[f"{v}{EMBEDDING_SUFFIX}"]) for v in self.views]
        out = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=range(len(frame)))
        out.index = frame.index
        return out

    def _transform_view(self, view: str, col: pd.Series) -> pd.DataFrame:
        comp, mean = self.components_[view], self.mean_[view]
        if comp.shape[0] == 0:  # no training row had this view: nothing to project onto
            return pd.DataFrame(index=range(len(col)))
        out = np.full((len(col), comp.shape[0]), np.nan)
        mask = vector_mask(col)
        rows = np.flatnonzero(mask)
        for start in range(0, len(rows), _CHUNK):
            idx = rows[start:start + _CHUNK]
            sub = np.zeros(len(col), dtype=bool)
            sub[idx] = True
            mat = stack_vectors(col, sub).astype(np.float64)
            if mat.shape[1] != comp.shape[1]:
                raise ValueError(f"{view}: vectors have dimension {mat.shape[1]}, "
                                 f"the projection expects {comp.shape[1]}")
            proj = (mat - mean) @ comp.T
            norms = np.linalg.norm(proj, axis=1, keepdims=True)
            out[idx] = proj / np.where(norms > 0, norms, 1.0)
        return pd.DataFrame(out, columns=projected_columns(view, comp.shape[0], self.method))

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-able metadata and named arrays that rebuild this fitted projector (no pickle)."""
        meta = {"views": list(self.views), "method": self.method, "dims": self.dims, "seed": self.seed,
                "max_fit_rows": self.max_fit_rows, "input_dim": self.input_dim_, "fit_rows": self.fit_rows_}
        arrays = {f"{v}.components": self.components_[v] for v in self.views}
        arrays.update({f"{v}.mean": self.mean_[v] for v in self.views})
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> "TextProjector":
        """Inverse of :meth:`get_state`."""
        proj = cls(tuple(meta["views"]), meta["method"], meta["dims"], meta["seed"], meta["max_fit_rows"])
        proj.components_ = {v: np.asarray(arrays[f"{v}.components"], dtype=np.float64) for v in proj.views}
        proj.mean_ = {v: np.asarray(arrays[f"{v}.mean"], dtype=np.float64) for v in proj.views}
        proj.input_dim_, proj.fit_rows_ = dict(meta["input_dim"]), dict(meta["fit_rows"])
        return proj
