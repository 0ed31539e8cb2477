"""The retrain decision (what counts as nothing new) and its one-line summary."""

from __future__ import annotations

import json

import pytest

from pipelines.retrain.summary import needs_training, summary_line

CONFIG = {"data_dir": "/a", "seed": 42, "horizon_days": 90, "train": {"trials": 4}, "serve": {"port": 8080}}


def test_nothing_new_means_no_training():
    run = {"run_id": "r1", "data_manifest_sha256": "abc"}
    assert needs_training([(run, CONFIG)], "abc", CONFIG) is None
    # Where files go and how serving runs do not change what training learns.
    moved = {**CONFIG, "data_dir": "/b", "serve": {"port": 9000}}
    assert needs_training([(run, CONFIG)], "abc", moved) is None


def test_a_refused_newest_run_on_this_data_is_not_repeated():
    serving = ({"run_id": "old", "data_manifest_sha256": "old-data"}, CONFIG)
    refused = ({"run_id": "new", "data_manifest_sha256": "abc"}, CONFIG)
    assert needs_training([serving, refused], "abc", CONFIG) is None
    assert needs_training([serving], "abc", CONFIG) == "new data since the last run"


def test_new_data_new_settings_or_no_run_train():
    run = {"run_id": "r1", "data_manifest_sha256": "abc"}
    assert needs_training([], "abc", CONFIG) == "no run trained yet"
    assert needs_training([(run, CONFIG)], "def", CONFIG) == "new data since the last run"
    assert needs_training([({"run_id": "old"}, CONFIG)], "abc", CONFIG) == "new data since the last run"
    changed = {**CONFIG, "train": {"trials": 8}}
    assert needs_training([(run, CONFIG)], "abc", changed) == "training settings changed since the last run"


def test_summary_is_one_json_line_with_a_known_status():
    line = summary_line({"status": "up-to-date", "at": "2026-12-01T06:00:00+00:00", "error": "a\nb"})
    assert "\n" not in line and json.loads(line)["error"] == "a\nb"
    with pytest.raises(ValueError):
        summary_line({"status": "fine"})
