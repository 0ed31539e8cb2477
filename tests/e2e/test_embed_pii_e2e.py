"""No planted PII survives anywhere in the data dir after the real CLI runs
generate -> ingest -> embed -> features build/apply/materialize."""

from __future__ import annotations

import re

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()

# Unique strings that occur nowhere else; digits-only forms are checked too.
SECRETS = ["zebraquokka7731@gmail.com", "139-8765-4321", "+44 20 7946 0958", "4929 3817 5502 6614",
           "mango_tapir_0042@qq.com"]
PLANTED_REVIEWS = [f"Seller please call me back at {SECRETS[1]}, thanks.",
                   f"<p>Charged my card <b>{SECRETS[3]}</b> twice!</p> mail {SECRETS[0]}",
                   f"有问题联系我 {SECRETS[2]} 或 {SECRETS[4]}"]
PLANTED_QUERIES = [f"{SECRETS[0]} password reset", f"track order {SECRETS[1]}"]


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _plant(raw_dir, table: str, text_col: str, texts: list[str]) -> None:
    """Append copies of existing rows (valid users and times) carrying the planted texts."""
    path = raw_dir / f"{table}.parquet"
    df = pd.read_parquet(path)
    extra = df.iloc[: len(texts)].copy()
    extra[df.columns[0]] = [f"planted{i}" for i in range(len(texts))]
    extra[text_col] = texts
    pd.concat([df, extra], ignore_index=True).to_parquet(path, index=False)


def _needles() -> list[bytes]:
    forms = set(SECRETS) | {re.sub(r"\D", "", s) for s in SECRETS if "@" not in s}
    return sorted(f.encode("utf-8") for f in forms)


def _parquet_text(path) -> bytes:
    """All values of a Parquet file as text (its bytes may be compressed)."""
    return pq.read_table(path).to_pandas().astype(str).to_csv().encode("utf-8")


def test_no_planted_pii_anywhere_in_the_data_dir(tmp_path, monkeypatch) -> None:
    data_dir, raw = tmp_path / "ws", tmp_path / "raw"
    monkeypatch.setenv("POWERTIER_DATA_DIR", str(data_dir))
    _ok("generate", "--users", "40", "--days", "120", "--seed", "11", "--out", str(raw))
    _plant(raw, "reviews", "text", PLANTED_REVIEWS)
    _plant(raw, "searches", "query", PLANTED_QUERIES)
    raw_text = b"".join(_parquet_text(p) for p in raw.glob("*.parquet"))
    assert all(s.encode() in raw_text for s in SECRETS)  # the scan does see planted values
    _ok("ingest", "--raw", str(raw))
    shown = _ok("embed", "--device", "cpu")
    assert "PII placeholders" in shown
    _ok("features", "build")
    _ok("features", "apply")
    _ok("features", "materialize", "--end", "2025-06-01")
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any("embeddings" in p.parts for p in files)
    for path in files:
        blobs = [path.read_bytes()] + ([_parquet_text(path)] if path.suffix == ".parquet" else [])
        for needle in _needles():
            assert not any(needle in blob for blob in blobs), f"{needle!r} found in {path}"
    manifest = pd.read_json(data_dir / "embeddings" / "embed_manifest.json", typ="series")
    assert sum(manifest["pii_redactions"].values()) >= 6  # the planted texts did reach the job


# Issue 14 items 8 and 9: one planted value of every kind, in every place a raw value can enter.
IBAN, IBAN_SPACED, CN_ID = "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "11010519491231002X"
IPV6, STREET, CN_STREET = "2001:db8:85a3::8a2e:370:7334", "221B Baker Street", "建国路88号"
KINDS = {
    "iban": f"refund to {IBAN} please", "iban_spaced": f"IBAN {IBAN_SPACED} thanks",
    "cn_id": f"身份证{CN_ID}谢谢", "spelled_email": "write zebraquokka at gmail dot com",
    "entity_email": "mail tapirmango&#64;qq.com", "percent_email": "mail lemurkiwi%40qq.com",
    "span_email": "mail okapiyak<span>@</span>gmail.com", "street": f"ship to {STREET}, London",
    "cn_street": f"寄到北京市{CN_STREET}", "ipv6": f"my router {IPV6} broke",
}
NEEDLES = [IBAN, IBAN_SPACED, IBAN_SPACED.replace(" ", ""), CN_ID, "zebraquokka", "tapirmango", "lemurkiwi",
           "okapiyak", "Baker Street", CN_STREET, "8a2e:370:7334", "Quokka Lane", "+44 20 7946 0958"]


