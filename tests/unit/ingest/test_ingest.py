"""Validation rules of ``pipelines.ingest.validate``: one malformed record per case, with the accounting."""

from __future__ import annotations

import pandas as pd
import pytest

from embeddings.cleaning import redact_series
from pipelines.ingest.contract import TS_DTYPE, IngestRules, contract_columns
from pipelines.ingest.validate import TableResult, ingest_tables, redact_unique, validate_table
from pipelines.ingest.parsing import parse_csv_bytes, parse_parquet_bytes
from embeddings.cleaning import PII_PLACEHOLDERS

NO_PII = dict.fromkeys(PII_PLACEHOLDERS, 0)

RULES = IngestRules(tiers=("bronze", "silver", "gold"), max_text_chars=40)
USERS = "user_id,signup_ts,region\nu1,2024-01-01,eu\nu2,2024-01-05T00:00:00Z,us\n"
HEADERS = {
    "users": "user_id,signup_ts,region",
    "orders": "order_id,user_id,ts,amount,status,category,discount",
    "reviews": "review_id,user_id,ts,text,rating",
    "searches": "search_id,user_id,ts,query",
    "tiers": "user_id,ts,tier",
}
GOOD = {
    "users": "u3,2024-01-02,eu",
    "orders": "o1,u1,2024-02-01,10.5,completed,shoes,1.0",
    "reviews": "r1,u1,2024-02-01,fits well,4",
    "searches": "s1,u1,2024-02-01,red shoes",
    "tiers": "u1,2024-02-01,silver",
}


def _csv(text: str | bytes) -> pd.DataFrame:
    return parse_csv_bytes(text if isinstance(text, bytes) else text.encode())


def run(table: str, *lines: str | bytes, rules: IngestRules = RULES) -> TableResult:
    """Ingest users (+ ``table``) made of the header, the given lines; checks the accounting."""
    body = b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines)
    frame = _csv(HEADERS[table].encode() + b"\n" + body + b"\n")
    raw = {"users": frame if table == "users" else _csv(USERS)}
    if table != "users":
        raw[table] = frame
    result = ingest_tables(raw, rules)[table]
    assert result.rows_in == len(result.accepted) + len(result.quarantine)
    assert sum(result.reasons.values()) == len(result.quarantine)
    return result


def only_reason(result: TableResult) -> str:
    assert len(result.quarantine) == 1, result.quarantine
    return result.quarantine["reason"].iloc[0]


BAD_CASES = [
    ("orders", "o9,,2024-02-01,1,completed,,", "missing_required"),
    ("orders", "o9,u1,,1,completed,,", "missing_required"),
    ("orders", "o9,u1,2024-02-01,abc,completed,,", "invalid_number"),
    ("orders", "o9,u1,2024-02-01,inf,completed,,", "invalid_number"),
    ("orders", "o9,u1,2024-02-01,1,completed,,zero", "invalid_number"),
    ("orders", "o9,u1,yesterday,1,completed,,", "invalid_timestamp"),
    ("orders", "o9,u1,2024-13-45,1,completed,,", "invalid_timestamp"),
    ("orders", "o9,u1,2024-02-01,-0.01,completed,,", "negative_amount"),
    ("orders", "o9,u1,2024-02-01,1,completed,,-2", "negative_discount"),
    ("orders", "o9,u1,2024-02-01,1,lost,,", "unknown_status"),
    ("orders", "o9,u7,2024-02-01,1,completed,,", "unknown_user"),
    ("orders", "o9,u2,2024-01-04T23:59:59Z,1,completed,,", "before_signup"),
    ("orders", "o9,u1,2024-02-01,1,completed", "malformed_csv_line"),
    ("orders", "o9,u1,2024-02-01,1,completed,a,0,extra", "malformed_csv_line"),
    ("orders", b"o9,u\xff1,2024-02-01,1,completed,,", "invalid_text"),
    ("reviews", "r9,u1,2024-02-01,ok,6", "rating_out_of_range"),
    ("reviews", "r9,u1,2024-02-01,ok,0", "rating_out_of_range"),
    ("reviews", "r9,u1,2024-02-01,,3", "missing_required"),
    ("reviews", "r9,u1,2024-02-01,bad\x01byte,3", "invalid_text"),
    ("reviews", b"r9,u1,2024-02-01,nul\x00byte,3", "invalid_text"),
    ("reviews", b"r9,u1,2024-02-01,latin1 caf\xe9,3", "invalid_text"),
    ("reviews", "r9,u1,2024-02-01," + "x" * 41 + ",3", "text_too_long"),
    ("searches", "s9,u1,2024-02-01," + "q" * 41, "text_too_long"),
    ("searches", "s9,u7,2024-02-01,shoes", "unknown_user"),
    ("tiers", "u1,2024-03-01,diamond", "unknown_tier"),
    ("tiers", "u1,2023-12-31,gold", "before_signup"),
    ("users", "u9,not a date,eu", "invalid_timestamp"),
    ("users", ",2024-01-01,eu", "missing_required"),
]


