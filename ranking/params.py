"""Training parameters of stage 2, read from the PowerTier config without importing it
(``ranking`` stays free of the pipeline layer)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_TIERS = ("bronze", "silver", "gold", "platinum")


@dataclass(frozen=True)
class TrainParams:
    """Everything stage 2 needs to know to fit; JSON-able via :meth:`to_dict`."""

    tiers: tuple[str, ...] = DEFAULT_TIERS
    horizon_days: int = 90
    seed: int = 42
    projection: str = "pca"
    projection_dims: int = 16
    trials: int = 4
    parallel_trials: int = 1
    num_boost_round: int = 400
    early_stopping_rounds: int = 30
    num_threads: int = 1
    split: str = "time"
    test_fraction: float = 0.2
    test_cutoffs: int | None = None  # time split: latest cutoffs held out (None: test_fraction of them)
    reasons: str = "path"  # attribution behind the reasons: "path" or "treeshap" (ranking.explain)
    monotone_increasing: tuple[str, ...] = ()  # purchasing-power inputs constrained non-decreasing
    btyd_purchases: str = "bgnbd"  # the BTYD purchase model: "bgnbd" or "pareto_nbd" (ranking.btyd)

    @classmethod
    def from_config(cls, cfg: Any, **overrides: Any) -> "TrainParams":
        """Build from a ``PowerTierConfig`` (duck-typed: ``cfg.train.*``, ``cfg.tiers``, ...)."""
        train = cfg.train
        values = dict(
            tiers=tuple(cfg.tiers), horizon_days=int(cfg.horizon_days), seed=int(cfg.seed),
            projection=train.projection, projection_dims=int(train.projection_dims), trials=int(train.trials),
            parallel_trials=int(getattr(train, "parallel_trials", 1)),
            num_boost_round=int(train.num_boost_round), early_stopping_rounds=int(train.early_stopping_rounds),
            num_threads=int(getattr(train, "num_threads", 1)), split=train.split,
            test_fraction=float(train.test_fraction),
            test_cutoffs=None if getattr(train, "test_cutoffs", None) is None else int(train.test_cutoffs),
            reasons=str(getattr(train, "reasons", "path")),
            monotone_increasing=tuple(getattr(train, "monotone_increasing", ())),
            btyd_purchases=str(getattr(train, "btyd_purchases", "bgnbd")),
        )
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tiers"] = list(self.tiers)
        out["monotone_increasing"] = list(self.monotone_increasing)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainParams":
        return cls(**{**d, "tiers": tuple(d["tiers"]), "monotone_increasing": tuple(d.get("monotone_increasing", ()))})
