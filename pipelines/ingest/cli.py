"""Stage 'ingest': raw directory -> validated curated Parquet + quarantine + manifest.json.

All tables are read and validated before anything is written, so a user mistake (missing
table or column) leaves the previous curated data untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.common.cli import ConfigOpt, console, get_config
from pipelines.common.workspace import Workspace

RawOpt = Annotated[Path | None, typer.Option(
    "--raw", help="Directory holding <table>.parquet or <table>.csv.", show_default="DATA_DIR/raw")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="Quarantine records stamped after this UTC time.", show_default="config as_of; unset = no cut-off")]


def ingest(raw: RawOpt = None, as_of: AsOfOpt = None, config: ConfigOpt = None) -> None:
    """Validate the raw tables against the contract and write curated + quarantine Parquet."""
    from pipelines.common.times import parse_as_of
    from pipelines.ingest.job import run_ingest

    cfg = get_config(config, as_of=parse_as_of(as_of))
    raw_dir = raw if raw is not None else Workspace(cfg.data_dir).raw
    manifest = run_ingest(cfg, raw_dir)
    print_summary(manifest, Workspace(cfg.data_dir))


def print_summary(manifest: dict[str, Any], ws: Workspace) -> None:
    """The per-table accounting as a rich table, then absent tables, PII counts and paths."""
    from rich.table import Table

    table = Table(title=f"ingest of {manifest['raw_dir']}  (as-of: {manifest['as_of'] or 'no cut-off'})")
    for name, justify in (("table", "left"), ("source", "left"), ("rows in", "right"),
                          ("accepted", "right"), ("quarantined", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("reasons", overflow="fold")
    for name, e in manifest["tables"].items():
        if not e["present"]:
            table.add_row(name, "[yellow]absent (optional)[/]", "-", "-", "-", "")
            continue
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(e["reasons"].items(), key=lambda kv: (-kv[1], kv[0])))
        table.add_row(name, e["source"]["file"], f"{e['rows_in']:,}", f"{e['accepted']:,}",
                      f"{e['quarantined']:,}", reasons)
    console.print(table)
    absent = [n for n, e in manifest["tables"].items() if not e["present"]]
    if absent:
        console.print(f"[yellow]optional table(s) not in the raw directory, skipped:[/] {', '.join(absent)}")
    pii = ", ".join(f"{k}={v}" for k, v in sorted(manifest["pii_redactions"].items()))
    console.print(f"PII redacted before writing: {pii}")
    console.print(f"curated -> {ws.curated}  quarantine -> {ws.quarantine}  manifest -> {ws.curated / 'manifest.json'}")
