"""``build_definitions``: every Feast object of one workspace (PowerTier applies them; the Feast
CLI gets them from the generated ``<data_dir>/feast/powertier_repo.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from feast import Entity, FeatureService, FeatureView
from feast.data_source import DataSource
from feast.on_demand_feature_view import OnDemandFeatureView

from feature_repo.data_sources import make_sources
from feature_repo.entities import user_entity
from feature_repo.feature_services import model_services
from feature_repo.names import EXPIRY_VIEW, TAGS_VIEW
from feature_repo.feature_views import (expiry_view, predictions_view, profile_view, tags_view, time_features_view,
                                        transactions_view)


@dataclass
class Definitions:
    """Every Feast object of one workspace."""

    entity: Entity
    sources: dict[str, DataSource]
    views: dict[str, FeatureView | OnDemandFeatureView] = field(default_factory=dict)
    services: list[FeatureService] = field(default_factory=list)

    def all(self) -> list:
        return [self.entity, *self.sources.values(), *self.views.values(), *self.services]


def build_definitions(features_dir: Path, windows: list[int], tiers: list[str],
                      tags: list[str] | tuple[str, ...] = ()) -> Definitions:
    """Feast objects reading the offline tables under ``features_dir`` (``tags``: the profile tag names)."""
    entity = user_entity()
    sources = make_sources(features_dir)
    views: dict[str, FeatureView | OnDemandFeatureView] = {
        "user_transactions": transactions_view(entity, sources["user_transactions_push"], windows),
        "user_review_profile": profile_view(entity, sources["user_review_profile_push"], "review"),
        "user_search_profile": profile_view(entity, sources["user_search_profile_push"], "search"),
        "user_predictions": predictions_view(entity, sources["user_predictions"], tiers),
        EXPIRY_VIEW: expiry_view(entity, sources[f"{EXPIRY_VIEW}_push"]),
        TAGS_VIEW: tags_view(entity, sources[f"{TAGS_VIEW}_push"], list(tags)),
    }
    views["user_time_features"] = time_features_view(views["user_transactions"])
    return Definitions(entity, sources, views, model_services(views))
