"""Parsing one raw table (the bytes of ``<table>.parquet`` or ``<table>.csv``) without losing a record.

Every record of the file becomes one row of the returned frame, numbered by ``source_row``
(1-based, header and blank lines not counted). A CSV record with the wrong number of fields
keeps its place with all fields null and its text in ``raw_line``, so the validator can
quarantine it as ``malformed_csv_line`` instead of pandas skipping it. An unterminated quote
only costs its own line: the records after it are parsed again from the next line (``_records``).

Why the stdlib ``csv`` reader rather than ``pandas.read_csv``: the C engine silently pads short
lines with empty strings, turns an extra field on the first line into an index, and truncates
fields at NUL bytes; the python engine silently drops lines with stray quotes and never tells a
callable ``on_bad_lines`` where the bad line was. Measured on 2M order lines the csv module plus
DataFrame construction costs about the same CPU time as the C engine (~6 s).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.common.errors import UserError
from pipelines.ingest.contract import RESERVED_COLUMNS, STRING_DTYPE

FORMATS = ("parquet", "csv")
_FIELD_LIMIT = 2**31 - 1  # texts are length-checked by the contract, not cut off by the reader


@dataclass(frozen=True)
class RawTable:
    """One raw file, read: ``frame`` holds its columns plus ``source_row`` and ``raw_line``."""

    table: str
    path: Path
    fmt: str
    sha256: str
    frame: pd.DataFrame


def find_raw_file(raw_dir: Path, table: str) -> Path | None:
    """The file holding ``table`` in ``raw_dir``, or None; both formats at once is an error."""
    found = [raw_dir / f"{table}.{fmt}" for fmt in FORMATS if (raw_dir / f"{table}.{fmt}").is_file()]
    if len(found) > 1:
        raise UserError(f"{raw_dir}: both {found[0].name} and {found[1].name} exist; keep one")
    return found[0] if found else None


def parse_csv_bytes(data: bytes) -> pd.DataFrame:
    """Parse CSV bytes; undecodable bytes and NULs become U+FFFD (later flagged as invalid_text)."""
    text = data.decode("utf-8-sig", errors="replace").replace("\x00", "\ufffd")
    csv.field_size_limit(_FIELD_LIMIT)
    lines = list(io.StringIO(text, newline=""))  # the physical lines, exactly as csv splits them
    header = [name.strip() for name in next(csv.reader(lines[:1]), [])]
    if not header:
        raise UserError("empty file: no header line")
    _check_columns(header)
    records, broken = _records(lines, 1, len(header))
    fits = np.fromiter(map(len, records), dtype=np.int64, count=len(records)) == len(header)
    fits[list(broken)] = False
    if fits.all():
        frame = pd.DataFrame(records, columns=header, dtype=object).astype(STRING_DTYPE)
        return _with_provenance(frame, range(1, len(records) + 1))
    good = [r for r, ok in zip(records, fits) if ok]
    frame = _with_provenance(pd.DataFrame(good, columns=header, dtype=object).astype(STRING_DTYPE),
                             np.flatnonzero(fits) + 1)
    bad_lines = [broken.get(i) or _csv_line(records[i]) for i in np.flatnonzero(~fits)]
    bad = pd.DataFrame({"source_row": np.flatnonzero(~fits) + 1, "raw_line": pd.array(bad_lines, dtype=STRING_DTYPE)})
    frame = pd.concat([frame, bad], ignore_index=True).sort_values("source_row", kind="stable")
    return frame.reset_index(drop=True)


def _records(lines: list[str], start: int, width: int) -> tuple[list[list[str]], dict[int, str]]:
    """The non-blank records of ``lines[start:]`` and, by record index, the physical lines found broken.

    A record spanning several lines is an unterminated quote that swallowed the lines after it
    (up to the next quote or the end of the file) when the strict reader fails on it (a quote
    that does not end a field, or end of data inside quotes), when it has the wrong number of
    fields, or when a line it swallowed whole is a complete record on its own. Its first line
    alone is then the broken record, and parsing restarts on the line after it, so the valid
    records that followed are recovered instead of vanishing into one ``malformed_csv_line``.
    (A legitimate multi-line text with a line of exactly ``width`` fields is split too; its lines
    then land in quarantine, nothing is lost.) Sloppy quoting within one line (``"b" ,c``) is
    read leniently, as before.
    """
    records: list[list[str]] = []
    broken: dict[int, str] = {}
    while start < len(lines):
        reader = csv.reader((lines[i] for i in range(start, len(lines))), strict=True)
        while True:
            first = start + reader.line_num
            try:
                fields, error = next(reader), False
            except StopIteration:
                return records, broken
            except csv.Error:
                fields, error = [], True
            span = start + reader.line_num - first
            if span > 1 and (error or _swallowed(lines[first:first + span], fields, width)):
                broken[len(records)] = lines[first].rstrip("\r\n")
                records.append([])
            elif error:  # sloppy quoting within one line ('"b" ,c'): read leniently, as always
                records.append(next(csv.reader(lines[first:first + 1])))
            else:
                if fields:  # blank lines are not records
                    records.append(fields)
                continue
            start = first + 1  # a fresh reader from the line after the broken one
            break
    return records, broken


def _swallowed(span: list[str], fields: list[str], width: int) -> bool:
    """Whether a multi-line record (``span`` its physical lines) is an unterminated quote."""
    if len(fields) != width:
        return True
    return any(len(next(csv.reader([line]), [])) == width for line in span[1:-1])


def parse_parquet_bytes(data: bytes) -> pd.DataFrame:
    """Parse Parquet bytes; binary columns are decoded as UTF-8 with U+FFFD for bad bytes."""
    return frame_from_arrow(pq.read_table(io.BytesIO(data)))


def frame_from_arrow(table: pa.Table) -> pd.DataFrame:
    """A raw frame (with provenance) from an Arrow table read from Parquet."""
    # Straight to nullable strings: cheaper than object columns converted later.
    frame = table.to_pandas(types_mapper={pa.string(): STRING_DTYPE, pa.large_string(): STRING_DTYPE}.get)
    for field in table.schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            frame[field.name] = frame[field.name].map(_decode, na_action="ignore").astype("string")
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_columns(list(frame.columns))
    return _with_provenance(frame, range(1, len(frame) + 1))


def _decode(value: bytes) -> str:
    return value.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _csv_line(fields: list[str]) -> str:
    """Re-serialise a broken record as one CSV line (quoting as needed)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _with_provenance(frame: pd.DataFrame, rows: range | np.ndarray) -> pd.DataFrame:
    """Number the records and add the (empty) raw_line column; modifies the fresh ``frame``."""
    frame["source_row"] = pd.array(rows, dtype="int64")
    frame["raw_line"] = pd.Series(pd.NA, index=frame.index, dtype=STRING_DTYPE)
    return frame


def _check_columns(columns: list[str]) -> None:
    if len(set(columns)) != len(columns):
        raise UserError(f"duplicate column names in the header: {columns}")
    clash = sorted(set(columns) & set(RESERVED_COLUMNS))
    if clash:
        raise UserError(f"column name(s) {clash} are reserved for quarantine files; rename them")
