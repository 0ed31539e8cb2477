"""Validation of raw tables against the contract: raw frame in, (accepted, quarantine) out.

Pure functions, no file I/O. A record is checked in three layers, all vectorised:
1. parsing (``coerce_table``): strings to µs UTC timestamps and floats; failures are
   ``invalid_timestamp`` / ``invalid_number``;
2. the pandera schema of ``pipelines.ingest.contract`` (lazy, so every failure case is collected);
3. run and cross-row rules: as-of cut-off, unknown users, events before signup, duplicates.
Each rejected record becomes one quarantine row whose ``reason`` is its highest-priority
failure (``contract.REASONS`` order) and whose ``detail`` lists all of them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from embeddings.cleaning import PII_PLACEHOLDERS, redact_series
from pipelines.common.ids import normalise_ids
from pipelines.common.times import parse_timestamps
from pipelines.ingest.contract import (CONTRACT, KEYS, REASONS, STRING_DTYPE, TS_DTYPE, Field,
                                IngestRules, build_schema, contract_columns, event_ts_column)

PROVENANCE = ("source_row", "raw_line")
_PRIORITY = {reason: rank for rank, reason in enumerate(REASONS)}
_ISSUE_COLUMNS = ("row", "column", "reason")


@dataclass(frozen=True)
class TableResult:
    """Outcome of validating one table; ``rows_in == len(accepted) + len(quarantine)``."""

    accepted: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    reasons: dict[str, int]
    redactions: dict[str, int]
    dropped_columns: tuple[str, ...] = ()


def redact_unique(texts: pd.Series) -> tuple[pd.Series, dict[str, int]]:
    """``redact_series`` applied once per distinct text (queries repeat a lot), counts per row.

    Distinct texts are grouped by how often they occur so that each group's counts can be
    multiplied by that frequency: the totals equal redacting every row one by one.
    """
    freq = texts.value_counts(dropna=True)
    totals: Counter = Counter({kind: 0 for kind in PII_PLACEHOLDERS})
    mapping: dict[str, str] = {}
    for times, group in freq.groupby(freq, sort=True):
        redacted, counts = redact_series(pd.Series(group.index, dtype=object))
        mapping.update(zip(group.index, redacted))
        totals.update({kind: n * int(times) for kind, n in counts.items()})
    out = texts.astype(object).map(mapping, na_action="ignore").astype(STRING_DTYPE)
    return out, dict(totals)


def redact_table(raw: pd.DataFrame, table: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Redact PII in every free-form column before anything is stored: the text column, the
    string columns (``category``), the kept extra columns and broken CSV lines. Ids, timestamps,
    numbers and enums are checked by the contract instead (a bad value is quarantined, and
    quarantine rows are redacted in full by ``_quarantine_frame``)."""
    out, totals = raw.copy(deep=False), Counter({kind: 0 for kind in PII_PLACEHOLDERS})
    kinds = {f.name: f.kind for f in CONTRACT[table]}
    columns = [c for c in out.columns if kinds.get(c, "extra") in ("text", "string", "extra") and c != "source_row"]
    for column in columns:
        if out[column].notna().any():
            out[column], counts = redact_unique(out[column].astype(STRING_DTYPE))
            totals.update(counts)
    return out, dict(totals)


