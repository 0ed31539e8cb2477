"""The raw-data contract: code, pandera schemas and docs/DATA.md agree."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from pipelines.ingest.contract import (CONTRACT, KEYS, REASONS, TEXT_COLUMNS, TS_DTYPE, IngestRules, build_schema,
                                contract_columns, required_columns)
from pipelines.common.workspace import REQUIRED_TABLES, TABLES

DOC = (Path(__file__).resolve().parents[3] / "docs" / "DATA.md").read_text()
RULES = IngestRules(tiers=("bronze", "silver", "gold", "platinum"), max_text_chars=10)

# The public contract table, verbatim (it is part of the product's interface).
CONTRACT_ROWS = [
    "| users | user_id (string), signup_ts (timestamp) | optional attributes e.g. region |",
    "| orders | order_id (string), user_id, ts, amount (float >= 0), status in {completed, returned, cancelled} "
    "| optional category (string), discount (float >= 0) |",
    "| reviews | review_id, user_id, ts, text | optional rating (1–5), category |",
    "| searches | search_id, user_id, ts, query | |",
    "| tiers | user_id, ts (assessment time), tier (one of the configured ordered tier names) | |",
]


def test_doc_holds_the_contract_table_verbatim():
    for row in CONTRACT_ROWS:
        assert row in DOC


def test_code_contract_matches_the_table():
    assert tuple(CONTRACT) == TABLES and set(REQUIRED_TABLES) == {"users", "orders"}
    for row in CONTRACT_ROWS:
        table, required, optional = (cell.strip() for cell in row.strip("|").split("|"))
        names = r"\b[a-z_]+_id\b|\b(?:signup_ts|ts|amount|status|text|query|tier)\b"
        assert set(required_columns(table)) == set(re.findall(names, required))
        if table != "users":
            assert set(contract_columns(table)) - set(required_columns(table)) == set(
                re.findall(r"\b(?:category|discount|rating)\b", optional))


def test_every_column_and_reason_is_documented_in_priority_order():
    for fields in CONTRACT.values():
        for f in fields:
            assert f"`{f.name}`" in DOC or f" {f.name}" in DOC
    positions = [DOC.find(f"| `{reason}` |") for reason in REASONS]
    assert -1 not in positions and positions == sorted(positions)


def test_keys_and_text_columns_are_contract_columns():
    for table, keys in KEYS.items():
        assert set(keys) <= set(required_columns(table))
    for table, column in TEXT_COLUMNS.items():
        assert column in required_columns(table)


@pytest.mark.parametrize("table", TABLES)
def test_schema_nullability_follows_required_and_check_names_are_reasons(table):
    schema = build_schema(table, RULES)
    assert list(schema.columns) == contract_columns(table)
    for name, column in schema.columns.items():
        assert column.nullable == (name not in required_columns(table))
        assert {check.name for check in column.checks} <= set(REASONS)
    assert schema.strict is False  # extra columns are allowed


def _typed_orders(**override) -> pd.DataFrame:
    row = {"order_id": "o1", "user_id": "u1", "ts": "2025-01-01", "amount": 3.0, "status": "completed",
           "category": None, "discount": 0.0} | override
    frame = pd.DataFrame([row])
    for col in ("order_id", "user_id", "status", "category"):
        frame[col] = frame[col].astype("string")
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype(TS_DTYPE)
    return frame.astype({"amount": "float64", "discount": "float64"})


def test_schema_accepts_a_valid_record():
    build_schema("orders", RULES).validate(_typed_orders(extra_column=1), lazy=True)


@pytest.mark.parametrize(("override", "check"), [
    ({"amount": -1.0}, "negative_amount"),
    ({"discount": -1.0}, "negative_discount"),
    ({"status": "lost"}, "unknown_status"),
    ({"order_id": "o\x001"}, "invalid_text"),
    ({"user_id": None}, "not_nullable"),
])
def test_schema_names_the_failed_rule(override, check):
    with pytest.raises(pa.errors.SchemaErrors) as info:
        build_schema("orders", RULES).validate(_typed_orders(**override), lazy=True)
    assert info.value.failure_cases["check"].tolist() == [check]


def test_text_limit_and_tiers_come_from_the_rules():
    reviews = pd.DataFrame({"review_id": ["r"], "user_id": ["u"], "text": ["x" * 11], "category": [None]},
                           dtype="string")
    reviews["ts"] = pd.Series(pd.to_datetime(["2025-01-01"], utc=True)).astype(TS_DTYPE)
    reviews["rating"] = 5.0
    with pytest.raises(pa.errors.SchemaErrors) as info:
        build_schema("reviews", RULES).validate(reviews, lazy=True)
    assert info.value.failure_cases["check"].tolist() == ["text_too_long"]
    build_schema("reviews", IngestRules(RULES.tiers, 11)).validate(reviews, lazy=True)
    tiers = pd.DataFrame({"user_id": ["u"], "tier": ["diamond"]}, dtype="string")
    tiers["ts"] = reviews["ts"]
    build_schema("tiers", IngestRules(("gold", "diamond"), 10)).validate(tiers, lazy=True)
