"""The public raw-data contract: which tables and columns a raw directory holds, and the
pandera schemas that check every record of them.

The schemas validate the *typed* frame (after ``ingest.coerce_table`` parsed strings into
timestamps and floats), so each named check maps one-to-one onto a quarantine reason. Rules that
depend on the run (the as-of cut-off) or on other rows and tables (duplicates, unknown users,
events before signup) are vectorised pandas in ``pipelines.ingest.validate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pandas as pd
import pandera.pandas as pa

from feature_repo.timestamps import TS_DTYPE
from pipelines.common.ids import MAX_ID_CHARS

if TYPE_CHECKING:
    from pipelines.common.config import PowerTierConfig

Kind = Literal["id", "timestamp", "float", "string", "text", "enum"]

STRING_DTYPE = pd.StringDtype()
DEFAULT_MAX_AMOUNT = 1e8
# User attributes the segment metrics read (the train stage's SEGMENT_ATTRIBUTES).
DEFAULT_EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {"users": ("region", "signup_channel")}
ORDER_STATUSES = ("completed", "returned", "cancelled")
# Control characters (C0 and C1), plus U+FFFD which stands in for undecodable bytes and NULs.
# Tab, newline and carriage return are legitimate inside free text, never inside ids or labels.
_BINARY_IN_TEXT = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]"
_BINARY_IN_LABEL = r"[\x00-\x1f\x7f-\x9f\ufffd]"

# Every quarantine reason, in priority order: a record failing several rules is filed under the
# first one listed here (all of them appear in its ``detail``).
REASONS: dict[str, str] = {
    "malformed_csv_line": "CSV line with the wrong number of fields (kept verbatim in raw_line)",
    "invalid_text": "control characters, NUL or undecodable (non-UTF-8) bytes in a string field",
    "invalid_timestamp": "timestamp that is not ISO 8601 (or out of range)",
    "invalid_number": "amount/discount/rating that is not a finite number",
    "missing_required": "required field is null or empty",
    "text_too_long": "review text / search query longer than ingest.max_text_chars",
    "negative_amount": "amount < 0",
    "negative_discount": "discount < 0",
    "amount_too_large": "amount or discount above ingest.max_amount (a sum of 1e308s is not a spend)",
    "id_too_long": "id longer than the id limit (pipelines.common.ids.MAX_ID_CHARS, the serving limit too)",
    "unknown_status": "status not in completed/returned/cancelled",
    "rating_out_of_range": "rating outside 1-5",
    "unknown_tier": "tier not one of the configured tier names",
    "after_as_of": "timestamp later than the as-of cut-off",
    "unknown_user": "user_id not among the accepted users",
    "before_signup": "event earlier than the user's signup_ts",
    "duplicate_id": "same key as an earlier valid record (the first valid one in file order is kept)",
}


@dataclass(frozen=True)
class Field:
    """One contract column."""

    name: str
    kind: Kind
    required: bool
    meaning: str


CONTRACT: dict[str, tuple[Field, ...]] = {
    "users": (
        Field("user_id", "id", True, "unique user id"),
        Field("signup_ts", "timestamp", True, "signup time (UTC)"),
    ),
    "orders": (
        Field("order_id", "id", True, "unique order id"),
        Field("user_id", "id", True, "buyer, must be an accepted user"),
        Field("ts", "timestamp", True, "order time (UTC), not before the user's signup"),
        Field("amount", "float", True, "order value, >= 0"),
        Field("status", "enum", True, "completed, returned or cancelled"),
        Field("category", "string", False, "product category"),
        Field("discount", "float", False, "discount granted, >= 0 (0.0 when absent)"),
    ),
    "reviews": (
        Field("review_id", "id", True, "unique review id"),
        Field("user_id", "id", True, "author, must be an accepted user"),
        Field("ts", "timestamp", True, "review time (UTC), not before signup"),
        Field("text", "text", True, "review text (PII-redacted on ingest)"),
        Field("rating", "float", False, "star rating, 1-5"),
        Field("category", "string", False, "product category"),
    ),
    "searches": (
        Field("search_id", "id", True, "unique search id"),
        Field("user_id", "id", True, "searcher, must be an accepted user"),
        Field("ts", "timestamp", True, "search time (UTC), not before signup"),
        Field("query", "text", True, "search query (PII-redacted on ingest)"),
    ),
    "tiers": (
        Field("user_id", "id", True, "assessed user, must be an accepted user"),
        Field("ts", "timestamp", True, "assessment time (UTC), not before signup"),
        Field("tier", "enum", True, "one of the configured ordered tier names"),
    ),
}

# Records sharing these columns are duplicates; the first valid one in file order is kept.
KEYS: dict[str, tuple[str, ...]] = {
    "users": ("user_id",), "orders": ("order_id",), "reviews": ("review_id",),
    "searches": ("search_id",), "tiers": ("user_id", "ts"),
}
TEXT_COLUMNS: dict[str, str] = {"reviews": "text", "searches": "query"}
# Columns ingest adds to quarantine files; raw files may not use these names.
RESERVED_COLUMNS = ("reason", "detail", "source_row", "raw_line")


@dataclass(frozen=True)
class IngestRules:
    """The run-dependent parameters of validation."""

    tiers: tuple[str, ...]
    max_text_chars: int
    as_of: pd.Timestamp | None = None
    max_amount: float = DEFAULT_MAX_AMOUNT
    max_id_chars: int = MAX_ID_CHARS
    # Columns outside the contract kept (PII-redacted) per table; every other extra column is dropped.
    extra_columns: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_EXTRA_COLUMNS))


def rules_from_config(cfg: "PowerTierConfig", as_of: pd.Timestamp | None) -> IngestRules:
    """The rules of one run (batch ingest or a serving event) from the workspace config."""
    return IngestRules(tuple(cfg.tiers), cfg.ingest.max_text_chars, as_of, max_amount=cfg.ingest.max_amount,
                       extra_columns={t: tuple(cols) for t, cols in cfg.ingest.extra_columns.items()})


def event_ts_column(table: str) -> str:
    """The timestamp column of ``table`` (what the as-of cut-off applies to)."""
    return "signup_ts" if table == "users" else "ts"


def required_columns(table: str) -> list[str]:
    return [f.name for f in CONTRACT[table] if f.required]


def contract_columns(table: str) -> list[str]:
    return [f.name for f in CONTRACT[table]]


def _no_binary(pattern: str) -> pa.Check:
    return pa.Check(lambda s: ~s.str.contains(pattern, regex=True), name="invalid_text")


def _checks(table: str, f: Field, rules: IngestRules) -> list[pa.Check]:
    """The named value checks of one column; each name is a quarantine reason.

    No ``error=`` messages: pandera reports the error text instead of the name when one is set.
    """
    if f.kind in ("id", "string", "enum"):
        checks = [_no_binary(_BINARY_IN_LABEL)]
        if f.kind == "id":
            limit = rules.max_id_chars
            checks.append(pa.Check(lambda s: s.str.len() <= limit, name="id_too_long"))
        if f.name == "status":
            checks.append(pa.Check(lambda s: s.isin(ORDER_STATUSES), name="unknown_status"))
        if f.name == "tier":
            checks.append(pa.Check(lambda s: s.isin(rules.tiers), name="unknown_tier"))
        return checks
    if f.kind == "text":
        limit = rules.max_text_chars
        return [_no_binary(_BINARY_IN_TEXT),
                pa.Check(lambda s: s.str.len() <= limit, name="text_too_long")]
    if f.name in ("amount", "discount"):
        top = rules.max_amount
        return [pa.Check(lambda s: s >= 0, name=f"negative_{f.name}"),
                pa.Check(lambda s: s <= top, name="amount_too_large")]
    if f.name == "rating":
        return [pa.Check(lambda s: (s >= 1) & (s <= 5), name="rating_out_of_range")]
    return []


def _dtype(kind: Kind) -> object:
    return {"timestamp": TS_DTYPE, "float": "float64"}.get(kind, STRING_DTYPE)


def build_schema(table: str, rules: IngestRules) -> pa.DataFrameSchema:
    """The pandera schema of one typed table. Extra columns are allowed (``strict=False``)."""
    columns = {
        f.name: pa.Column(_dtype(f.kind), nullable=not f.required, checks=_checks(table, f, rules),
                          description=f.meaning)
        for f in CONTRACT[table]
    }
    return pa.DataFrameSchema(columns, name=table, strict=False, coerce=False)
