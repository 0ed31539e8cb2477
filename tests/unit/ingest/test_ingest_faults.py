"""Issue 14 (correct under faults), ingest side: times, broken quotes, amounts, ids, PII columns."""

from __future__ import annotations

import pandas as pd

from pipelines.ingest.contract import IngestRules
from pipelines.ingest.parsing import parse_csv_bytes
from pipelines.ingest.validate import ingest_tables

RULES = IngestRules(tiers=("bronze", "silver", "gold"), max_text_chars=200)
USERS = "user_id,signup_ts\nu1,2024-01-01\nu2,2024-01-05T00:00:00Z\n"
ORDERS = "order_id,user_id,ts,amount,status,category,discount\n"


def _ingest(table: str, text: str, rules: IngestRules = RULES, users: str = USERS):
    raw = {"users": parse_csv_bytes(users.encode())}
    if table != "users":
        raw[table] = parse_csv_bytes(text.encode())
    result = ingest_tables(raw, rules)[table]
    assert result.rows_in == len(result.accepted) + len(result.quarantine)
    return result


def test_mixed_timestamp_forms_keep_their_own_offsets_on_ingest() -> None:
    """Item 1: the naive value after an offset one is not shifted by that offset."""
    result = _ingest("orders", ORDERS + "o1,u1,2025-01-01T08:00:00+08:00,1,completed,,\n"
                                        "o2,u1,2025-02-01 08:00:00,1,completed,,\n")
    assert result.accepted["ts"].tolist() == [pd.Timestamp("2025-01-01 00:00", tz="UTC"),
                                              pd.Timestamp("2025-02-01 08:00", tz="UTC")]


def test_slash_and_dot_dates_are_quarantined_as_invalid_timestamp() -> None:
    """Item 1: ``2025/02/01`` and ``2025.02.01`` are not ISO 8601 (DATA.md)."""
    result = _ingest("orders", ORDERS + "o1,u1,2025/02/01,1,completed,,\no2,u1,2025.02.01,1,completed,,\n"
                                        "o3,u1,01/09/2025,1,completed,,\no4,u1,2025-02-01,1,completed,,\n")
    assert result.accepted["order_id"].tolist() == ["o4"]
    assert result.quarantine["reason"].tolist() == ["invalid_timestamp"] * 3


def test_unterminated_quote_only_breaks_its_own_line() -> None:
    """Item 5: r4 and r5 used to exist only inside r3's ``malformed_csv_line``."""
    text = ("review_id,user_id,ts,text,rating\n"
            "r1,u1,2024-02-01,fine,4\n"
            'r3,u1,2024-02-01,"unterminated, quote,3\n'
            "r4,u1,2024-02-02,also fine,5\n"
            'r5,u1,2024-02-03,"quoted, with a\nnewline inside",2\n')
    frame = parse_csv_bytes(text.encode())
    assert frame["source_row"].tolist() == [1, 2, 3, 4]
    assert frame["review_id"].tolist()[::2] == ["r1", "r4"] and frame["review_id"].iloc[3] == "r5"
    assert frame["raw_line"].iloc[1] == 'r3,u1,2024-02-01,"unterminated, quote,3'
    assert frame["text"].iloc[3] == "quoted, with a\nnewline inside"
    result = _ingest("reviews", text)
    assert result.accepted["review_id"].tolist() == ["r1", "r4", "r5"]
    assert result.quarantine["reason"].tolist() == ["malformed_csv_line"]


def test_unterminated_quote_at_the_end_and_twice_in_a_row() -> None:
    text = ("review_id,user_id,ts,text,rating\n"
            'r1,u1,2024-02-01,"broken,4\n'
            'r2,u1,2024-02-01,"broken too,4\n'
            "r3,u1,2024-02-01,fine,4\n"
            'r4,u1,2024-02-01,"last one broken,4\n')
    frame = parse_csv_bytes(text.encode())
    assert frame["raw_line"].notna().tolist() == [True, True, False, True]
    assert frame["review_id"].iloc[2] == "r3" and frame["source_row"].tolist() == [1, 2, 3, 4]


def test_huge_amounts_are_quarantined_as_amount_too_large() -> None:
    """Item 7: ``1e308`` made every spend sum inf/NaN online; the maximum is configurable."""
    text = ORDERS + "o1,u1,2024-02-01,1e308,completed,,\no2,u1,2024-02-01,5e8,completed,,\n" \
                    "o3,u1,2024-02-01,99,completed,,1e300\no4,u1,2024-02-01,99,completed,,\n"
    result = _ingest("orders", text)
    assert result.accepted["order_id"].tolist() == ["o4"]
    assert result.quarantine["reason"].tolist() == ["amount_too_large"] * 3
    looser = IngestRules(RULES.tiers, RULES.max_text_chars, max_amount=1e9)
    assert _ingest("orders", text, looser).accepted["order_id"].tolist() == ["o2", "o4"]


def test_ids_are_normalised_and_limited_to_the_serving_length() -> None:
    """Item 12: zero-width and compatibility characters folded; ids over 256 chars quarantined."""
    long_id = "u" * 100_000
    users = f"user_id,signup_ts\nu1,2024-01-01\n\uff55\uff12,2024-01-01\n{long_id},2024-01-01\n"
    result = _ingest("users", "", users=users)
    assert result.accepted["user_id"].tolist() == ["u1", "u2"]
    assert result.quarantine["reason"].tolist() == ["id_too_long"]
    orders = _ingest("orders", ORDERS + "o\u200b1,u\u200b1,2024-02-01,1,completed,,\n"
                                        "o2,u\ufeff1,2024-02-01,1,completed,,\n")
    assert orders.accepted["order_id"].tolist() == ["o1", "o2"] and set(orders.accepted["user_id"]) == {"u1"}


def test_extra_columns_are_dropped_unless_kept_and_every_free_field_is_redacted() -> None:
    """Item 9: ``email``/``phone`` users columns, ``category`` and quarantine fields kept PII."""
    users = ("user_id,signup_ts,region,email,phone\n"
             "u1,2024-01-01,12 oak street,bob@gmail.com,+44 20 7946 0958\n"
             "u2,call 138-1234-5678,eu,x@y.com,\n")
    result = _ingest("users", "", users=users)
    assert list(result.accepted.columns) == ["user_id", "signup_ts", "region"]
    assert result.dropped_columns == ("email", "phone")
    assert result.accepted["region"].tolist() == ["<ADDRESS>"]
    quarantine = result.quarantine
    assert "email" not in quarantine.columns and quarantine["signup_ts"].tolist() == ["call <PHONE>"]
    orders = _ingest("orders", ORDERS + "o1,u1,2024-02-01,1,completed,mail bob at gmail dot com,\n"
                                        "o2,u1,2024-02-01,1,shipped to DE89370400440532013000,,\n")
    assert orders.accepted["category"].tolist() == ["mail <EMAIL>"]
    assert orders.quarantine["status"].tolist() == ["shipped to <IBAN>"]
    assert orders.redactions["email"] == 1 and orders.redactions["iban"] == 1
