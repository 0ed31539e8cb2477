"""End to end through the real CLI: `powertier generate` -> `powertier ingest`, checking the accounting."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.support.cli_helpers import cli_ok as _ok
from pipelines.ingest.contract import REASONS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_generate_then_ingest_accounts_for_every_record(tmp_path, data_dir, fmt):
    raw = tmp_path / "raw"
    _ok("generate", "--users", "200", "--days", "120", "--seed", "3", "--out", str(raw), "--format", fmt)
    _ok("ingest", "--raw", str(raw))
    manifest = json.loads((data_dir / "curated" / "manifest.json").read_text())
    for table, entry in manifest["tables"].items():
        path = raw / f"{table}.{fmt}"
        assert entry["present"] == path.exists()
        if not entry["present"]:
            continue
        rows = len(pd.read_parquet(path)) if fmt == "parquet" else len(pd.read_csv(path))
        assert entry["rows_in"] == rows == entry["accepted"] + entry["quarantined"]
        assert sum(entry["reasons"].values()) == entry["quarantined"] and set(entry["reasons"]) <= set(REASONS)
        assert len(pd.read_parquet(data_dir / "curated" / f"{table}.parquet")) == entry["accepted"]
        assert len(pd.read_parquet(data_dir / "quarantine" / f"{table}.parquet")) == entry["quarantined"]
    assert manifest["tables"]["users"]["accepted"] > 0 and manifest["tables"]["orders"]["accepted"] > 0
    reviews = pd.read_parquet(data_dir / "curated" / "reviews.parquet")
    assert not reviews["text"].str.contains(r"[\w.+-]+@[\w-]+\.[\w.]+", regex=True).any()  # e-mails redacted