@pytest.mark.parametrize(("table", "line", "reason"), BAD_CASES)
def test_each_malformed_record_is_quarantined_with_its_reason(table, line, reason):
    result = run(table, GOOD[table], line)
    assert only_reason(result) == reason
    assert len(result.accepted) == 1 and result.rows_in == 2
    assert result.quarantine["source_row"].tolist() == [2]
    assert result.reasons == {reason: 1}


def test_malformed_line_keeps_its_text_and_position():
    result = run("orders", "o1,u1,2024-02-01,1,completed,a,0,EXTRA", GOOD["orders"])
    q = result.quarantine.iloc[0]
    assert q["reason"] == "malformed_csv_line" and q["source_row"] == 1
    assert q["raw_line"] == "o1,u1,2024-02-01,1,completed,a,0,EXTRA" and pd.isna(q["order_id"])
    assert result.accepted["order_id"].tolist() == ["o1"]  # same id, but the broken line never counted


def test_as_of_cut_off_applies_to_events_and_signups():
    rules = IngestRules(RULES.tiers, RULES.max_text_chars, pd.Timestamp("2024-02-01", tz="UTC"))
    result = run("orders", GOOD["orders"], "o9,u1,2024-02-01T00:00:01Z,1,completed,,", rules=rules)
    assert only_reason(result) == "after_as_of" and len(result.accepted) == 1  # ts == as_of is kept
    assert only_reason(run("users", GOOD["users"], "u9,2024-03-01,eu", rules=rules)) == "after_as_of"


def test_duplicates_keep_the_first_valid_record_in_file_order():
    result = run("orders", "o1,u1,2024-02-01,-5,completed,,", "o1,u1,2024-02-02,7,completed,,",
                 "o1,u2,2024-02-03,9,completed,,", "o2,u1,2024-02-01,3,completed,,")
    assert result.accepted["order_id"].tolist() == ["o1", "o2"]
    assert result.accepted["amount"].tolist() == [7.0, 3.0]
    assert result.quarantine["reason"].tolist() == ["negative_amount", "duplicate_id"]
    assert result.quarantine["source_row"].tolist() == [1, 3]


def test_tier_duplicates_are_keyed_by_user_and_time():
    result = run("tiers", "u1,2024-02-01,silver", "u1,2024-02-01T00:00:00Z,gold", "u1,2024-03-01,gold",
                 "u2,2024-02-01,gold")
    assert len(result.accepted) == 3 and only_reason(result) == "duplicate_id"
    assert result.accepted["tier"].tolist() == ["silver", "gold", "gold"]


def test_duplicate_users_keep_first_signup_for_event_checks():
    raw = {"users": _csv("user_id,signup_ts\nu1,2024-01-01\nu1,2023-01-01\n"),
           "orders": _csv(HEADERS["orders"] + "\no1,u1,2023-06-01,1,completed,,\n")}
    results = ingest_tables(raw, RULES)
    assert results["users"].reasons == {"duplicate_id": 1}
    assert results["orders"].reasons == {"before_signup": 1}  # judged against the kept 2024 signup


def test_events_of_quarantined_users_are_unknown_users():
    raw = {"users": _csv("user_id,signup_ts\nu1,2024-01-01\nu2,garbage\n"),
           "orders": _csv(HEADERS["orders"] + "\no1,u2,2024-06-01,1,completed,,\n")}
    assert ingest_tables(raw, RULES)["orders"].reasons == {"unknown_user": 1}


def test_reason_is_highest_priority_and_detail_lists_every_failure():
    result = run("orders", GOOD["orders"], "o9,u7,2024-02-01,-1,lost,,")
    q = result.quarantine.iloc[0]
    assert q["reason"] == "negative_amount"
    assert q["detail"] == "amount:negative_amount; status:unknown_status; user_id:unknown_user"


def test_unparseable_number_is_not_also_reported_missing():
    q = run("orders", "o9,u1,2024-02-01,abc,completed,,").quarantine.iloc[0]
    assert q["detail"] == "amount:invalid_number"


def test_quarantine_keeps_original_strings():
    q = run("orders", "o9,u1,2024-02-01 10:00,-1.50,completed,x,").quarantine.iloc[0]
    assert (q["ts"], q["amount"], q["discount"]) == ("2024-02-01 10:00", "-1.50", "")
    assert all(isinstance(q[c], str) for c in ("order_id", "ts", "amount"))


def test_curated_dtypes_and_optional_columns():
    orders = run("orders", "o1,u1,2024-02-01T10:00:00+02:00,10,completed,,").accepted
    assert list(orders.columns) == contract_columns("orders")
    assert orders["ts"].dtype == TS_DTYPE
    assert orders["ts"].iloc[0] == pd.Timestamp("2024-02-01T08:00Z")
    assert orders["amount"].dtype == "float64" and orders["discount"].tolist() == [0.0]
    assert isinstance(orders["order_id"].dtype, pd.StringDtype) and orders["category"].isna().all()
    raw = {"users": _csv(USERS), "reviews": _csv("review_id,user_id,ts,text\nr1,u1,2024-02-01,ok\n")}
    reviews = ingest_tables(raw, RULES)["reviews"].accepted
    assert reviews["rating"].dtype == "float64" and reviews["rating"].isna().all()
    assert list(reviews.columns) == contract_columns("reviews")


