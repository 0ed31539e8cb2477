"""One versioned FeatureService per model: the single feature list used for training, backtests
and serving. Bump the version (``_v3``) when the list changes; never edit a released one."""

from __future__ import annotations

from feast import FeatureService, FeatureView
from feast.on_demand_feature_view import OnDemandFeatureView

from feature_repo.names import MODEL_SERVICES


def model_services(views: dict[str, FeatureView | OnDemandFeatureView]) -> list[FeatureService]:
    """``tier_model_v3`` and ``purchasing_power_v3``: Y, time features, review and search profiles."""
    features = [views["user_transactions"], views["user_time_features"],
                views["user_review_profile"], views["user_search_profile"]]
    return [FeatureService(name=name, features=features, tags={"target": target, "version": "3"},
                           description=f"Inputs of the {target} model (Z = X || Y).")
            for target, name in MODEL_SERVICES.items()]
