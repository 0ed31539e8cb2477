"""Stage 'ingest', its I/O: read the raw directory (and the serving event log), validate every
record, write curated + quarantine Parquet and ``manifest.json``.

All tables are read and validated before anything is written, so a user mistake (missing table or
column) leaves the previous curated data untouched.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipelines.common.config import PowerTierConfig
from pipelines.common.errors import UserError
from pipelines.common.workspace import REQUIRED_TABLES, TABLES, Workspace
from pipelines.ingest.parsing import RawTable, find_raw_file, frame_from_arrow, parse_csv_bytes, parse_parquet_bytes


def read_raw_table(raw_dir: Path, table: str) -> RawTable | None:
    """Read ``table`` from ``raw_dir`` (None when the directory holds no file for it)."""
    path = find_raw_file(raw_dir, table)
    if path is None:
        return None
    data = path.read_bytes()
    fmt = path.suffix.lstrip(".")
    try:
        frame = parse_csv_bytes(data) if fmt == "csv" else parse_parquet_bytes(data)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from exc
    except (pa.ArrowException, OSError, csv.Error) as exc:
        raise UserError(f"{path}: unreadable {fmt} file ({exc})") from exc
    return RawTable(table, path, fmt, hashlib.sha256(data).hexdigest(), frame)


def read_event_log(events_dir: Path, table: str) -> RawTable | None:
    """The serving event log of ``table`` (``pipelines.storage.eventlog``: every logged event
    once, in log order) as one raw table; None when nothing is logged."""
    from pipelines.storage.eventlog import contract_rows, log_files

    directory = events_dir / table
    rows = contract_rows(directory)
    if rows is None:
        return None
    digest = hashlib.sha256()
    for path in log_files(directory):
        digest.update(path.read_bytes())
    return RawTable(table, directory, "parquet", digest.hexdigest(), frame_from_arrow(rows))


def read_raw_dir(raw_dir: Path) -> dict[str, Any]:
    """Read every present table (``RawTable`` by name), checking required tables and columns."""
    from pipelines.ingest.contract import required_columns
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

    from pipelines.ingest.contract import rules_from_config
    from pipelines.ingest.validate import ingest_tables
    from pipelines.storage.files import write_json, write_parquet

    raw_dir = Path(raw_dir).expanduser().resolve()
    ws = Workspace(cfg.data_dir)
    tables = with_event_log(read_raw_dir(raw_dir), ws.events)
    as_of = pd.Timestamp(cfg.as_of) if cfg.as_of is not None else None
    rules = rules_from_config(cfg, as_of)
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
    """Append the serving event log (``<data dir>/events/<table>/``, raw-contract rows sent to
    ``/v1/events/*``, each event once) to the raw tables, so the next batch run includes fresh online events. They go
    through exactly the same validation; their ``source_row`` numbers continue after the raw file's."""
    from dataclasses import replace

    import pandas as pd

    if not events_dir.is_dir():
        return tables
    out = dict(tables)
    for t in TABLES:
        logged = read_event_log(events_dir, t)
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
                 dropped_columns=list(result.dropped_columns),  # outside the contract, not kept
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
