"""The e-commerce simulator behind ``powertier generate``.

:func:`simulate` is a pure function from sizes and a seed to the five raw tables of the data
contract (users, orders, reviews, searches, tiers); docs/SIMULATOR.md tells the generative story
and lists every parameter (:class:`pipelines.simulate.params.SimParams`). Independent random
streams per component (numpy ``SeedSequence.spawn``) keep e.g. the orders unchanged when only the
text generator changes.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
from scipy.special import expit

from pipelines.simulate import noise
from pipelines.simulate import vocab as V
from pipelines.simulate.events import (US_PER_DAY, Calendar, Population, calendar, draw_population,
                                        pick_category, thinned_events)
from pipelines.simulate.params import SimParams
from pipelines.simulate.text import CATEGORY_NAMES, TextBank, build_query_bank, build_review_bank
from pipelines.simulate.text import review_texts, search_texts
from pipelines.simulate.tiers import assess_tiers, assessment_days

RAW_TABLES = ("users", "orders", "reviews", "searches", "tiers")
STATUSES = np.array(["completed", "returned", "cancelled"], dtype=object)
DEFAULT_TIERS = ("bronze", "silver", "gold", "platinum")


def draw_orders(rng: np.random.Generator, pop: Population, cal: Calendar, p: SimParams) -> pd.DataFrame:
    """Orders (user index, day, amount, discount, status code, category code) of every user."""
    a, m = pop.affluence, pop.momentum
    lognormal_mean = 0.5 * (p.order_engagement**2 + p.order_affluence**2)  # keeps the mean rate
    rate = p.orders_per_year / 365 * np.exp(p.order_engagement * pop.engagement + p.order_affluence * a
                                            - lognormal_mean)
    trend_max = np.exp(p.momentum_effect * np.maximum(m, 0) * p.momentum_cap_years)

    def trend(user: np.ndarray, t: np.ndarray) -> np.ndarray:
        age_years = np.minimum((t - pop.signup[user]) / 365, p.momentum_cap_years)
        return np.exp(p.momentum_effect * m[user] * age_years)

    user, t = thinned_events(rng, cal, pop.signup, pop.stop, rate, trend_max, trend)
    n = len(user)
    cat = pick_category(rng, pop, user)
    price = np.array([c[1] for c in V.CATEGORIES])[cat]
    noise_ = p.amount_noise * rng.standard_normal(n) - p.amount_noise**2 / 2
    gross = np.maximum(np.round(price * np.exp(p.amount_affluence * a[user] + noise_), 2), 0.5)
    sale = cal.sale[np.minimum(t.astype(np.int64), len(cal.sale) - 1)]
    logit = p.discount_logit + p.discount_sens * pop.price_sens[user] + p.discount_sale_boost * sale
    frac = rng.uniform(0.05, p.discount_max_frac, n)
    discount = np.where(rng.random(n) < expit(logit), np.round(gross * frac, 2), 0.0)
    status = _statuses(rng, cat, pop.satisfaction[user], p)
    return pd.DataFrame({"user": user, "t": t, "amount": np.round(gross - discount, 2),
                         "discount": discount, "status": status, "category": cat})


def _statuses(rng: np.random.Generator, cat: np.ndarray, satisfaction: np.ndarray,
              p: SimParams) -> np.ndarray:
    """0 completed, 1 returned (more for fashion, for unhappy users), 2 cancelled."""
    tilt = np.array([c[3] for c in V.CATEGORIES])[cat] * np.exp(-0.4 * satisfaction)
    p_return = p.return_rate * tilt / tilt.mean() if len(tilt) else tilt
    u = rng.random(len(cat))
    return np.where(u < p.cancel_rate, 2, np.where(u < p.cancel_rate + p_return, 1, 0))


def draw_reviews(rng: np.random.Generator, pop: Population, orders: pd.DataFrame, bank: TextBank,
                 days: int, p: SimParams) -> pd.DataFrame:
    """Reviews written a few days after delivered (completed or returned) orders."""
    u, returned = orders["user"].to_numpy(), (orders["status"] == 1).to_numpy()
    p_review = expit(p.review_logit + 0.6 * pop.engagement[u] + 0.5 * returned)
    t = orders["t"].to_numpy() + 0.2 + rng.exponential(p.review_delay_days, len(u))
    pick = (orders["status"] != 2).to_numpy() & (rng.random(len(u)) < p_review) & (t < days)
    u, returned, t, cat = u[pick], returned[pick], t[pick], orders["category"].to_numpy()[pick]
    n = len(u)
    mood = 3.9 + 0.7 * pop.satisfaction[u] + 0.9 * rng.standard_normal(n) - 1.6 * returned
    rating = np.clip(np.round(mood), 1, 5)
    text, lang = review_texts(rng, bank, pop.affluence[u], pop.momentum[u], pop.zh[u], cat, rating, p)
    text = _with_pii(rng, text, lang, p.pii_review_rate)
    spam = rng.random(n) < p.spam_review_rate
    text = np.where(spam, noise.spam_texts(rng, n), text)
    text = noise.careless_case(rng, text, (lang == 0) & ~spam)
    rating = np.where(spam, 5.0, rating)
    rating = np.where(rng.random(n) < p.rating_missing_rate, np.nan, rating)
    return pd.DataFrame({"user": u, "t": t, "text": text, "rating": rating, "category": cat})


def _with_pii(rng: np.random.Generator, text: np.ndarray, lang: np.ndarray, rate: float) -> np.ndarray:
    """Append an email / phone / card sentence to a ``rate`` share of the texts."""
    n = len(text)
    hit = rng.random(n) < rate
    en = noise.pii_sentences(rng, V.PII_REVIEW_EN, n)
    zh = noise.pii_sentences(rng, V.PII_REVIEW_ZH, n)
    return np.where(hit, np.where(lang == 1, text + zh, text + " " + en), text)


def draw_searches(rng: np.random.Generator, pop: Population, cal: Calendar, bank: TextBank,
                  p: SimParams) -> pd.DataFrame:
    """Searches: a steady engagement-driven stream plus an onboarding burst in the first week."""
    e = pop.engagement
    rate = p.searches_per_year / 365 * np.exp(p.search_engagement * e - p.search_engagement**2 / 2)
    user, t = thinned_events(rng, cal, pop.signup, pop.stop, rate)
    burst = rng.poisson(p.onboarding_searches, len(e))
    b_user = np.repeat(np.arange(len(e)), burst)
    window = np.minimum(7.0, pop.stop - pop.signup)[b_user]
    b_t = pop.signup[b_user] + rng.random(len(b_user)) * window
    user, t = np.concatenate([user, b_user]), np.concatenate([t, b_t])
    n = len(user)
    cat = pick_category(rng, pop, user)
    query, _ = search_texts(rng, bank, pop.affluence[user], pop.momentum[user], pop.zh[user], cat, p)
    pii = rng.random(n) < p.pii_search_rate
    query = np.where(pii, noise.pii_sentences(rng, V.PII_QUERY, n), query)
    spam_pool = np.array(V.SPAM_QUERIES, dtype=object)
    spam = rng.random(n) < p.spam_search_rate
    query = np.where(spam, spam_pool[rng.integers(len(spam_pool), size=n)], query)
    return pd.DataFrame({"user": user, "t": t, "query": query})


def _parse_start(start: str | date | datetime | pd.Timestamp) -> int:
    """Start instant as µs since the epoch (naive values are UTC)."""
    ts = pd.Timestamp(start)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1000)


def _timestamps(start_us: int, t: np.ndarray) -> pd.Series:
    """Days since start -> datetime64[us, UTC] (floored to the microsecond)."""
    us = start_us + np.floor(np.asarray(t, dtype=float) * US_PER_DAY).astype(np.int64)
    return pd.Series(us.astype("datetime64[us]")).dt.tz_localize("UTC")


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(6, len(str(n)))
    return (prefix + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)).to_numpy(dtype=object)


def _events_frame(events: pd.DataFrame, id_col: str, prefix: str, user_ids: np.ndarray,
                  start_us: int, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Sort events by time (then user), assign sequential ids, attach user ids and timestamps."""
    order = np.lexsort((events["user"].to_numpy(), events["t"].to_numpy()))
    ev = events.iloc[order]
    out = pd.DataFrame({id_col: _ids(prefix, len(ev)), "user_id": user_ids[ev["user"].to_numpy()],
                        "ts": _timestamps(start_us, ev["t"].to_numpy())})
    for name, values in columns.items():
        out[name] = np.asarray(values)[order]
    return out


