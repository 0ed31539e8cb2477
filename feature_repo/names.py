"""Names shared by the Feast definitions and the code that queries them (no Feast import here,
so reading a name costs nothing)."""

PROJECT = "powertier"
# One versioned FeatureService per model head; bump the version when the feature list changes.
MODEL_SERVICES = {"tier": "tier_model_v3", "purchasing_power": "purchasing_power_v3"}
# Request-time field of the on-demand view user_time_features (epoch seconds of the lookup).
REQUEST_TIME_FIELD = "as_of_ts_s"


# The columns of user_transactions: the features stage computes them, the Feast views declare them.
def transactional_feature_names(windows: list[int]) -> list[str]:
    """Feature columns of ``user_transactions`` in schema order (public names)."""
    names = [f"spend_{w}d" for w in windows] + [f"orders_{w}d" for w in windows]
    names += [f"avg_order_value_{w}d" for w in windows]
    names += ["discount_share_365d", "returns_365d", "return_rate_365d", "cancels_365d",
              "category_count_365d", "category_entropy_365d", "lifetime_spend", "lifetime_orders",
              "searches_30d", "reviews_365d", "review_mean_rating", "current_tier",
              "signup_ts_s", "last_order_ts_s",
              "btyd_repeat_purchases", "btyd_recency_days", "btyd_mean_repeat_value", "first_order_day_ts_s"]
    return names


INT_FEATURES_PREFIXES = ("orders_", "returns_", "cancels_", "category_count_", "lifetime_orders",
                         "searches_", "reviews_", "current_tier", "btyd_repeat_purchases")

# Online expiry schedules of user_transactions (serving only; in no model service): per user, the
# times after the last event at which a windowed feature changes, and the values from then on.
EXPIRY_VIEW = "user_transactions_expiry"


def expiring_feature_names(windows: list[int]) -> list[str]:
    """The ``user_transactions`` features that change when an event leaves a window: the windowed
    ones, named ``<what>_<N>d``."""
    import re

    return [n for n in transactional_feature_names(windows) if re.search(r"_\d+d$", n)]

# Interpretable per-user profile tags (embeddings/tags.py): cosine of the text profiles to each
# configured tag's prototype, one row per text-profile row. Served by /v1/predict beside the
# model's answer; in no model service (a tag is a fixed projection of the profile vectors the
# service already carries).
TAGS_VIEW = "user_profile_tags"
TAG_PREFIX = "tag_"


def tag_feature_names(tags: list[str]) -> list[str]:
    """Feature columns of ``user_profile_tags`` for the configured tag names, in order."""
    return [f"{TAG_PREFIX}{t}" for t in tags]
