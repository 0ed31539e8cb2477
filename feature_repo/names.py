"""Names shared by the Feast definitions and the code that queries them (no Feast import here,
so reading a name costs nothing)."""

PROJECT = "powertier"
# One versioned FeatureService per model head; bump the version when the feature list changes.
MODEL_SERVICES = {"tier": "tier_model_v1", "purchasing_power": "purchasing_power_v1"}
# Request-time field of the on-demand view user_time_features (epoch seconds of the lookup).
REQUEST_TIME_FIELD = "as_of_ts_s"
