"""`powertier ingest` through the real CLI (typer CliRunner) on tiny raw directories."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.common.workspace import TABLES
from embeddings.cleaning import PII_PLACEHOLDERS

NO_PII = dict.fromkeys(PII_PLACEHOLDERS, 0)

runner = CliRunner()
EMAIL, PHONE, CARD = "jane.doe@example.com", "555-867-5309", "4111 1111 1111 1111"
RAW = {
    "users.csv": "user_id,signup_ts,region\nu1,2025-01-01,eu\nu2,2025-01-10,us\nu2,2025-01-11,us\nu3,2025-02-01,eu\n",
    "orders.csv": ("order_id,user_id,ts,amount,status,category,discount\n"
                   "o1,u1,2025-01-05,10,completed,shoes,0\no2,u1,2025-01-06,-3,completed,shoes,0\n"
                   "o3,u9,2025-01-06,3,completed,shoes,0\no4,u2,2025-01-20,5,lost,toys,0\n"
                   "o5,u2,2025-01-21,5,returned,toys,0,EXTRA\no6,u3,2025-03-01,7,completed,toys,1\n"),
    "reviews.csv": (f"review_id,user_id,ts,text,rating\nr1,u1,2025-01-07,mail me at {EMAIL},5\n"
                    f"r2,u2,2025-01-22,call {PHONE} now,9\nr3,u1,2025-01-08,\"card {CARD}, thanks\",4\n"),
    "searches.csv": f"search_id,user_id,ts,query\ns1,u1,2025-01-05,red shoes\ns2,u3,2025-01-05,{EMAIL}\n",
    "tiers.csv": "user_id,ts,tier\nu1,2025-02-01,gold\nu2,2025-02-01,diamond\n",
}


def write_raw(root: Path, skip: tuple[str, ...] = (), **replace: str) -> Path:
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, text in RAW.items():
        if name.split(".")[0] not in skip:
            (raw / name).write_text(replace.get(name.split(".")[0], text))
    return raw


def invoke(*args: str):
    return runner.invoke(app, ["ingest", *args])


def flat(output: str) -> str:
    """CLI output with rich's panel borders and line wrapping removed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def manifest(data_dir: Path) -> dict:
    return json.loads((data_dir / "curated" / "manifest.json").read_text())


def test_ingest_writes_curated_quarantine_and_manifest(tmp_path, data_dir):
    result = invoke("--raw", str(write_raw(tmp_path)))
    assert result.exit_code == 0, result.output
    m = manifest(data_dir)
    for table, entry in m["tables"].items():
        assert entry["present"] and entry["rows_in"] == entry["accepted"] + entry["quarantined"]
        assert sum(entry["reasons"].values()) == entry["quarantined"]
        assert len(pd.read_parquet(data_dir / "quarantine" / f"{table}.parquet")) == entry["quarantined"]
        assert len(pd.read_parquet(data_dir / "curated" / f"{table}.parquet")) == entry["accepted"]
    assert m["tables"]["users"]["reasons"] == {"duplicate_id": 1}
    assert m["tables"]["orders"]["reasons"] == {"negative_amount": 1, "unknown_user": 1, "unknown_status": 1,
                                                "malformed_csv_line": 1}
    assert m["tables"]["reviews"]["reasons"] == {"rating_out_of_range": 1}
    assert m["tables"]["tiers"]["reasons"] == {"unknown_tier": 1}
    assert m["pii_redactions"] == {**NO_PII, **{"email": 2, "phone": 1, "card": 1}} and m["as_of"] is None
    source = m["tables"]["orders"]["source"]
    assert source["file"] == "orders.csv" and len(source["sha256"]) == 64
    orders = pd.read_parquet(data_dir / "curated" / "orders.parquet")
    assert str(orders["ts"].dtype) == "datetime64[us, UTC]" and orders["order_id"].tolist() == ["o1", "o6"]
    assert "malformed_csv_line" in result.output and "orders.csv" in result.output


