"""Which texts teach the encoder what, point in time (pure: frames in, examples out).

A kept review written at ``ts`` is paired with its author's label at the first label cutoff
``c >= ts`` (the text existed when that label's prediction would have been made), and only
labels whose window has closed by the training end (``label_available_at <= end``) are used.
Users are split once, seeded, into fitting and validation users (all their texts go together).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from embeddings.finetune import Examples
from feature_repo.timestamps import as_utc


@dataclass(frozen=True)
class Pairs:
    """The examples of both user groups plus what the provenance records about them."""

    train: Examples
    valid: Examples
    scale: dict[str, float]  # regression: mean/std used to standardise the target
    info: dict[str, int]


def pair_texts(texts: pd.DataFrame, labels: pd.DataFrame, end: pd.Timestamp, label: str) -> pd.DataFrame:
    """``user_id, text, target, cutoff`` per kept text: its author's label at the first cutoff after it."""
    usable = labels[labels["label_available_at"] <= end].copy()
    usable["target"] = (np.log1p(usable["purchasing_power"].clip(lower=0.0)) if label == "log_pp"
                        else usable["tier_next"])
    # One time resolution on both sides (curated tables are µs, built labels may be ns).
    usable = usable.dropna(subset=["target"]).astype({"event_timestamp": "datetime64[us, UTC]"})
    usable = usable.sort_values("event_timestamp")
    rows = texts[["user_id", "ts", "text"]].astype({"user_id": str, "ts": "datetime64[us, UTC]"}).sort_values("ts")
    merged = pd.merge_asof(rows, usable[["user_id", "event_timestamp", "target"]].astype({"user_id": str}),
                           left_on="ts", right_on="event_timestamp", by="user_id", direction="forward")
    merged = merged.dropna(subset=["target"]).rename(columns={"event_timestamp": "cutoff"})
    return merged[["user_id", "text", "target", "cutoff"]].reset_index(drop=True)


def split_users(pairs: pd.DataFrame, valid_fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded user split: every text of a user is on one side."""
    users = np.sort(pairs["user_id"].unique())
    rng = np.random.default_rng(seed)
    n_valid = max(1, int(round(valid_fraction * len(users)))) if len(users) > 1 else 0
    valid_users = set(rng.permutation(users)[:n_valid])
    is_valid = pairs["user_id"].isin(valid_users)
    return pairs[~is_valid], pairs[is_valid]


def build_pairs(pairs: pd.DataFrame, label: str, valid_fraction: float, max_texts: int, seed: int) -> Pairs:
    """Split, cap (seeded samples: ``max_texts`` fitting texts, a quarter as many for validation)
    and standardise the regression target with the fitting side's mean and std."""
    fit_side, valid_side = split_users(pairs, valid_fraction, seed)
    fit_side = fit_side.sample(n=min(len(fit_side), max_texts), random_state=seed).sort_index()
    valid_side = valid_side.sample(n=min(len(valid_side), max(1, max_texts // 4)), random_state=seed).sort_index()
    scale = {"mean": 0.0, "std": 1.0}
    if label == "log_pp":
        scale = {"mean": float(fit_side["target"].mean()), "std": float(fit_side["target"].std(ddof=0) or 1.0)}
    dtype = float if label == "log_pp" else int

    def examples(side: pd.DataFrame) -> Examples:
        y = ((side["target"].to_numpy(float) - scale["mean"]) / scale["std"]).astype(dtype)
        return Examples(side["text"].astype(str).tolist(), y)

    info = {"train_texts": len(fit_side), "valid_texts": len(valid_side),
            "train_users": int(fit_side["user_id"].nunique()), "valid_users": int(valid_side["user_id"].nunique())}
    return Pairs(examples(fit_side), examples(valid_side), scale, info)


def label_window(split: dict, end: pd.Timestamp) -> pd.Timestamp:
    """When the encoder's labels end: ``end``, or a time-split run's first test cutoff when that is
    earlier (the training rows' own bound), so it never learns a label the run is tested on."""
    first = split.get("first_test_cutoff") if split.get("strategy") == "time" else None
    return min(end, as_utc(first)) if first else end


def run_cutoffs(run: dict) -> list[pd.Timestamp]:
    """A run's training cutoffs: ``run.json``'s list, else those of its split's parts."""
    cuts = run.get("cutoffs") or [c for part in (run.get("split") or {}).get("cutoffs", {}).values() for c in part]
    return sorted({as_utc(c) for c in cuts})