def _validate(n_users: int, days: int, tiers: tuple[str, ...] | list[str]) -> None:
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if len(tiers) < 2 or len(set(tiers)) != len(tiers):
        raise ValueError("tiers must list at least two distinct names, lowest first")


def simulate_with_latent(n_users: int, days: int, seed: int, start: str | date | datetime = "2025-01-01",
                         tiers: tuple[str, ...] | list[str] = DEFAULT_TIERS,
                         params: SimParams | None = None) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """:func:`simulate` plus the hidden per-user latent state (for validation, never written raw)."""
    _validate(n_users, days, tiers)
    p = params or SimParams()
    start_us = _parse_start(start)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    cal = calendar(start_us, days)
    pop = draw_population(rngs[0], n_users, days, p)
    orders = draw_orders(rngs[1], pop, cal, p)
    reviews = draw_reviews(rngs[2], pop, orders, build_review_bank(seed), days, p)
    searches = draw_searches(rngs[3], pop, cal, build_query_bank(rngs[4], p, seed), p)
    user_ids = _ids("u", n_users)
    tables = _assemble(pop, orders, reviews, searches, user_ids, start_us, days, list(tiers), p)
    return tables, _latent_frame(pop, user_ids, start_us)


def _assemble(pop: Population, orders: pd.DataFrame, reviews: pd.DataFrame, searches: pd.DataFrame,
              user_ids: np.ndarray, start_us: int, days: int, tiers: list[str],
              p: SimParams) -> dict[str, pd.DataFrame]:
    """The five raw tables from the internal (user index, day) event frames."""
    tables = {
        "users": pd.DataFrame({"user_id": user_ids, "signup_ts": _timestamps(start_us, pop.signup),
                               "region": pop.region, "signup_channel": pop.channel}),
        "orders": _events_frame(orders, "order_id", "o", user_ids, start_us, {
            "amount": orders["amount"], "status": STATUSES[orders["status"]],
            "category": np.array(CATEGORY_NAMES, dtype=object)[orders["category"]],
            "discount": orders["discount"]}),
        "reviews": _events_frame(reviews, "review_id", "r", user_ids, start_us, {
            "text": reviews["text"], "rating": reviews["rating"],
            "category": np.array(CATEGORY_NAMES, dtype=object)[reviews["category"]]}),
        "searches": _events_frame(searches, "search_id", "s", user_ids, start_us,
                                  {"query": searches["query"]}),
        "tiers": _tiers_frame(orders, pop, start_us, days, tiers, user_ids, p),
    }
    # pandas' string dtype keeps the Parquet column type 'string' even for an empty table
    return {name: df.astype({c: "string" for c in df.columns if df[c].dtype == object})
            for name, df in tables.items()}