def test_extra_columns_kept_on_users_only():
    users = run("users", GOOD["users"]).accepted
    assert list(users.columns) == ["user_id", "signup_ts", "region"]
    raw = {"users": _csv(USERS), "searches": _csv("search_id,user_id,ts,query,device\ns1,u1,2024-02-01,a,ios\n")}
    assert list(ingest_tables(raw, RULES)["searches"].accepted.columns) == contract_columns("searches")


def test_header_only_table_gives_typed_empty_frames():
    result = run("orders")
    assert result.rows_in == 0 and len(result.quarantine) == 0
    assert result.accepted["ts"].dtype == TS_DTYPE and result.accepted["amount"].dtype == "float64"


def test_native_parquet_types_are_accepted(tmp_path):
    signups = pd.to_datetime(["2024-01-01 00:00", "2024-01-02 12:00"])  # naive: taken as UTC
    frame = pd.DataFrame({"user_id": ["u1", "u2"], "signup_ts": signups})
    frame.to_parquet(tmp_path / "u.parquet")
    users = parse_parquet_bytes((tmp_path / "u.parquet").read_bytes())
    orders = pd.DataFrame({"order_id": [1, 2], "user_id": ["u1", "u2"],
                           "ts": pd.to_datetime(["2024-02-01 00:00", "2024-01-01 00:00"]).tz_localize("Asia/Shanghai"),
                           "amount": [3, -1], "status": ["completed", "returned"]})
    orders.to_parquet(tmp_path / "o.parquet")
    raw = {"users": users, "orders": parse_parquet_bytes((tmp_path / "o.parquet").read_bytes())}
    result = ingest_tables(raw, RULES)
    assert result["users"].accepted["signup_ts"].iloc[1] == pd.Timestamp("2024-01-02 12:00", tz="UTC")
    accepted = result["orders"].accepted
    assert accepted["order_id"].tolist() == ["1"] and accepted["ts"].iloc[0] == pd.Timestamp("2024-01-31T16:00Z")
    assert result["orders"].quarantine["amount"].tolist() == ["-1"]


def test_pii_is_redacted_in_accepted_and_quarantined_text():
    result = run("reviews", "r1,u1,2024-02-01,mail a.b@x.com,5", "r2,u1,2024-02-01,call 555-123-4567,9")
    assert result.accepted["text"].tolist() == ["mail <EMAIL>"]
    assert result.quarantine["text"].tolist() == ["call <PHONE>"]
    assert result.redactions == {**NO_PII, **{"email": 1, "card": 0, "phone": 1}}


def test_pii_is_redacted_in_broken_lines():
    result = run("reviews", "r1,u1,2024-02-01,write to a.b@x.com,5,EXTRA")
    assert result.quarantine["raw_line"].tolist() == ["r1,u1,2024-02-01,write to <EMAIL>,5,EXTRA"]


def test_redact_unique_matches_redacting_every_row():
    texts = pd.Series(["a@b.com x", "plain", None, "a@b.com x", "call 555-123-4567", "a@b.com x"], dtype="string")
    out, counts = redact_unique(texts)
    expected, expected_counts = redact_series(texts)
    assert out.tolist()[:2] == ["<EMAIL> x", "plain"] and pd.isna(out.iloc[2])
    assert [v for v in out.tolist() if isinstance(v, str)] == [v for v in expected.tolist() if isinstance(v, str)]
    assert counts == expected_counts == {**NO_PII, **{"email": 3, "card": 0, "phone": 1}}


def test_single_record_validation_as_used_by_serving():
    raw = pd.DataFrame([{"order_id": "o1", "user_id": "u1", "ts": "2024-02-01", "amount": 12.5,
                         "status": "completed"}], dtype=object)
    raw["source_row"], raw["raw_line"] = 1, pd.array([pd.NA], dtype="string")
    users = pd.DataFrame({"user_id": pd.array(["u1"], dtype="string"),
                          "signup_ts": pd.Series(pd.to_datetime(["2024-01-01"], utc=True)).astype(TS_DTYPE)})
    result = validate_table(raw, "orders", RULES, users)
    assert len(result.accepted) == 1 and result.accepted["amount"].iloc[0] == 12.5
    assert validate_table(raw, "orders", RULES, users.iloc[:0]).reasons == {"unknown_user": 1}
    bare = raw.drop(columns=["source_row", "raw_line"]).assign(amount=-1)
    assert validate_table(bare, "orders", RULES, users).quarantine["source_row"].tolist() == [1]
