"""Issue 14 item 12 on the serving side: one id limit and normal form, and an empty API key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.common.config import load_config
from pipelines.common.errors import UserError
from pipelines.common.ids import MAX_ID_CHARS
from pipelines.ingest.contract import IngestRules
from pipelines.serve.app import create_app
from pipelines.serve.schemas import PredictRequest
from pipelines.serve.events import ReviewEvent


def test_serving_ids_use_the_ingest_limit_and_normal_form() -> None:
    assert IngestRules(("a", "b"), 10).max_id_chars == MAX_ID_CHARS
    assert PredictRequest(user_ids=["u\u200b1", "\uff55\uff12"]).user_ids == ["u1", "u2"]
    assert PredictRequest(user_ids=["u" * MAX_ID_CHARS]).user_ids
    with pytest.raises(ValidationError):
        PredictRequest(user_ids=["u" * (MAX_ID_CHARS + 1)])
    event = ReviewEvent(user_id="u\ufeff1", ts="2025-01-01", review_id="r\u200d1", text="ok")
    assert (event.user_id, event.review_id) == ("u1", "r1")


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_api_key_refuses_to_start(value, monkeypatch, tmp_path) -> None:
    """An empty POWERTIER_API_KEY used to disable auth silently."""
    monkeypatch.setenv("POWERTIER_API_KEY", value)
    monkeypatch.setenv("POWERTIER_DATA_DIR", str(tmp_path))
    with pytest.raises(UserError, match="POWERTIER_API_KEY is set but empty"):
        create_app(load_config(), tmp_path)
    result = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2 and "POWERTIER_API_KEY is set but empty" in result.output
    assert "Traceback" not in result.output
