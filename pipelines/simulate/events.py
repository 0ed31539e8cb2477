"""Population, calendar and event timing of the simulator (all vectorised numpy).

Time is measured in days since ``start`` (float); events of a user are an inhomogeneous Poisson
process on ``[signup, stop)`` drawn by thinning: candidates at the user's peak rate, each kept
with probability (rate at its time) / (peak rate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from feature_repo.timestamps import US_PER_DAY

from pipelines.simulate import vocab as V
from pipelines.simulate.params import SimParams

WEEKLY = np.array([0.92, 0.92, 0.95, 0.98, 1.05, 1.12, 1.06])  # Monday first
HOURLY = np.array([0.35, 0.2, 0.12, 0.08, 0.08, 0.12, 0.3, 0.55, 0.8, 0.95, 1.05, 1.15, 1.25, 1.15,
                   1.05, 1.05, 1.1, 1.25, 1.5, 1.8, 2.0, 1.85, 1.3, 0.75])
SALE_DAYS = {(11, 11): 2.2, (6, 18): 1.6}  # Singles' Day, 618; Black Friday/Cyber Monday below


@dataclass(frozen=True)
class Calendar:
    """Per-day rate multipliers for day index 0..days (weekly x yearly x sales)."""

    day_factor: np.ndarray
    sale: np.ndarray
    hourly: np.ndarray


@dataclass(frozen=True)
class Population:
    """Users (sorted by signup) and their latent state; times in days since start."""

    signup: np.ndarray
    stop: np.ndarray  # min(churn, days): no events after it
    churn: np.ndarray
    affluence: np.ndarray
    engagement: np.ndarray
    momentum: np.ndarray
    price_sens: np.ndarray
    satisfaction: np.ndarray
    zh: np.ndarray
    region: np.ndarray
    channel: np.ndarray
    pref_cdf: np.ndarray  # (n_users, n_categories) cumulative category interests


def calendar(start_us: int, days: int) -> Calendar:
    """Seasonality: mid-December yearly peak, weekend lift, shopping festivals, evening hours."""
    dates = pd.to_datetime(start_us + np.arange(days + 1) * US_PER_DAY, unit="us", utc=True)
    doy = dates.dayofyear.to_numpy()
    yearly = 1.0 + 0.2 * np.cos(2 * np.pi * (doy - 350) / 365.25)
    month, day, dow = dates.month.to_numpy(), dates.day.to_numpy(), dates.dayofweek.to_numpy()
    boost = np.ones(days + 1)
    for (m, d), mult in SALE_DAYS.items():
        boost[(month == m) & (day == d)] = mult
    black_friday = (month == 11) & (dow == 4) & (day >= 23) & (day <= 29)
    cyber_monday = (dow == 0) & (((month == 11) & (day >= 26)) | ((month == 12) & (day <= 2)))
    boost[black_friday], boost[cyber_monday] = 2.0, 1.6
    boost[(month == 12) & (day <= 20)] *= 1.15
    hourly = HOURLY / HOURLY.mean()
    return Calendar(yearly * WEEKLY[dow] * boost, boost > 1.5, hourly)


def _arrivals(rng: np.random.Generator, n: int, days: int, p: SimParams) -> np.ndarray:
    """Signup days: a launch cohort, then a linearly growing stream until the end (sorted)."""
    launch = rng.random(n) < p.launch_share
    u = rng.random(n)
    g = p.growth
    # inverse CDF of density (1 + g x) on [0, 1]
    later = (np.sqrt(1 + 2 * g * u * (1 + g / 2)) - 1) / g if g > 0 else u
    t = np.where(launch, u * min(p.launch_days, days), later * days)
    return np.sort(np.clip(t, 1e-6, days * (1 - 1e-9)))


def _churn(rng: np.random.Generator, signup: np.ndarray, hazard: np.ndarray, p: SimParams) -> np.ndarray:
    """Churn day from a piecewise-constant hazard (x early_churn_mult during the first weeks)."""
    need = rng.exponential(size=len(signup))  # unit-rate cumulative hazard to spend
    early_h = hazard * p.early_churn_mult
    early_cap = early_h * p.early_churn_days
    age = np.where(need < early_cap, need / early_h, p.early_churn_days + (need - early_cap) / hazard)
    return signup + age


def draw_population(rng: np.random.Generator, n: int, days: int, p: SimParams) -> Population:
    """Arrivals, regions, latent factors, category interests and churn of ``n`` users."""
    signup = _arrivals(rng, n, days, p)
    reg = rng.choice(len(V.REGIONS), size=n, p=[r[1] for r in V.REGIONS])
    shift = np.array([r[2] for r in V.REGIONS])[reg]
    zh = rng.random(n) < np.array([r[3] for r in V.REGIONS])[reg]
    a, e, m, sat = shift + rng.standard_normal(n), *rng.standard_normal((3, n))
    s = p.price_sens_affluence * a + np.sqrt(1 - p.price_sens_affluence**2) * rng.standard_normal(n)
    cats = V.CATEGORIES
    base = np.array([c[2] for c in cats]) / sum(c[2] for c in cats)
    prefs = rng.dirichlet(base * p.pref_concentration * len(cats), size=n)
    prefs = prefs * np.exp(p.pref_affluence_tilt * np.outer(a, [c[4] for c in cats])) + 1e-9
    pref_cdf = np.cumsum(prefs / prefs.sum(axis=1, keepdims=True), axis=1)
    hazard = p.churn_per_year / 365.0 * np.exp(-p.churn_engagement * e - p.churn_satisfaction * sat)
    churn = _churn(rng, signup, hazard, p)
    channel = np.array(V.CHANNELS, dtype=object)[rng.choice(len(V.CHANNELS), size=n, p=V.CHANNEL_SHARES)]
    return Population(signup, np.minimum(churn, days), churn, a, e, m, s, sat, zh,
                      np.array([r[0] for r in V.REGIONS], dtype=object)[reg], channel, pref_cdf)


def pick_category(rng: np.random.Generator, pop: Population, user: np.ndarray) -> np.ndarray:
    """Category code per event from its user's interests."""
    u = rng.random(len(user))[:, None]
    return np.minimum((pop.pref_cdf[user] < u).sum(axis=1), pop.pref_cdf.shape[1] - 1)


def thinned_events(rng: np.random.Generator, cal: Calendar, t0: np.ndarray, t1: np.ndarray,
                   rate: np.ndarray, trend_max: np.ndarray | None = None,
                   trend: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Events of every user on ``[t0, t1)`` with base daily ``rate`` x calendar x optional trend.

    Returns (user index, day) sorted by user then time.
    """
    peak = cal.day_factor.max() * cal.hourly.max() * (1.0 if trend_max is None else trend_max)
    span = np.maximum(t1 - t0, 0.0)
    counts = rng.poisson(rate * peak * span)
    user = np.repeat(np.arange(len(t0)), counts)
    t = t0[user] + rng.random(len(user)) * span[user]
    day = np.minimum(t.astype(np.int64), len(cal.day_factor) - 1)
    hour = np.minimum(((t - np.floor(t)) * 24).astype(np.int64), 23)
    keep = cal.day_factor[day] / cal.day_factor.max() * cal.hourly[hour] / cal.hourly.max()
    if trend is not None and trend_max is not None:
        keep = keep * trend(user, t) / trend_max[user]
    accepted = rng.random(len(user)) < keep
    user, t = user[accepted], t[accepted]
    order = np.lexsort((t, user))
    return user[order], t[order]