def _outputs(data_dir: Path) -> dict[Path, bytes]:
    """Every file ingest wrote (the workspace lock file is bookkeeping, not an output)."""
    return {p: p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_rerun_is_byte_identical(tmp_path, data_dir):
    raw = write_raw(tmp_path)
    assert invoke("--raw", str(raw), "--as-of", "2025-02-15").exit_code == 0
    first = _outputs(data_dir)
    assert invoke("--raw", str(raw), "--as-of", "2025-02-15").exit_code == 0
    second = _outputs(data_dir)
    assert len(first) == 2 * len(TABLES) + 1 and first == second


def test_no_pii_in_any_written_file(tmp_path, data_dir):
    assert invoke("--raw", str(write_raw(tmp_path))).exit_code == 0
    for path in data_dir.rglob("*.parquet"):
        frame = pd.read_parquet(path)
        text = frame.astype(str).to_csv()
        for secret in (EMAIL, PHONE, CARD, "867-5309"):
            assert secret not in text, (path, secret)
    assert "<EMAIL>" in pd.read_parquet(data_dir / "curated" / "reviews.parquet")["text"].iloc[0]
    assert "<PHONE>" in pd.read_parquet(data_dir / "quarantine" / "reviews.parquet")["text"].iloc[0]


def test_as_of_cut_off_and_bad_as_of(tmp_path, data_dir):
    raw = write_raw(tmp_path)
    assert invoke("--raw", str(raw), "--as-of", "2025-01-15T00:00:00Z").exit_code == 0
    m = manifest(data_dir)
    assert m["as_of"] == "2025-01-15T00:00:00+00:00"
    assert m["tables"]["users"]["reasons"] == {"after_as_of": 1, "duplicate_id": 1}
    assert m["tables"]["orders"]["reasons"] == {"negative_amount": 1, "unknown_user": 1, "unknown_status": 1,
                                                "malformed_csv_line": 1, "after_as_of": 1}
    result = invoke("--raw", str(raw), "--as-of", "next tuesday")
    assert result.exit_code == 2 and "--as-of" in flat(result.output)


def test_absent_optional_tables_are_reported_and_stale_files_removed(tmp_path, data_dir):
    assert invoke("--raw", str(write_raw(tmp_path / "full"))).exit_code == 0
    result = invoke("--raw", str(write_raw(tmp_path / "lean", skip=("reviews", "searches", "tiers"))))
    assert result.exit_code == 0, result.output
    assert "absent" in result.output and "reviews, searches, tiers" in flat(result.output)
    m = manifest(data_dir)
    for table in ("reviews", "searches", "tiers"):
        assert m["tables"][table]["present"] is False and m["tables"][table]["source"] is None
        assert not (data_dir / "curated" / f"{table}.parquet").exists()
        assert not (data_dir / "quarantine" / f"{table}.parquet").exists()


@pytest.mark.parametrize(("skip", "replace", "message"), [
    (("orders",), {}, "required table(s) missing: orders"),
    ((), {"orders": "order_id,user_id,ts,status\no1,u1,2025-01-05,completed\n"}, "missing required column(s) amount"),
    ((), {"reviews": "review_id,user_id,ts\n"}, "missing required column(s) text"),
    ((), {"users": ""}, "empty file"),
])
def test_user_mistakes_exit_2_with_one_clear_line(tmp_path, data_dir, skip, replace, message):
    result = invoke("--raw", str(write_raw(tmp_path, skip=skip, **replace)))
    assert result.exit_code == 2 and message in flat(result.output), result.output
    assert "Traceback" not in result.output and not (data_dir / "curated").exists()


def test_missing_raw_dir_and_config_file(tmp_path, data_dir):
    result = invoke("--raw", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "raw directory not found" in flat(result.output)
    config = tmp_path / "cfg.yaml"
    config.write_text("tiers: [bronze, gold, diamond]\ningest:\n  max_text_chars: 12\n")
    result = invoke("--raw", str(write_raw(tmp_path)), "--config", str(config))
    assert result.exit_code == 0, result.output
    m = manifest(data_dir)
    assert m["tiers"] == ["bronze", "gold", "diamond"] and m["max_text_chars"] == 12
    assert m["tables"]["tiers"]["reasons"] == {} and m["tables"]["reviews"]["reasons"]["text_too_long"] == 3