def keep_contract_columns(raw: pd.DataFrame, table: str, rules: IngestRules) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Drop the columns outside the contract that ``rules.extra_columns`` does not keep (they
    may hold anything: an ``email`` or ``phone`` column of users), and name them."""
    keep = set(contract_columns(table)) | set(rules.extra_columns.get(table, ())) | set(PROVENANCE)
    dropped = tuple(c for c in raw.columns if c not in keep)
    return (raw.drop(columns=list(dropped)) if dropped else raw), dropped


def _as_strings(values: pd.Series) -> pd.Series:
    """Any column as nullable strings, with empty strings meaning null."""
    s = values if isinstance(values.dtype, pd.StringDtype) else values.astype(STRING_DTYPE)
    return s.mask(s.eq("").fillna(False).astype(bool))


def _coerce_column(values: pd.Series, field: Field) -> tuple[pd.Series, pd.Series]:
    """Parse one column to its contract dtype; returns (typed, unparseable mask)."""
    if field.kind == "timestamp" and pd.api.types.is_datetime64_any_dtype(values):
        ts = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        return ts.astype(TS_DTYPE), pd.Series(False, index=values.index)
    if field.kind == "float" and pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = values.astype("float64")
        return num, pd.Series(np.isinf(num.to_numpy()), index=values.index)
    text = _as_strings(values)
    if field.kind == "timestamp":
        parsed = parse_timestamps(text)
        return parsed, text.notna().to_numpy(bool) & parsed.isna()
    if field.kind == "float":
        parsed = pd.to_numeric(text, errors="coerce").astype("float64")
        return parsed, text.notna().to_numpy(bool) & ~np.isfinite(parsed)
    if field.kind == "id":  # one normal form for ids, the same as serving's
        return normalise_ids(text), pd.Series(False, index=values.index)
    return text, pd.Series(False, index=values.index)


def _issues(mask: pd.Series | np.ndarray, column: str, reason: str) -> pd.DataFrame:
    rows = np.flatnonzero(np.asarray(mask, dtype=bool))
    return pd.DataFrame({"row": rows, "column": column, "reason": reason})


def coerce_table(raw: pd.DataFrame, table: str) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Typed contract columns (absent optional ones all-null; kept extra columns as read)."""
    typed, issues = {}, []
    for field in CONTRACT[table]:
        values = raw[field.name] if field.name in raw.columns else pd.Series(pd.NA, index=raw.index)
        typed[field.name], bad = _coerce_column(values, field)
        if field.kind in ("timestamp", "float"):  # the only kinds that can fail to parse
            reason = "invalid_timestamp" if field.kind == "timestamp" else "invalid_number"
            issues.append(_issues(bad, field.name, reason))
    if table == "orders":
        typed["discount"] = typed["discount"].fillna(0.0)
    extras = [c for c in raw.columns if c not in typed and c not in PROVENANCE]
    return pd.DataFrame(typed | {c: raw[c] for c in extras}, index=raw.index), issues


def schema_issues(typed: pd.DataFrame, table: str, rules: IngestRules) -> pd.DataFrame:
    """Row-level failures of the pandera contract, one issue per (row, column, check)."""
    try:
        build_schema(table, rules).validate(typed, lazy=True, inplace=True)
        return pd.DataFrame(columns=_ISSUE_COLUMNS)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    if cases["index"].isna().any():  # column-level (dtype) failures mean coerce_table is wrong
        raise RuntimeError(f"{table}: schema failed on whole columns:\n{cases[cases['index'].isna()]}")
    reason = cases["check"].where(cases["check"] != "not_nullable", "missing_required")
    return pd.DataFrame({"row": cases["index"].astype("int64"), "column": cases["column"], "reason": reason})


def rule_issues(typed: pd.DataFrame, table: str, rules: IngestRules,
                users: pd.DataFrame | None) -> list[pd.DataFrame]:
    """The as-of cut-off and the checks against the accepted users."""
    ts_col = event_ts_column(table)
    out = [_issues(typed[ts_col] > rules.as_of, ts_col, "after_as_of")] if rules.as_of is not None else []
    if users is not None:
        # One hash lookup serves both checks: position of each event's user among accepted users.
        pos = pd.Index(users["user_id"]).get_indexer(typed["user_id"])
        known = pos >= 0
        out.append(_issues(typed["user_id"].notna().to_numpy(bool) & ~known, "user_id", "unknown_user"))
        as_np = {"dtype": "datetime64[us]"}  # plain to_numpy() of tz-aware data makes Timestamp objects
        signup = users["signup_ts"].to_numpy(**as_np)[np.where(known, pos, 0)] if len(users) else pos
        before = known & (typed[ts_col].to_numpy(**as_np) < signup) if len(users) else known
        out.append(_issues(before, ts_col, "before_signup"))
    return out


def _duplicate_issues(typed: pd.DataFrame, table: str, bad_rows: np.ndarray) -> pd.DataFrame:
    """Later copies of a key among the otherwise valid rows (so the first valid one is kept)."""
    keys = list(KEYS[table])
    candidates = typed.loc[~typed.index.isin(bad_rows), keys]
    dup = candidates.index[candidates.duplicated(keep="first")]
    return pd.DataFrame({"row": dup.to_numpy(), "column": ",".join(keys), "reason": "duplicate_id"})


def _summarise(issues: pd.DataFrame) -> pd.DataFrame:
    """One row per failing record: the top-priority reason and every ``column:reason``."""
    issues = issues.assign(rank=issues["reason"].map(_PRIORITY),
                           label=issues["column"] + ":" + issues["reason"])
    # Per field only its first problem: an unparseable amount is not also reported as missing.
    issues = issues.sort_values(["row", "rank", "label"], kind="stable").drop_duplicates(["row", "column"])
    failed = issues.drop_duplicates("row").set_index("row")[["reason", "label"]]
    several = issues[issues["row"].duplicated(keep=False)]
    if len(several):  # joining per group is slow, so only for the (few) rows with several issues
        failed.loc[several["row"].unique(), "label"] = several.groupby("row", sort=True)["label"].agg("; ".join)
    return failed.rename(columns={"label": "detail"})


