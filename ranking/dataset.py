"""Column groups of a training frame: which columns are X (text profiles), Y (transactional
features), labels, provenance or segment attributes, and the explanation family of each feature.

Nothing here hard-codes the transactional feature list: Y is whatever numeric feature the frame
(or the feature service's list) carries, and families are derived from name patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

KEY_COLUMNS = ("user_id", "event_timestamp")
LABEL_COLUMNS = ("purchasing_power", "tier_next", "label_available_at")
EMBEDDING_SUFFIX = "_embedding"
COUNT_SUFFIX = "_count"
WEIGHT_SUFFIX = "_weight"
# Provenance only: per-row feature timestamps (``<view>_ts``) and raw epoch columns (``*_ts_s``).
_PROVENANCE = re.compile(r"(_ts|_ts_s)$")
# First match wins, so the more specific patterns come first.
FAMILY_PATTERNS: tuple[tuple[str, str], ...] = (
    ("btyd", r"^btyd_"),
    ("season", r"^season_"),
    ("order_value", r"^avg_order_value|order_value"),
    ("tier", r"tier"),
    ("recency_tenure", r"^days_since|tenure|recency"),
    ("returns_discounts", r"return|discount|cancel|refund"),
    ("category", r"categor"),
    ("spend", r"spend"),
    ("orders", r"orders?(_|$)"),
    ("engagement", r"search|review|rating|session|click|view"),
)
FEATURE_SETS = ("XY", "X", "Y")


@dataclass(frozen=True)
class FeatureSpec:
    """The model inputs of one frame: text views (X) and transactional features (Y)."""

    text_views: tuple[str, ...] = ()
    text_counts: tuple[str, ...] = ()
    y_features: tuple[str, ...] = ()
    families: dict[str, str] = field(default_factory=dict)

    def restrict(self, feature_set: str) -> "FeatureSpec":
        """The same spec keeping only X, only Y, or both (``"XY"``)."""
        if feature_set not in FEATURE_SETS:
            raise ValueError(f"feature_set must be one of {FEATURE_SETS}, got {feature_set!r}")
        keep_x, keep_y = "X" in feature_set, "Y" in feature_set
        ys = self.y_features if keep_y else ()
        return FeatureSpec(
            text_views=self.text_views if keep_x else (),
            text_counts=self.text_counts if keep_x else (),
            y_features=ys,
            families={k: v for k, v in self.families.items() if k in ys},
        )

    def to_dict(self) -> dict:
        return {"text_views": list(self.text_views), "text_counts": list(self.text_counts),
                "y_features": list(self.y_features), "families": dict(self.families)}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSpec":
        return cls(tuple(d["text_views"]), tuple(d["text_counts"]), tuple(d["y_features"]), dict(d["families"]))


def feature_family(name: str) -> str:
    """Explanation family of a transactional feature, from its name."""
    for family, pattern in FAMILY_PATTERNS:
        if re.search(pattern, name):
            return family
    return "other"


def is_provenance(name: str) -> bool:
    """Columns that only say where a feature row came from: never model inputs."""
    return bool(_PROVENANCE.search(name))


def _candidate_features(frame: pd.DataFrame, feature_names: list[str] | None) -> list[str]:
    reserved = set(KEY_COLUMNS) | set(LABEL_COLUMNS)
    names = list(frame.columns) if feature_names is None else list(feature_names)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"feature columns missing from the frame: {missing}")
    return [n for n in names if n not in reserved and not is_provenance(n)]


def infer_feature_spec(frame: pd.DataFrame, feature_names: list[str] | None = None) -> FeatureSpec:
    """Split the features of ``frame`` (or the given service list) into X views and Y features.

    A text view ``v`` is a ``v_embedding`` column; its ``v_count`` joins X. Every other numeric
    feature is Y. Without ``feature_names``, string columns are segment attributes (not inputs);
    with it, a non-numeric feature is an error.
    """
    names = _candidate_features(frame, feature_names)
    views = tuple(n[: -len(EMBEDDING_SUFFIX)] for n in names if n.endswith(EMBEDDING_SUFFIX))
    # A view's count and (search) decay-weight sum are text-derived: they belong to X, not Y.
    counts = tuple(f"{v}{suffix}" for v in views for suffix in (COUNT_SUFFIX, WEIGHT_SUFFIX)
                   if f"{v}{suffix}" in names)
    taken = {f"{v}{EMBEDDING_SUFFIX}" for v in views} | set(counts)
    ys, bad = [], []
    for name in names:
        if name in taken:
            continue
        if _is_numeric(frame[name]):
            ys.append(name)
        elif feature_names is not None:
            bad.append(name)
    if bad:
        raise ValueError(f"non-numeric feature columns cannot be model inputs: {bad}")
    return FeatureSpec(views, counts, tuple(ys), {y: feature_family(y) for y in ys})


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def segment_columns(frame: pd.DataFrame, spec: FeatureSpec, max_levels: int = 20) -> list[str]:
    """User attributes usable for segment metrics: low-cardinality string columns, not inputs."""
    used = set(spec.y_features) | set(spec.text_counts) | set(KEY_COLUMNS) | set(LABEL_COLUMNS)
    out = []
    for name in frame.columns:
        s = frame[name]
        if name in used or name.endswith(EMBEDDING_SUFFIX) or is_provenance(name):
            continue
        # pandas >= 2 infers object columns: a column of vectors is not a string column.
        if (pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype)) \
                and 1 < s.nunique(dropna=True) <= max_levels:
            out.append(name)
    return out


def numeric_matrix(frame: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> np.ndarray:
    """Float64 matrix of ``columns`` with every kind of null (None, pd.NA, NaN) as NaN."""
    if not columns:
        return np.empty((len(frame), 0), dtype=np.float64)
    return np.column_stack([pd.to_numeric(frame[c], errors="raise").to_numpy(dtype="float64", na_value=np.nan)
                            for c in columns])
