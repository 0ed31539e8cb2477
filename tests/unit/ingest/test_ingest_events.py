"""The serving event log is picked up by the next batch ingest, through the same validation."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from pipelines.cli import app


def test_event_log_rows_are_ingested_and_validated(tmp_path, data_dir):
    raw = tmp_path / "raw"
    raw.mkdir()
    pd.DataFrame({"user_id": ["a", "b"], "signup_ts": ["2025-01-01T00:00:00Z"] * 2}).to_parquet(raw / "users.parquet")
    pd.DataFrame({"order_id": ["o1"], "user_id": ["a"], "ts": ["2025-02-01T00:00:00Z"], "amount": [10.0],
                  "status": ["completed"]}).to_parquet(raw / "orders.parquet")
    (data_dir / "events").mkdir(parents=True)
    pd.DataFrame({"order_id": ["e1", "e2"], "user_id": ["b", "b"], "ts": ["2025-03-01T00:00:00Z"] * 2,
                  "amount": [5.0, -1.0], "status": ["completed"] * 2}).to_parquet(data_dir / "events" / "orders.parquet")
    result = CliRunner().invoke(app, ["ingest", "--raw", str(raw)])
    assert result.exit_code == 0, result.output
    orders = pd.read_parquet(data_dir / "curated" / "orders.parquet")
    assert sorted(orders.order_id) == ["e1", "o1"]
    quarantined = pd.read_parquet(data_dir / "quarantine" / "orders.parquet")
    assert quarantined.order_id.tolist() == ["e2"]
    manifest = json.loads((data_dir / "curated" / "manifest.json").read_text())
    assert manifest["tables"]["orders"]["rows_in"] == 3
