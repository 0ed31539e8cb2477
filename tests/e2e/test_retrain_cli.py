"""``powertier retrain`` end to end: the first cycle trains, promotes and scores; a second cycle on
the same data changes nothing; a changed training setting retrains, and a run the gate refuses
leaves the serving run in place and is not retrained again. Each cycle leaves one JSON line."""

from __future__ import annotations

import json

import pytest

from tests.support.cli_helpers import cli_ok

pytestmark = pytest.mark.slow


def _summary(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_retrain_is_idempotent_and_leaves_a_summary_line(raw_dir, data_dir, monkeypatch):
    monkeypatch.setenv("POWERTIER_TRAIN__TRIALS", "1")
    # 300 tiny users: the gate's judgement is not the point here, the cycle's plumbing is.
    monkeypatch.setenv("POWERTIER_TRAIN__PROMOTE", "always")
    first = _summary(cli_ok("retrain", "--raw", str(raw_dir)))
    assert first["status"] == "promoted" and first["serving"] == first["run_id"]
    assert first["reason"] == "no run trained yet" and first["scored"] > 0
    runs = data_dir / "runs"
    assert (runs / "latest").resolve().name == first["run_id"]
    assert json.loads((data_dir / "logs" / "retrain-last.json").read_text()) == first

    second = _summary(cli_ok("retrain", "--raw", str(raw_dir)))
    assert second["status"] == "up-to-date" and second["serving"] == first["run_id"]
    assert second["data_manifest_sha256"] == first["data_manifest_sha256"]
    assert sorted(p.name for p in runs.iterdir() if p.is_dir() and not p.is_symlink()) == [first["run_id"]]

    monkeypatch.setenv("POWERTIER_TRAIN__NUM_BOOST_ROUND", "50")
    monkeypatch.setenv("POWERTIER_TRAIN__PROMOTE", "never")  # stands in for a gate that refuses the run
    third = _summary(cli_ok("retrain", "--raw", str(raw_dir)))
    assert third["status"] == "kept" and third["reason"] == "training settings changed since the last run"
    assert third["run_id"] != first["run_id"] and third["serving"] == first["run_id"] and third["scored"] > 0
    assert (runs / "latest").resolve().name == first["run_id"]

    fourth = _summary(cli_ok("retrain", "--raw", str(raw_dir)))
    assert fourth["status"] == "up-to-date"  # the refused run already covers this data and setting
    lines = (data_dir / "logs" / "retrain.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["promoted", "up-to-date", "kept", "up-to-date"]
    assert "serving: " + first["run_id"] in cli_ok("runs", "list")