def _quarantine_frame(raw: pd.DataFrame, failed: pd.DataFrame, table: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rejected records as read (every field a string, PII-redacted: a bad timestamp or status
    may hold an address too) plus reason, detail and provenance; and the redaction counts."""
    kinds = {f.name: f.kind for f in CONTRACT[table]}
    ids = {name for name, kind in kinds.items() if kind == "id"}  # kept as read, to find the record
    data = [c for c in raw.columns if c not in PROVENANCE]
    rows = raw.iloc[failed.index.to_numpy(dtype="int64")]
    out = rows[data].astype(STRING_DTYPE).reset_index(drop=True)
    totals: Counter = Counter()
    for column in [c for c in data if c not in ids and out[c].notna().any()]:
        free = _unparsed(out[column], kinds.get(column))
        out.loc[free, column], counts = redact_unique(out.loc[free, column])
        totals.update(counts)
    out.insert(0, "detail", pd.array(failed["detail"], dtype=STRING_DTYPE))
    out.insert(0, "reason", pd.array(failed["reason"], dtype=STRING_DTYPE))
    out.insert(0, "source_row", rows["source_row"].to_numpy(dtype="int64"))
    out["raw_line"] = pd.array(rows["raw_line"], dtype=STRING_DTYPE)
    return out, dict(totals)


def _unparsed(values: pd.Series, kind: str | None) -> np.ndarray:
    """The values to redact in a quarantine column: all of them, except the valid timestamps and
    numbers (a date with an hour reads like a phone number, and a valid one holds no PII)."""
    if kind == "timestamp":
        return parse_timestamps(values).isna().to_numpy(bool)
    if kind == "float":
        return pd.to_numeric(values, errors="coerce").isna().to_numpy(bool)
    return np.ones(len(values), dtype=bool)


def validate_table(raw: pd.DataFrame, table: str, rules: IngestRules,
                   users: pd.DataFrame | None = None) -> TableResult:
    """Validate one raw table (frame from ``parsing``); ``users`` = accepted users, for events.

    A frame without ``source_row`` / ``raw_line`` (not from ``parsing``) is numbered 1..n.
    """
    raw = raw.reset_index(drop=True)
    if "source_row" not in raw.columns:
        raw["source_row"] = np.arange(1, len(raw) + 1)
    if "raw_line" not in raw.columns:
        raw["raw_line"] = pd.Series(pd.NA, index=raw.index, dtype=STRING_DTYPE)
    raw, dropped = keep_contract_columns(raw, table, rules)
    raw, redactions = redact_table(raw, table)
    typed, issues = coerce_table(raw, table)
    malformed = raw["raw_line"].notna().to_numpy(bool)
    issues.append(_issues(malformed, "raw_line", "malformed_csv_line"))
    issues.append(schema_issues(typed[~malformed] if malformed.any() else typed, table, rules))
    issues += rule_issues(typed, table, rules, users)
    issues = pd.concat([i for i in issues if len(i)] or [pd.DataFrame(columns=_ISSUE_COLUMNS)],
                       ignore_index=True)
    issues = pd.concat([issues, _duplicate_issues(typed, table, issues["row"].unique())], ignore_index=True)
    failed = _summarise(issues.astype({"row": "int64"}))
    accepted = typed.loc[~typed.index.isin(failed.index)].reset_index(drop=True)
    extras = [c for c in accepted.columns if c not in contract_columns(table)]
    quarantine, more = _quarantine_frame(raw, failed, table)
    redactions = {k: redactions.get(k, 0) + more.get(k, 0) for k in PII_PLACEHOLDERS}
    return TableResult(accepted=accepted[contract_columns(table) + extras], quarantine=quarantine,
                       rows_in=len(raw),
                       reasons={k: int(v) for k, v in failed["reason"].value_counts().sort_index().items()},
                       redactions=redactions, dropped_columns=dropped)


def ingest_tables(raw: dict[str, pd.DataFrame], rules: IngestRules) -> dict[str, TableResult]:
    """Validate all present tables; users first, since events are checked against them."""
    if "users" not in raw:
        raise ValueError("the users table is required")
    results = {"users": validate_table(raw["users"], "users", rules)}
    users = results["users"].accepted[["user_id", "signup_ts"]]
    for table, frame in raw.items():
        if table != "users":
            results[table] = validate_table(frame, table, rules, users)
    return results
