"""``powertier runs``: list, show, compare, promote, rollback over run directories on disk."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.runs import job
from pipelines.storage.files import write_json
from pipelines.common.workspace import Workspace
from tests.support.cli_helpers import cli_ok


def _fake_run(ws: Workspace, name: str, gini: float, created: str, gate: bool | None = None,
              trials: int = 4) -> None:
    """The three JSON documents run management reads (no model needed for these commands)."""
    d = ws.runs / name
    metrics = {"main_feature_set": "XY",
               "purchasing_power": {"lightgbm": {"XY": {"gini": gini, "rmse": 50.0}}, "persistence": {"gini": 0.3}},
               "tier": {"lightgbm": {"XY": {"qwk": 0.7}}, "persistence": {"qwk": 0.5}}}
    run = {"run_id": name, "created_at": created, "feature_set": "XY", "feature_service": "powertier_v1",
           "data_manifest_sha256": "abc", "git": {"commit": "deadbeef", "dirty": False}}
    if gate is not None:
        run["verdict"] = {"passed": gate, "reasons": [] if gate else ["pp gini below persistence"]}
    write_json(metrics, d / "metrics.json")
    write_json(run, d / "run.json")
    write_json({"seed": 42, "train": {"trials": trials}}, d / "config.json")


def test_promote_compare_and_rollback(data_dir):
    ws = Workspace(data_dir)
    _fake_run(ws, "r1", 0.55, "2026-12-01T10:00:00+00:00")
    _fake_run(ws, "r2", 0.61, "2026-12-01T11:00:00+00:00", trials=8)
    out = cli_ok("runs", "list")
    assert "r1" in out and "r2" in out and "serving: nothing yet" in out
    cli_ok("runs", "promote", "r1")
    assert (ws.runs / "latest").resolve().name == "r1"
    cli_ok("runs", "promote", "r2", "--reason", "better gini")
    out = cli_ok("runs", "list")
    assert "serving: r2 (since " in out and "promote: better gini" in out
    assert "│ * │ r2" in out and "│ * │ r1" not in out
    compare = cli_ok("runs", "compare", "r1", "r2")
    assert "0.5500" in compare and "0.6100" in compare and "config train.trials: 4 -> 8" in compare
    row = next(line for line in compare.splitlines() if "pp gini" in line and "persistence" not in line)
    assert row.rstrip(" │").endswith("B")
    cli_ok("runs", "rollback", "--reason", "complaints")
    assert (ws.runs / "latest").resolve().name == "r1"
    history = json.loads((ws.runs / "promotions.json").read_text())
    assert [(e["action"], e["run_id"]) for e in history] == [("promote", "r1"), ("promote", "r2"), ("rollback", "r1")]
    shown = cli_ok("runs", "show")
    assert '"run_id": "r1"' in shown and '"rollback"' in shown


def test_promote_refuses_a_failed_gate_unless_forced(data_dir):
    ws = Workspace(data_dir)
    _fake_run(ws, "bad", 0.2, "2026-12-01T10:00:00+00:00", gate=False)
    result = CliRunner().invoke(app, ["runs", "promote", "bad"])
    assert result.exit_code == 2 and "failed its promotion gate" in result.output
    assert not (ws.runs / "latest").exists()
    cli_ok("runs", "promote", "bad", "--force")
    assert job.history(ws)[-1]["reason"] == "forced"


def test_unknown_run_and_empty_rollback_are_user_errors(data_dir):
    ws = Workspace(data_dir)
    _fake_run(ws, "r1", 0.5, "2026-12-01T10:00:00+00:00")
    result = CliRunner().invoke(app, ["runs", "show", "nope"])
    assert result.exit_code == 2 and "no run 'nope'" in result.output and "r1" in result.output
    result = CliRunner().invoke(app, ["runs", "rollback"])
    assert result.exit_code == 2 and "no run has been promoted yet" in result.output


def test_promoting_the_serving_run_again_changes_nothing(data_dir):
    ws = Workspace(data_dir)
    _fake_run(ws, "r1", 0.5, "2026-12-01T10:00:00+00:00")
    job.promote(ws, "r1")
    job.promote(ws, "r1")
    assert len(job.history(ws)) == 1
