"""The serving stage's files: the run it serves (read once at start-up). The event log that the
next ``ingest`` includes is ``pipelines.storage.eventlog`` (ingest reads it too)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.serve.online_read import stored_reader
from pipelines.serve.predict import Predictor, _extra_refs, _split_service
from pipelines.serve.scoring import FastScorer
from feature_repo.names import EXPIRY_VIEW, TAG_PREFIX, TAGS_VIEW, expiring_feature_names
from feature_repo.timestamps import ts_column
from pipelines.storage.files import read_json

if TYPE_CHECKING:
    from feast import FeatureStore

# Event kind -> the raw table its log is ingested as.
EVENT_TABLES = {"order": "orders", "review": "reviews", "search": "searches"}


def load_predictor(store: FeatureStore, run_dir: Path, windows: list[int] | None = None) -> Predictor:
    """The run's model and its feature service (which must serve every model input)."""
    from pipelines.storage.artifact import load_model

    meta = read_json(run_dir / "features.json")
    name = meta.get("feature_service")
    if not name:
        raise ValueError(f"{run_dir}/features.json names no feature service; this run cannot be served online")
    try:
        service = store.get_feature_service(name)
    except Exception as exc:  # Feast raises FeatureServiceNotFoundException (not a LookupError)
        raise LookupError(f"feature service {name!r} is not registered; run `powertier features apply`") from exc
    model = load_model(run_dir)
    features = [f.name for proj in service.feature_view_projections for f in proj.features]
    missing = [c for c in model.required_columns() if c not in features]
    if missing:
        raise ValueError(f"feature service {name!r} lacks model inputs {missing}")
    ts_columns = [c for c in (ts_column(p.name) for p in service.feature_view_projections) if c in features]
    run_json = read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    run_id = run_json.get("run_id", run_dir.name)
    refs, on_demand = _split_service(store, service)
    pred = Predictor(model, str(run_id), service, features, ts_columns, refs, on_demand, FastScorer(model),
                     _expiring(store, windows, features), _tags(store))
    return pred if refs is None else replace(pred, reader=stored_reader(store, refs + _extra_refs(pred)))


def _tags(store: FeatureStore) -> tuple[str, ...]:
    """The registered profile-tag features (none in a workspace applied before the view existed)."""
    views = {v.name: v for v in store.list_feature_views()}
    if TAGS_VIEW not in views:
        return ()
    return tuple(f.name for f in views[TAGS_VIEW].features if f.name.startswith(TAG_PREFIX))


def _expiring(store: FeatureStore, windows: list[int] | None, features: list[str]) -> tuple[str, ...]:
    """The windowed features to serve from the expiry schedule, if its view is registered (a
    workspace applied before it existed serves the stored rows, as before)."""
    if windows is None or EXPIRY_VIEW not in {v.name for v in store.list_feature_views()}:
        return ()
    names = expiring_feature_names(windows)
    missing = [n for n in names if n not in features]
    if missing:
        raise ValueError(f"the feature service lacks windowed features {missing} of the expiry schedule")
    return tuple(names)
