"""Every knob of the e-commerce simulator, with the value fixed before any model was built.

docs/SIMULATOR.md explains the generative story these numbers drive. The text-signal
parameters (``text_signal``, ``taste_slope``, ``momentum_share``) were chosen a priori from the
story ("about a third of what a user writes reflects who they are") and are never tuned to make a
downstream model look good; the volume/rate parameters were calibrated once so that the simulated
population matches the targets listed in the docs (zero-spend share, tier mix, texts per user-year).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimParams:
    """Parameters of :func:`pipelines.simulate.simulator.simulate`; rates are per active user-year."""

    # --- arrivals and churn -------------------------------------------------------------
    launch_share: float = 0.30  # share of users arriving in the launch window
    launch_days: float = 30.0  # length of the launch window (days after start)
    growth: float = 1.0  # later arrival intensity rises linearly to (1 + growth) x its start
    churn_per_year: float = 0.55  # base churn hazard (per year) for an average user
    early_churn_mult: float = 3.0  # hazard multiplier during the first `early_churn_days`
    early_churn_days: float = 45.0
    churn_engagement: float = 0.7  # hazard x exp(-this * engagement)
    churn_satisfaction: float = 0.4  # hazard x exp(-this * satisfaction)

    # --- latent state (all standard normal before shifts) ---------------------------------
    price_sens_affluence: float = -0.5  # corr(price sensitivity, affluence)
    pref_concentration: float = 1.5  # Dirichlet concentration of category interests
    pref_affluence_tilt: float = 0.5  # category interest x exp(tilt_c * this * affluence)

    # --- orders ---------------------------------------------------------------------------
    orders_per_year: float = 4.2  # base order rate of an average user
    order_engagement: float = 0.9  # order rate x exp(this * engagement)
    order_affluence: float = 0.25  # order rate x exp(this * affluence)
    momentum_effect: float = 0.45  # order rate x exp(this * momentum * min(age_years, momentum_cap))
    momentum_cap_years: float = 1.5
    amount_affluence: float = 0.55  # log order value + this * affluence
    amount_noise: float = 0.5  # sd of log order value around the user's level
    cancel_rate: float = 0.04  # share of orders cancelled
    return_rate: float = 0.08  # share of orders returned (before category/satisfaction tilt)
    discount_logit: float = -1.1  # P(discount) = sigmoid(this + sens * price_sens + sale_boost)
    discount_sens: float = 1.0
    discount_sale_boost: float = 1.2
    discount_max_frac: float = 0.45  # a discount takes U(0.05, this) of the gross amount

    # --- texts ------------------------------------------------------------------------------
    text_signal: float = 0.35  # P(a text unit is driven by the latent state), fixed a priori
    taste_slope: float = 1.5  # P(premium wording | driven) = sigmoid(this * affluence)
    momentum_share: float = 0.25  # share of driven units that speak about momentum instead
    review_logit: float = 0.0  # P(review | order) = sigmoid(this + 0.6 * engagement)
    review_delay_days: float = 4.0  # mean delay order -> review (exponential, + 0.2 day)
    searches_per_year: float = 8.0  # search rate of an average user
    search_engagement: float = 0.6  # search rate x exp(this * engagement)
    onboarding_searches: float = 2.5  # Poisson mean of extra searches in a user's first week
    zipf_exponent: float = 1.3  # query popularity within (language, category) ~ rank^-this
    zh_review_share: float = 0.85  # P(a Chinese-speaking user writes a review in Chinese)
    zh_search_share: float = 0.6
    typo_rate: float = 0.06  # P(a sentence / query carries a typo)
    spam_review_rate: float = 0.03
    spam_search_rate: float = 0.01
    pii_review_rate: float = 0.035
    pii_search_rate: float = 0.01
    rating_missing_rate: float = 0.03

    # --- tiers --------------------------------------------------------------------------
    tier_low_threshold: float = 25.0  # trailing-365d net spend for the 2nd-lowest tier
    tier_high_threshold: float = 800.0  # ... for the top tier (geometric in between)
    tier_top_min_orders: int = 6  # completed orders for the top tier (1 for the 2nd, linear between)
    tier_retain_frac: float = 0.8  # keep the current tier while spend >= this x its threshold
