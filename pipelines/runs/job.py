"""Run management on disk: read the run directories, keep the promotion history, repoint
``runs/promoted`` (the run that ``serve`` and ``score`` use by default), and record provenance.

Files under ``<data dir>/runs/``: one directory per run, ``latest`` (the promoted run: what
``serve``, ``score`` and ``predict`` use; ``train`` moves it when a new run passes its gate) and
``promotions.json`` (every promotion, by train or by hand, and every rollback, oldest first)."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from pipelines.common.errors import UserError
from pipelines.runs import registry, tracking
from pipelines.storage.artifact import PROMOTED_LINK as PROMOTED
from pipelines.storage.files import point_link, read_json, write_json
from pipelines.common.workspace import Workspace

HISTORY = "promotions.json"
LIBRARIES = ("powertier", "lightgbm", "numpy", "pandas", "scikit-learn", "optuna", "feast", "torch",
             "sentence-transformers", "pyarrow", "duckdb")


def run_dirs(ws: Workspace) -> list[Path]:
    """Complete run directories (with ``run.json``), oldest first; links and partial dirs excluded."""
    if not ws.runs.exists():
        return []
    dirs = [p for p in ws.runs.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
            and (p / "run.json").exists()]
    return sorted(dirs, key=lambda p: (read_json(p / "run.json").get("created_at", ""), p.name))


def load(run_dir: Path) -> dict[str, Any]:
    """``run.json``, ``metrics.json`` and ``config.json`` of one run (missing documents are empty)."""
    out: dict[str, Any] = {"id": run_dir.name, "dir": str(run_dir)}
    for name in ("run", "metrics", "config"):
        path = run_dir / f"{name}.json"
        out[name] = read_json(path) if path.exists() else {}
    return out


def serving_id(ws: Workspace) -> str | None:
    """The run ``runs/latest`` points at (None before the first promotion)."""
    link = ws.runs / PROMOTED
    return link.resolve().name if link.exists() else None


def history(ws: Workspace) -> list[dict[str, Any]]:
    path = ws.runs / HISTORY
    return read_json(path) if path.exists() else []


def resolve(ws: Workspace, ref: str) -> Path:
    """A run by id (directory name), ``latest`` (the serving run), or a path to a run directory."""
    for candidate in (ws.runs / ref, Path(ref)):
        if (candidate / "run.json").exists():
            return candidate.resolve()
    known = ", ".join(p.name for p in run_dirs(ws)[-5:]) or "none yet: run `powertier train`"
    raise UserError(f"no run {ref!r} under {ws.runs} (recent runs: {known})")


def promote(ws: Workspace, ref: str, force: bool = False, reason: str = "") -> dict[str, Any]:
    """Make ``ref`` the serving run; refuses a run whose promotion gate failed unless ``force``."""
    run_dir = resolve(ws, ref)
    run = read_json(run_dir / "run.json")
    if registry.gate_passed(run) is False and not force:
        why = "; ".join(registry.gate_reasons(run)) or "see run.json"
        raise UserError(f"run {run_dir.name} failed its promotion gate ({why}); pass --force to promote anyway")
    return promote_dir(ws, run_dir, reason or ("forced" if force else ""))


def promote_dir(ws: Workspace, run_dir: Path, reason: str) -> dict[str, Any]:
    """Point ``runs/latest`` at ``run_dir`` and record it (no gate check: ``train`` applied its own)."""
    past = history(ws)
    current = registry.serving(past)
    if current is not None and current["run_id"] == run_dir.name == serving_id(ws):
        return current  # already serving: promoting again changes nothing (idempotent for retrain)
    event = registry.promotion_event("promote", run_dir.name, _now(), past, reason)
    _record(ws, run_dir, [*past, event])
    return event


def rollback(ws: Workspace, reason: str = "") -> dict[str, Any]:
    """Serve the run that was promoted before the current one."""
    past = history(ws)
    target = registry.rollback_target(past)
    if target is None:
        raise UserError("nothing to roll back to: fewer than two promotions in "
                        f"{ws.runs / HISTORY}" if past else "no run has been promoted yet")
    run_dir = resolve(ws, target)
    event = registry.promotion_event("rollback", target, _now(), past, reason)
    _record(ws, run_dir, [*past, event])
    return event


def _record(ws: Workspace, run_dir: Path, events: list[dict[str, Any]]) -> None:
    # History first: a crash between the two leaves the link on the old run and the history
    # ahead of it, which the next promote repairs (it repoints whenever the link is missing or stale).
    write_json(events, ws.runs / HISTORY)
    point_link(ws.runs / PROMOTED, run_dir)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def provenance(ws: Workspace) -> dict[str, Any]:
    """What ``run.json`` records to reproduce a run: code commit, data manifest hash, libraries."""
    manifest = ws.curated / "manifest.json"
    return {"git": git_state(Path(__file__).resolve().parents[2]),
            "data_manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.exists() else None,
            "libraries": library_versions()}


def git_state(root: Path) -> dict[str, Any]:
    """Commit and dirty flag of the source checkout (None outside a git checkout, e.g. a wheel)."""
    if not (root / ".git").exists():
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def track(cfg: Any, run_dir: Path) -> str:
    """Log a finished run dir to MLflow's local file store (``tracking: mlflow``); the MLflow run id."""
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise UserError("tracking: mlflow needs the MLflow client: pip install 'powertier[mlflow]' "
                        "(mlflow-skinny), or set tracking: none") from exc
    logging.getLogger("alembic").setLevel(logging.WARNING)  # schema migrations on first use: not news
    run = load(run_dir)
    tracking.store_dir(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=tracking.store_uri(cfg.data_dir))
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    exp_id = experiment.experiment_id if experiment else client.create_experiment(
        tracking.EXPERIMENT, artifact_location=tracking.artifact_uri(cfg.data_dir))
    tags = {"powertier.run_id": run_dir.name, "powertier.run_dir": str(run_dir),
            "powertier.feature_service": str(run["run"].get("feature_service")),
            "powertier.git_commit": str(registry.dig(run["run"], "git", "commit")),
            "powertier.data_manifest_sha256": str(run["run"].get("data_manifest_sha256"))}
    mlrun = client.create_run(exp_id, run_name=run_dir.name)
    now = int(time.time() * 1000)
    client.log_batch(mlrun.info.run_id,
                     metrics=[Metric(k, v, now, 0) for k, v in tracking.metric_items(run["metrics"]).items()],
                     params=[Param(k, v) for k, v in tracking.flatten(run["config"]).items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    client.log_artifacts(mlrun.info.run_id, str(run_dir))
    client.set_terminated(mlrun.info.run_id)
    return mlrun.info.run_id
