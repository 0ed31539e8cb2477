"""``powertier runs list | show | compare | promote | rollback``: the run directories, side by side,
and which one is serving."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from pipelines.common.cli import ConfigOpt, console, get_config

runs_app = typer.Typer(no_args_is_help=True, help="List, compare, promote and roll back training runs.")
RunArg = Annotated[str, typer.Argument(help="Run id (directory name under runs/), latest (the serving run), or a path.")]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, tuple, dict)) and len(str(value)) > 60:  # e.g. a list of tag definitions
        return f"[{len(value)} {'keys' if isinstance(value, dict) else 'items'}]"
    return str(value)


def _workspace(config):
    from pipelines.common.workspace import Workspace

    return Workspace(get_config(config).data_dir)


@runs_app.command("list")
def list_runs(config: ConfigOpt = None) -> None:
    """Every run, oldest first, with headline test metrics and gate verdict; * marks the serving run
    (runs/latest)."""
    from rich.table import Table

    from pipelines.runs import job, registry

    ws = _workspace(config)
    serving_id = job.serving_id(ws)
    table = Table(title=f"runs in {ws.runs}")
    for col in ("", "run", "created", "feature set", "pp gini", "tier qwk", "gate"):
        table.add_column(col, justify="right" if col in ("pp gini", "tier qwk") else "left")
    for run_dir in job.run_dirs(ws):
        run = job.load(run_dir)
        h = registry.headline(run["metrics"])
        table.add_row("*" if run_dir.name == serving_id else "", run_dir.name, _fmt(registry.when(run["run"].get("created_at"))),
                      _fmt(run["run"].get("feature_set")), _fmt(h["pp gini"]), _fmt(h["tier qwk"]),
                      _fmt(registry.gate_passed(run["run"])))
    console.print(table)
    console.print(registry.serving_line(serving_id, job.history(ws)))


@runs_app.command("show")
def show(run: RunArg = "latest", config: ConfigOpt = None) -> None:
    """One run's run.json (provenance, split, gate) and headline metrics, plus its promotions."""
    from pipelines.runs import job, registry

    ws = _workspace(config)
    loaded = job.load(job.resolve(ws, run))
    events = [e for e in job.history(ws) if e["run_id"] == loaded["id"]]
    console.print_json(json.dumps({"run": loaded["run"], "headline": registry.headline(loaded["metrics"]),
                                   "promotions": events}, default=str))


@runs_app.command("compare")
def compare(a: RunArg, b: RunArg, config: ConfigOpt = None) -> None:
    """Two runs' metrics and provenance side by side, and the config keys that differ."""
    from rich.table import Table

    from pipelines.runs import job, registry

    ws = _workspace(config)
    ra, rb = job.load(job.resolve(ws, a)), job.load(job.resolve(ws, b))
    table = Table(title=f"A = {ra['id']}   B = {rb['id']}")
    for col in ("", "A", "B", "better"):
        table.add_column(col, justify="left" if col == "" else "right")
    for label, va, vb, better in registry.compare(ra, rb):
        table.add_row(label, _fmt(va), _fmt(vb), better)
    console.print(table)
    diffs = [d for d in registry.config_differences(ra["config"], rb["config"]) if d[0] != "data_dir"]
    for key, va, vb in diffs:
        console.print(f"  config {key}: {_fmt(va)} -> {_fmt(vb)}")
    if not diffs:
        console.print("  config: identical")


@runs_app.command("promote")
def promote(run: RunArg,
            force: Annotated[bool, typer.Option(help="Promote even if the run failed its gate.")] = False,
            reason: Annotated[str, typer.Option(help="Why (kept in the promotion history).")] = "",
            config: ConfigOpt = None) -> None:
    """Make RUN the serving run (runs/latest, what serve, score and predict use by default)."""
    from pipelines.runs import job

    event = job.promote(_workspace(config), run, force=force, reason=reason)
    console.print(f"promoted {event['run_id']} at {event['at']} (previous: {event['previous'] or 'none'})")


@runs_app.command("rollback")
def rollback(reason: Annotated[str, typer.Option(help="Why (kept in the promotion history).")] = "",
             config: ConfigOpt = None) -> None:
    """Serve the previously promoted run again."""
    from pipelines.runs import job

    event = job.rollback(_workspace(config), reason=reason)
    console.print(f"rolled back to {event['run_id']} at {event['at']}")
