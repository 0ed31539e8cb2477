"""Training labels per (user, cutoff), from events strictly after the cutoff (pure)."""

from __future__ import annotations


import numpy as np
import pandas as pd

from feature_repo.timestamps import US_PER_DAY, epoch_us as _us
from pipelines.features.pit import cumulative_at, latest_at



def build_labels(users: pd.DataFrame, orders: pd.DataFrame, cutoffs: list, horizon_days: int,
                 tier_names: list[str], tiers: pd.DataFrame | None = None) -> pd.DataFrame:
    """For each cutoff c and each user with ``signup_ts <= c``:
    ``purchasing_power`` = net spend with ts in (c, c + H]; ``tier_next`` = tier index of the latest
    assessment with ts in (c, c + H] (null if none); ``label_available_at`` = c + H."""
    cut_us = np.unique(_us(cutoffs))
    signup = _us(users["signup_ts"])
    ids = users["user_id"].astype(str).to_numpy()
    u_idx, c_idx = np.nonzero(signup[:, None] <= cut_us[None, :])
    q_code, q_c = u_idx, cut_us[c_idx]
    q_end = q_c + horizon_days * US_PER_DAY
    index = pd.Index(ids)
    done = orders[orders["status"] == "completed"]
    d_code, d_t = index.get_indexer(done["user_id"].astype(str)), _us(done["ts"])
    amount = done["amount"].to_numpy(float)
    spend = (cumulative_at(d_code, d_t, amount, q_code, q_end)
             - cumulative_at(d_code, d_t, amount, q_code, q_c))[:, 0]
    out = pd.DataFrame({"user_id": ids[q_code],
                        "event_timestamp": pd.to_datetime(q_c, unit="us", utc=True),
                        "purchasing_power": np.round(spend, 6) + 0.0})
    out["tier_next"] = pd.array(_tier_next(tiers, tier_names, index, q_code, q_c, q_end), dtype="Int64")
    out["label_available_at"] = pd.to_datetime(q_end, unit="us", utc=True)
    out = out.sort_values(["event_timestamp", "user_id"], kind="stable").reset_index(drop=True)
    return out


def _tier_next(tiers: pd.DataFrame | None, tier_names: list[str], index: pd.Index,
               q_code: np.ndarray, q_c: np.ndarray, q_end: np.ndarray) -> np.ndarray:
    """Tier index of the latest assessment in (c, c + H], NaN if there is none."""
    if tiers is None or not len(tiers):
        return np.full(len(q_code), np.nan)
    ordered = tiers.sort_values("ts", kind="stable")
    level = ordered["tier"].map({n: i for i, n in enumerate(tier_names)}).to_numpy(float)
    t = _us(ordered["ts"])
    code = index.get_indexer(ordered["user_id"].astype(str))
    last_val = latest_at(code, t, level, q_code, q_end)
    last_ts = latest_at(code, t, t.astype(float), q_code, q_end)
    return np.where(last_ts > q_c, last_val, np.nan)
