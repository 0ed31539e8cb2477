"""The retrain decision and its one-line summary, without I/O.

``retrain`` is idempotent: when the curated data (its manifest hash) and the training settings are
those of the serving run, or of the newest run (one the gate refused), there is nothing to learn
and it stops after ingest. The summary is one
JSON object on one line, so a monitoring job can ``tail -n 1`` the log or read ``last.json``."""

from __future__ import annotations

import json
from typing import Any

STATUSES = ("up-to-date", "promoted", "kept", "failed")


def training_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of the config that change what training learns (not where files go)."""
    keys = ("horizon_days", "tiers", "seed", "features", "encoder", "train")
    return {k: config.get(k) for k in keys}


def needs_training(known: list[tuple[dict[str, Any], dict[str, Any]]], data_sha256: str | None,
                   config: dict[str, Any]) -> str | None:
    """Why a new run is needed, or None when one of the ``known`` runs (``(run.json, config.json)``
    of the serving run and of the newest run, which the gate may have refused) was already trained
    on this data with these settings: retraining would only repeat it."""
    if not known:
        return "no run trained yet"
    same_data = [c for run, c in known if data_sha256 is not None and run.get("data_manifest_sha256") == data_sha256]
    if not same_data:
        return "new data since the last run"
    if all(training_settings(c) != training_settings(config) for c in same_data):
        return "training settings changed since the last run"
    return None


def summary_line(fields: dict[str, Any]) -> str:
    """One compact JSON line (keys sorted, no newlines inside)."""
    if fields.get("status") not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {fields.get('status')!r}")
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
