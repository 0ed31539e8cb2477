"""Stages ``features build|apply|materialize|historical|online`` and ``labels build``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.common.cli import ConfigOpt, console, get_config, progress_display
from pipelines.common.errors import UserError

features_app = typer.Typer(no_args_is_help=True, help="Transactional features in Feast.")
labels_app = typer.Typer(no_args_is_help=True, help="Training labels.")
ServiceOpt = Annotated[str, typer.Option("--service", help="Feature service (one per model version).")]


@features_app.command("build")
def build(config: ConfigOpt = None) -> None:
    """Compute the offline table of user_transactions from the curated data."""
    from pipelines.features.job import build_transactions

    cfg = get_config(config)
    rows, path = build_transactions(cfg)
    console.print(f"user_transactions: {rows:,} rows -> {path}")


@features_app.command("apply")
def apply(config: ConfigOpt = None) -> None:
    """Register the Feast definitions for this workspace (feast apply)."""
    from pipelines.storage import feast_store

    cfg = get_config(config)
    views = feast_store.apply(feast_store.open_store(cfg), cfg)
    console.print(f"applied {len(views)} views to {cfg.data_dir / 'feast' / 'registry.db'}: {', '.join(views)}")


@features_app.command("materialize")
def materialize(end: Annotated[str | None, typer.Option(help="Materialize up to this time (ISO, UTC if naive).",
                                                       show_default="as_of, else now")] = None,
                full: Annotated[bool, typer.Option("--full", help="Clear the online store and load every view "
                                                   "from the start.")] = False,
                config: ConfigOpt = None) -> None:
    """Load the online store up to END: incrementally, except the views whose offline table changed
    since the last run (or all of them with --full, or when the online store is missing or empty),
    which are rebuilt."""
    from pipelines.common.times import parse_as_of
    from pipelines.storage import feast_store, online_sync

    cfg = get_config(config)
    until = parse_as_of(end, "--end")
    store = feast_store.open_store(cfg)
    if not feast_store.is_applied(store):
        raise UserError(f"the feature store in {cfg.data_dir / 'feast'} was never applied: run "
                        "`powertier features apply` first")
    with progress_display() as progress:
        done = feast_store.materialize_views(store, cfg, end=until, full=full, progress=progress)
    console.print(f"online store up to date as of {done.end.isoformat()}; {online_sync.describe(done.rebuilt)}")


@features_app.command("historical")
def historical(entities: Annotated[Path, typer.Option(help="Parquet/CSV with user_id, event_timestamp.")],
               out: Annotated[Path, typer.Option(help="Output Parquet or CSV.")],
               service: ServiceOpt = "purchasing_power_v3", config: ConfigOpt = None) -> None:
    """Point-in-time features for every entity row (same rows, same order; nulls where no data)."""
    from pipelines.storage import feast_store
    from pipelines.features.job import read_table, write_table

    cfg = get_config(config)
    frame = read_table(entities)
    try:
        result = feast_store.historical_features(feast_store.open_store(cfg), frame, service)
    except (ValueError, LookupError) as exc:
        raise UserError(str(exc)) from exc
    write_table(result, out)
    console.print(f"{len(result):,} rows x {result.shape[1]} columns -> {out}")


@features_app.command("online")
def online(user: Annotated[list[str], typer.Option("--user", help="User id (repeatable).")],
           service: ServiceOpt = "purchasing_power_v3", config: ConfigOpt = None) -> None:
    """Print the online feature values of USER."""
    from rich.table import Table

    from pipelines.storage import feast_store, online_sync

    cfg = get_config(config)
    store = feast_store.open_store(cfg)
    problem = online_sync.online_store_problem(store)
    if problem:
        raise UserError(problem)
    try:
        frame = feast_store.online_features(store, user, service)
    except LookupError as exc:
        raise UserError(str(exc)) from exc
    table = Table("feature", *[str(u) for u in frame["user_id"]])
    for col in frame.columns.drop("user_id"):
        table.add_row(col, *[_short(v) for v in frame[col]])
    console.print(table)


@labels_app.command("build")
def labels_build(out: Annotated[Path, typer.Option(help="Output Parquet or CSV.")],
                 cutoffs: Annotated[str | None, typer.Option(help="Comma-separated cutoffs (ISO dates).",
                                                             show_default="none: give --cutoffs or --start/--end")] = None,
                 start: Annotated[str | None, typer.Option(help="First cutoff (ISO date).",
                                                           show_default="see --cutoffs")] = None,
                 end: Annotated[str | None, typer.Option(help="Last cutoff (ISO date).", show_default="see --cutoffs")] = None,
                 every: Annotated[str, typer.Option(help="Cutoff spacing, e.g. 30d.")] = "30d",
                 horizon: Annotated[str | None, typer.Option(help="Horizon H, e.g. 90d.",
                                                             show_default="horizon_days from the config")] = None,
                 config: ConfigOpt = None) -> None:
    """Labels per (user, cutoff): purchasing_power and tier_next over (c, c + H]."""
    from pipelines.common.times import parse_as_of, parse_cutoffs, parse_days
    from pipelines.features.job import build_label_table, write_table

    cfg = get_config(config)
    cuts = parse_cutoffs(cutoffs, parse_as_of(start, "--start"), parse_as_of(end, "--end"), parse_days(every))
    labels = build_label_table(cfg, cuts, parse_days(horizon) if horizon else cfg.horizon_days)
    write_table(labels, out)
    console.print(f"{len(labels):,} label rows over {len(cuts)} cutoffs -> {out}")


def _short(value: object) -> str:
    if hasattr(value, "__len__") and not isinstance(value, str):
        return f"[{len(value)} values]"
    return str(value)
