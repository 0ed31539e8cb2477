"""Entry point of the Feast CLI (``feast -c feature_repo plan|apply|ui``) for the default workspace
(``data_dir`` of powertier.yaml / POWERTIER_DATA_DIR). PowerTier itself builds the same objects
through ``feature_repo.build_definitions`` for whichever workspace it runs in."""

from pipelines.common.config import load_config
from pipelines.common.workspace import Workspace

from feature_repo.definitions import build_definitions

_cfg = load_config()
_defs = build_definitions(Workspace(_cfg.data_dir).features, _cfg.features.windows_days, _cfg.tiers)

user = _defs.entity
user_transactions = _defs.views["user_transactions"]
user_time_features = _defs.views["user_time_features"]
user_review_profile = _defs.views["user_review_profile"]
user_search_profile = _defs.views["user_search_profile"]
user_predictions = _defs.views["user_predictions"]
user_predictions_source = _defs.sources["user_predictions"]
tier_model_v1, purchasing_power_v1 = _defs.services
