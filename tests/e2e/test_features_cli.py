"""End-to-end through the real CLI: generate -> ingest -> features build/apply/materialize/historical/online,
and labels build."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.support.cli_helpers import cli_ok as _ok, runner
from pipelines.cli import app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("feat_cli")
    mp = pytest.MonkeyPatch()
    mp.setenv("POWERTIER_DATA_DIR", str(root / "ws"))
    _ok("generate", "--users", "120", "--days", "200", "--seed", "5", "--out", str(root / "raw"))
    _ok("ingest", "--raw", str(root / "raw"))
    yield root
    mp.undo()


def test_build_apply_materialize_historical_online(workspace):
    assert "user_transactions" in _ok("features", "build")
    assert "applied" in _ok("features", "apply")
    _ok("features", "materialize", "--end", "2025-07-01")
    ws = workspace / "ws"
    users = pd.read_parquet(ws / "curated" / "users.parquet").user_id.tolist()[:5]
    entities = pd.DataFrame({"user_id": users + users[:1] + ["nobody"],
                             "event_timestamp": ["2025-06-01T00:00:00Z"] * 7, "label": range(7)})
    entities.to_csv(workspace / "entities.csv", index=False)
    _ok("features", "historical", "--entities", str(workspace / "entities.csv"), "--out", str(workspace / "h.parquet"),
        "--service", "tier_model_v3")
    out = pd.read_parquet(workspace / "h.parquet")
    assert out["label"].tolist() == list(range(7)) and out["user_id"].tolist() == entities["user_id"].tolist()
    assert {"spend_30d", "current_tier", "days_since_last_order", "review_embedding"} <= set(out.columns)
    assert out.loc[6, ["spend_30d", "tenure_days"]].isna().all()  # unknown user: nulls, row kept
    shown = _ok("features", "online", "--user", users[0])
    assert "spend_30d" in shown and users[0] in shown


def test_labels_build_from_range(workspace):
    out = workspace / "labels.parquet"
    _ok("labels", "build", "--start", "2025-03-01", "--end", "2025-05-01", "--every", "30d", "--horizon", "60d",
        "--out", str(out))
    labels = pd.read_parquet(out)
    assert list(labels.columns) == ["user_id", "event_timestamp", "purchasing_power", "tier_next", "label_available_at"]
    assert labels.event_timestamp.nunique() == 3
    assert ((labels.label_available_at - labels.event_timestamp) == pd.Timedelta(days=60)).all()


def test_user_mistakes_exit_cleanly(workspace):
    result = runner.invoke(app, ["features", "historical", "--entities", str(workspace / "missing.csv"),
                                 "--out", str(workspace / "x.parquet")])
    assert result.exit_code == 2 and "file not found" in result.output
    result = runner.invoke(app, ["labels", "build", "--out", str(workspace / "l.parquet")])
    assert result.exit_code == 2 and "--cutoffs" in result.output