def _tiers_frame(orders: pd.DataFrame, pop: Population, start_us: int, days: int, names: list[str],
                 user_ids: np.ndarray, p: SimParams) -> pd.DataFrame:
    """Monthly assessments by the rule in :mod:`pipelines.simulate.tiers`."""
    at, at_us = assessment_days(start_us, days)
    done = orders[orders["status"] == 0]
    u, j, k = assess_tiers(done["user"].to_numpy(), done["t"].to_numpy(), done["amount"].to_numpy(),
                           pop.signup, at, len(names), p)
    ts = pd.Series(at_us[j].astype("datetime64[us]")).dt.tz_localize("UTC")
    return pd.DataFrame({"user_id": user_ids[u], "ts": ts, "tier": np.array(names, dtype=object)[k]})


def _latent_frame(pop: Population, user_ids: np.ndarray, start_us: int) -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": user_ids, "affluence": pop.affluence, "engagement": pop.engagement,
        "momentum": pop.momentum, "price_sensitivity": pop.price_sens, "satisfaction": pop.satisfaction,
        "speaks_zh": pop.zh, "churn_ts": _timestamps(start_us, pop.churn)})


def simulate(n_users: int, days: int, seed: int, start: str | date | datetime = "2025-01-01",
             tiers: tuple[str, ...] | list[str] = DEFAULT_TIERS,
             params: SimParams | None = None) -> dict[str, pd.DataFrame]:
    """Simulate ``n_users`` users over ``days`` days from ``start`` (UTC): the five raw tables.

    Same arguments, same tables (bit for bit). Timestamps are ``datetime64[us, UTC]`` within
    ``[start, start + days)``; tier names are ``tiers`` (lowest first).
    """
    return simulate_with_latent(n_users, days, seed, start, tiers, params)[0]
