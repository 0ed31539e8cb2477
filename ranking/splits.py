"""Train / validation / test splits of a (user, cutoff) frame, by time or by user."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Split:
    """The three parts of a split and a JSON-able description of how they were made."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    info: dict = field(default_factory=dict)


def label_available_at(frame: pd.DataFrame, horizon_days: int) -> pd.Series:
    """When each row's label window (c, c+H] closes: the column if present, else cutoff + H."""
    if "label_available_at" in frame.columns:
        return pd.to_datetime(frame["label_available_at"], utc=True)
    return pd.to_datetime(frame["event_timestamp"], utc=True) + pd.Timedelta(days=horizon_days)


def split_frame(frame: pd.DataFrame, strategy: str, test_fraction: float, horizon_days: int,
                seed: int, test_cutoffs: int | None = None) -> Split:
    """Dispatch on ``strategy`` ("time" or "user"); see the two functions below (``test_cutoffs``:
    time split only)."""
    if strategy == "time":
        return time_split(frame, test_fraction, horizon_days, seed, test_cutoffs)
    if strategy == "user":
        return user_split(frame, test_fraction, seed)
    raise ValueError(f"unknown split strategy {strategy!r} (expected 'time' or 'user')")


def time_split(frame: pd.DataFrame, test_fraction: float, horizon_days: int, seed: int,
               test_cutoffs: int | None = None) -> Split:
    """Last cutoffs are test (``test_cutoffs`` of them, else ``test_fraction`` of the cutoffs, at
    least one and never all); earlier rows train only if their label window closed by the first
    test cutoff (rows in the gap are dropped and counted). Validation is the latest eligible
    cutoff, or a seeded share of users when only one cutoff is eligible."""
    cutoffs = np.sort(pd.to_datetime(frame["event_timestamp"], utc=True).unique())
    if len(cutoffs) < 2:
        raise ValueError("time split needs at least two cutoffs; use more cutoffs or split 'user'")
    wanted = round(test_fraction * len(cutoffs)) if test_cutoffs is None else test_cutoffs
    n_test = min(max(1, wanted), len(cutoffs) - 1)
    first_test = cutoffs[-n_test]
    ts = pd.to_datetime(frame["event_timestamp"], utc=True)
    is_test = (ts >= first_test).to_numpy()
    eligible = ~is_test & (label_available_at(frame, horizon_days) <= first_test).to_numpy()
    if not eligible.any():
        raise ValueError(
            f"time split: no training cutoff has its {horizon_days}-day label window closed by the first "
            f"test cutoff {pd.Timestamp(first_test).isoformat()}; add cutoffs, lower test_fraction or split 'user'")
    pool, test = frame[eligible], frame[is_test]
    pool_cutoffs = np.sort(pd.to_datetime(pool["event_timestamp"], utc=True).unique())
    if len(pool_cutoffs) >= 2:
        in_valid = (pd.to_datetime(pool["event_timestamp"], utc=True) == pool_cutoffs[-1]).to_numpy()
        train, valid, how = pool[~in_valid], pool[in_valid], "latest eligible cutoff"
    else:
        train, valid = _carve_users(pool, test_fraction, seed)
        how = "seeded user share of the only eligible cutoff"
    info = {"strategy": "time", "validation": how, "first_test_cutoff": pd.Timestamp(first_test).isoformat(),
            "dropped_gap_rows": int((~is_test & ~eligible).sum()),
            "valid_label_overlap_days": valid_label_overlap_days(train, valid, horizon_days)}
    return Split(_reset(train), _reset(valid), _reset(test), _describe(info, train, valid, test))


def valid_label_overlap_days(train: pd.DataFrame, valid: pd.DataFrame, horizon_days: int) -> int:
    """Days by which the label windows of training rows of validation users reach past the validation
    cutoff (0: none, or no shared user). A positive overlap lets trees that remember a user's level
    score on spend they were trained on: the validation figures, and every choice made on them, are
    optimistic (the test is purged: every training label window closes by it)."""
    shared = train[train["user_id"].astype(str).isin(set(valid["user_id"].astype(str)))]
    if shared.empty:
        return 0
    first_valid = pd.to_datetime(valid["event_timestamp"], utc=True).min()
    return max(int((label_available_at(shared, horizon_days).max() - first_valid).days), 0)


def overlap_warning(days: int) -> str:
    """The run note and report flag for a positive :func:`valid_label_overlap_days`."""
    return (f"training labels reach {days} days into the validation window, for the same users: validation "
            "figures (and the choices made on them) favour models that remember a user's level; the test is "
            "purged (bench/purged_validation.py measures the difference)")


def user_split(frame: pd.DataFrame, test_fraction: float, seed: int) -> Split:
    """Seeded split of users (all their cutoffs go together); validation users carved from train."""
    if frame["user_id"].nunique() < 3:
        raise ValueError("user split needs at least three distinct users")
    rest, test = _carve_users(frame, test_fraction, seed)
    train, valid = _carve_users(rest, test_fraction, seed + 1)
    info = {"strategy": "user", "validation": "seeded share of training users", "dropped_gap_rows": 0,
            "valid_label_overlap_days": valid_label_overlap_days(train, valid, 0)}
    return Split(_reset(train), _reset(valid), _reset(test), _describe(info, train, valid, test))


def _carve_users(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, carved): a seeded ``fraction`` of the distinct users, at least one, never all."""
    users = np.sort(frame["user_id"].astype(str).unique())
    if len(users) < 2:
        raise ValueError("cannot carve a validation/test share out of fewer than two users")
    n = min(max(1, round(fraction * len(users))), len(users) - 1)
    chosen = np.random.default_rng(seed).permutation(users)[:n]
    mask = frame["user_id"].astype(str).isin(set(chosen)).to_numpy()
    return frame[~mask], frame[mask]


def _reset(df: pd.DataFrame) -> pd.DataFrame:
    return df.reset_index(drop=True)


def _describe(info: dict, train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame) -> dict:
    parts = {"train": train, "valid": valid, "test": test}
    info["rows"] = {k: int(len(v)) for k, v in parts.items()}
    info["users"] = {k: int(v["user_id"].nunique()) for k, v in parts.items()}
    info["cutoffs"] = {k: [pd.Timestamp(c).isoformat() for c in sorted(v["event_timestamp"].unique())]
                       for k, v in parts.items()}
    return info
