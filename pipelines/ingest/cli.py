"""Stage 'ingest': raw directory -> validated curated Parquet + quarantine + manifest.json.

All tables are read and validated before anything is written, so a user mistake (missing
table or column) leaves the previous curated data untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.common.cli import ConfigOpt, console, get_config
from pipelines.common.errors import UserError
from pipelines.common.config import PowerTierConfig
from pipelines.common.workspace import REQUIRED_TABLES, TABLES, Workspace

RawOpt = Annotated[Path | None, typer.Option(
    "--raw", help="Directory holding <table>.parquet or <table>.csv (default: DATA_DIR/raw).")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="Quarantine records stamped after this UTC time (default: config as_of; unset = no cut-off).")]


def ingest(raw: RawOpt = None, as_of: AsOfOpt = None, config: ConfigOpt = None) -> None:
    """Validate the raw tables against the contract and write curated + quarantine Parquet."""
    cfg = get_config(config, as_of=parse_as_of(as_of))
    raw_dir = raw if raw is not None else Workspace(cfg.data_dir).raw
    manifest = run_ingest(cfg, raw_dir)
    print_summary(manifest, Workspace(cfg.data_dir))


def parse_as_of(text: str | None) -> Any:
    """``--as-of`` text as a UTC datetime (naive = UTC), None when not given; UserError if garbled."""
    import pandas as pd

    if text is None:
        return None
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise UserError(f"--as-of: not a timestamp: {text!r}") from exc
    if ts is pd.NaT:
        raise UserError(f"--as-of: not a timestamp: {text!r}")
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


_parse_as_of = parse_as_of  # the name stage_pipeline imports


def read_raw_dir(raw_dir: Path) -> dict[str, Any]:
    """Read every present table (``RawTable`` by name), checking required tables and columns."""
    from pipelines.ingest.contract import required_columns
    from pipelines.ingest.raw_io import read_raw_table

    if not raw_dir.is_dir():
        raise UserError(f"raw directory not found: {raw_dir}")
    tables = {t: rt for t in TABLES if (rt := read_raw_table(raw_dir, t)) is not None}
    missing_tables = [t for t in REQUIRED_TABLES if t not in tables]
    if missing_tables:
        raise UserError(f"{raw_dir}: required table(s) missing: "
                        + ", ".join(f"{t} ({t}.parquet or {t}.csv)" for t in missing_tables))
    for t, rt in tables.items():
        missing = [c for c in required_columns(t) if c not in rt.frame.columns]
        if missing:
            found = [c for c in rt.frame.columns if c not in ("source_row", "raw_line")]
            raise UserError(f"{rt.path}: missing required column(s) {', '.join(missing)} (found: {', '.join(found)})")
    return tables


def run_ingest(cfg: PowerTierConfig, raw_dir: Path) -> dict[str, Any]:
    """Ingest ``raw_dir`` into ``cfg.data_dir``; returns the manifest that was written."""
    import pandas as pd

    from pipelines.ingest.contract import IngestRules
    from pipelines.ingest.validate import ingest_tables
    from pipelines.storage.files import write_json, write_parquet

    raw_dir = Path(raw_dir).expanduser().resolve()
    ws = Workspace(cfg.data_dir)
    tables = with_event_log(read_raw_dir(raw_dir), ws.events)
    as_of = pd.Timestamp(cfg.as_of) if cfg.as_of is not None else None
    rules = IngestRules(tuple(cfg.tiers), cfg.ingest.max_text_chars, as_of)
    results = ingest_tables({t: rt.frame for t, rt in tables.items()}, rules)
    for t in TABLES:
        if t in results:
            write_parquet(results[t].accepted, ws.curated_table(t))
            write_parquet(results[t].quarantine, ws.quarantine_table(t))
        else:  # a table dropped from the raw dir must not leave a stale curated copy behind
            ws.curated_table(t).unlink(missing_ok=True)
            ws.quarantine_table(t).unlink(missing_ok=True)
    manifest = build_manifest(raw_dir, rules, tables, results)
    write_json(manifest, ws.curated / "manifest.json")
    return manifest


def with_event_log(tables: dict[str, Any], events_dir: Path) -> dict[str, Any]:
    """Append the serving event log (``<data dir>/events/<table>.parquet``, raw-contract rows sent to
    ``/v1/events/*``) to the raw tables, so the next batch run includes fresh online events. They go
    through exactly the same validation; their ``source_row`` numbers continue after the raw file's."""
    from dataclasses import replace

    import pandas as pd

    from pipelines.ingest.raw_io import read_raw_table

    if not events_dir.is_dir():
        return tables
    out = dict(tables)
    for t in TABLES:
        logged = read_raw_table(events_dir, t)
        if logged is None or logged.frame.empty:
            continue
        base = out.get(t)
        offset = int(base.frame["source_row"].max()) if base is not None and len(base.frame) else 0
        frame = logged.frame.assign(source_row=logged.frame["source_row"] + offset)
        out[t] = replace(logged, frame=frame) if base is None else replace(
            base, frame=pd.concat([base.frame, frame], ignore_index=True),
            sha256=f"{base.sha256}+events:{logged.sha256}")
    return out


def _table_entry(table: str, raw_table: Any, result: Any) -> dict[str, Any]:
    from pipelines.ingest.contract import event_ts_column

    entry: dict[str, Any] = {"present": result is not None, "required": table in REQUIRED_TABLES,
                             "rows_in": 0, "accepted": 0, "quarantined": 0, "reasons": {},
                             "pii_redactions": {}, "source": None, "ts_min": None, "ts_max": None}
    if result is None:
        return entry
    if result.rows_in != len(result.accepted) + len(result.quarantine):
        raise RuntimeError(f"{table}: accounting broken ({result.rows_in} in)")  # never expected
    ts = result.accepted[event_ts_column(table)]
    entry.update(rows_in=result.rows_in, accepted=len(result.accepted), quarantined=len(result.quarantine),
                 reasons=result.reasons, pii_redactions=result.redactions,
                 source={"file": raw_table.path.name, "format": raw_table.fmt, "sha256": raw_table.sha256},
                 ts_min=ts.min().isoformat() if len(ts) else None,
                 ts_max=ts.max().isoformat() if len(ts) else None,
                 curated=f"curated/{table}.parquet", quarantine=f"quarantine/{table}.parquet")
    return entry


def build_manifest(raw_dir: Path, rules: Any, tables: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able account of one ingest run (no wall-clock times, so reruns are identical)."""
    entries = {t: _table_entry(t, tables.get(t), results.get(t)) for t in TABLES}
    totals: dict[str, int] = {}
    for entry in entries.values():
        for kind, n in entry["pii_redactions"].items():
            totals[kind] = totals.get(kind, 0) + n
    return {"as_of": rules.as_of.isoformat() if rules.as_of is not None else None,
            "raw_dir": str(raw_dir), "tiers": list(rules.tiers), "max_text_chars": rules.max_text_chars,
            "tables": entries, "pii_redactions": totals,
            "rows_in": sum(e["rows_in"] for e in entries.values()),
            "accepted": sum(e["accepted"] for e in entries.values()),
            "quarantined": sum(e["quarantined"] for e in entries.values())}


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
