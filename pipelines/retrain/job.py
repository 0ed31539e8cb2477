"""``powertier retrain``: the periodic path, safe to run from cron or a systemd timer.

ingest the raw dir -> (nothing new: stop) -> features -> embed -> apply/materialize -> train ->
gate -> promote (run management) -> score and materialize with the serving run. The workspace lock
(taken by the CLI) keeps two retrains, or a retrain and another writing stage, from interleaving. The one-line
summary goes to ``<data dir>/logs/retrain.jsonl`` (appended) and ``logs/retrain-last.json``
(replaced); nothing here prints: progress goes to the ``report`` callback (``batch.job.Report``)."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipelines.batch.job import Report
from pipelines.common.config import PowerTierConfig
from pipelines.common.errors import UserError
from pipelines.common.workspace import Workspace
from pipelines.retrain.summary import needs_training, summary_line
from pipelines.runs import job as runs
from pipelines.runs import registry
from pipelines.storage.files import read_json, write_text

LAST = "retrain-last.json"
LOG = "retrain.jsonl"


def data_sha256(ws: Workspace) -> str | None:
    """SHA-256 of the curated manifest (it has no wall-clock times: same data, same hash)."""
    path = ws.curated / "manifest.json"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def known_runs(ws: Workspace) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(run.json, config.json)`` of the serving run and of the newest run (the same run or two)."""
    dirs = {d.name: d for d in runs.run_dirs(ws)[-1:]}
    serving_id = runs.serving_id(ws)
    if serving_id is not None and (ws.runs / serving_id / "run.json").exists():
        dirs[serving_id] = ws.runs / serving_id
    return [(read_json(d / "run.json"), read_json(d / "config.json")) for d in dirs.values()]


def retrain(cfg: PowerTierConfig, raw: Path, force: bool, report: Report) -> dict[str, Any]:
    """One retrain cycle; returns the summary fields (also logged). The CLI runs it under the
    workspace lock (``pipelines.cli.writes_workspace``), so two cycles never interleave."""
    ws = Workspace(cfg.data_dir)
    t0 = time.perf_counter()
    fields: dict[str, Any] = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "raw": str(raw)}
    try:
        fields.update(_cycle(cfg, ws, raw, force, report))
    except UserError as exc:
        fields.update(status="failed", error=exc.message)
        raise
    except Exception as exc:  # a monitoring job must see the failure even when it is a bug
        fields.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        fields["seconds"] = round(time.perf_counter() - t0, 1)
        write_summary(ws, fields)
    return fields


def _cycle(cfg: PowerTierConfig, ws: Workspace, raw: Path, force: bool, report: Report) -> dict[str, Any]:
    """ingest -> decide -> rebuild/train -> gate/promote -> score; the summary fields."""
    from pipelines.batch.job import rebuild_features
    from pipelines.ingest.job import run_ingest

    report("step", "ingest")
    report("ingest", (run_ingest(cfg, raw), ws))
    sha = data_sha256(ws)
    why = "forced" if force else needs_training(known_runs(ws), sha, cfg.public_dict())
    base = {"data_manifest_sha256": sha, "serving": runs.serving_id(ws)}
    if why is None:
        report("note", "nothing new since the last run: no retrain")
        return {**base, "status": "up-to-date", "run_id": None}
    report("note", f"retrain: {why}")
    cfg = rebuild_features(cfg, report)
    return {**base, "reason": why, **_train_gate_score(cfg, ws, report)}



def _train_gate_score(cfg: PowerTierConfig, ws: Workspace, report: Report) -> dict[str, Any]:
    """Train a run (``train`` promotes it to ``runs/latest`` when its gate passes), then score with
    whichever run is serving: the new one, or the one the gate kept."""
    from pipelines.train.job import score_users, train_run

    report("step", "train")
    run_dir = train_run(cfg, None, None, None, cfg.train.every_days, log=lambda line: report("train", line))
    report("run", run_dir)
    head = registry.headline(read_json(run_dir / "metrics.json"))
    now_serving = runs.serving_id(ws)
    fields = {"run_id": run_dir.name, "pp_gini": head["pp gini"], "tier_qwk": head["tier qwk"],
              "status": "promoted" if now_serving == run_dir.name else "kept", "serving": now_serving}
    if fields["status"] == "kept":
        reasons = "; ".join(registry.gate_reasons(read_json(run_dir / "run.json"))) or "not promoted"
        report("note", f"run {run_dir.name} failed its promotion gate ({reasons}); {now_serving or 'no run'} "
                       "keeps serving")
    if now_serving is None:
        return fields
    report("step", "score")
    n, when, _ = score_users(cfg, ws.runs / now_serving, cfg.as_of)
    report("note", f"scored {n:,} active users as of {when.isoformat()} with {now_serving}")
    return {**fields, "scored": n}


def write_summary(ws: Workspace, fields: dict[str, Any]) -> str:
    """Append the summary line to ``logs/retrain.jsonl`` and replace ``logs/retrain-last.json``."""
    line = summary_line(fields)
    ws.logs.mkdir(parents=True, exist_ok=True)
    with open(ws.logs / LOG, "a", encoding="utf-8") as fh:  # one short line: O_APPEND keeps lines whole
        fh.write(line + "\n")
    write_text(line + "\n", ws.logs / LAST)
    return line