def _plant_everywhere(raw) -> None:
    """Texts, category, kept and dropped user columns, quarantined fields: all carry PII."""
    texts = list(KINDS.values())
    _plant(raw, "reviews", "text", texts)
    _plant(raw, "searches", "query", texts)
    orders = pd.read_parquet(raw / "orders.parquet")
    extra = orders.iloc[:3].copy()
    extra["order_id"] = ["pii-o1", "pii-o2", "pii-o3"]
    extra["category"] = pd.array([KINDS["iban"], f"{STREET} shoes", "ok"], dtype=object)
    extra["status"] = pd.array(["completed", "completed", f"lost at {IPV6}"], dtype=object)  # -> quarantine
    pd.concat([orders, extra], ignore_index=True).to_parquet(raw / "orders.parquet", index=False)
    users = pd.read_parquet(raw / "users.parquet")
    users["email"] = "zebraquokka@gmail.com"  # outside the contract: dropped
    users["phone"] = "+44 20 7946 0958"
    users["region"] = users["region"].astype(object)
    users.loc[users.index[:2], "region"] = "12 Quokka Lane"  # kept attribute: redacted
    users.to_parquet(raw / "users.parquet", index=False)


def _send_events(data_dir) -> int:
    """Review and search events through the serving event path (log + online push)."""
    import threading

    from pipelines.common.config import load_config
    from pipelines.serve.events import EventRejected, handle_event, load_event_context
    from pipelines.serve.state import default_encoder
    from pipelines.storage import feast_store

    cfg = load_config()
    ctx = load_event_context(cfg, feast_store.open_store(cfg), default_encoder(cfg), threading.Lock())
    user = str(ctx.curated["users"]["user_id"].iloc[0])
    sent = 0
    for i, text in enumerate(KINDS.values()):
        for kind, field in (("review", "text"), ("search", "query")):
            try:
                handle_event(ctx, kind, {"user_id": user, "ts": "2025-05-31T12:00:00Z", field: text})
                sent += 1
            except EventRejected:
                pass
    return sent


def test_every_pii_kind_is_absent_from_every_file_and_store(tmp_path, monkeypatch) -> None:
    data_dir, raw = tmp_path / "ws", tmp_path / "raw"
    monkeypatch.setenv("POWERTIER_DATA_DIR", str(data_dir))
    _ok("generate", "--users", "40", "--days", "120", "--seed", "11", "--out", str(raw))
    _plant_everywhere(raw)
    raw_text = b"".join(_parquet_text(p) for p in raw.glob("*.parquet"))
    planted = [n for n in NEEDLES if n != IBAN_SPACED.replace(" ", "")]  # that form is a derived needle
    assert all(n.encode() in raw_text for n in planted)  # the scan does see planted values
    _ok("ingest", "--raw", str(raw))
    _ok("embed", "--device", "cpu")
    _ok("features", "build")
    _ok("features", "apply")
    _ok("features", "materialize", "--end", "2025-06-01")
    assert _send_events(data_dir) >= 10  # the event log and the online store got planted texts too
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    places = {"curated", "quarantine", "features", "embeddings", "feast", "events"}
    assert places <= {part for p in files for part in p.relative_to(data_dir).parts}
    for path in files:  # Parquet read back (compressed bytes hide text), everything else as bytes
        blobs = [path.read_bytes()] + ([_parquet_text(path)] if path.suffix == ".parquet" else [])
        for needle in NEEDLES:
            assert not any(needle.encode() in blob for blob in blobs), f"{needle!r} found in {path}"
    quarantine = pd.read_parquet(data_dir / "quarantine" / "orders.parquet")
    assert "<IP>" in " ".join(quarantine["status"].astype(str))
