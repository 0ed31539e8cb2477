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
