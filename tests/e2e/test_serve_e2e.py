"""End to end over real sockets: ``powertier serve`` (uvicorn) and ``feast serve`` as subprocesses
on free loopback ports, driven by an HTTP client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from pipelines.storage import feast_store
from tests.support.serve_data import AS_OF, RUN_ID, SERVICE, build_workspace, free_port, running_server

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("e2e") / "ws")


def _env(cfg, **extra: str) -> dict[str, str]:
    return {**os.environ, "POWERTIER_DATA_DIR": str(cfg.data_dir), "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", **extra}


def test_powertier_serve_over_http_with_auth_events_and_graceful_shutdown(cfg, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    cmd = [str(BIN / "powertier"), "serve", "--port", str(port), "--run", str(cfg.data_dir / "runs" / RUN_ID)]
    key = {"X-API-Key": "k-e2e"}
    with running_server(cmd, _env(cfg, POWERTIER_API_KEY="k-e2e"), f"{base}/readyz", log) as proc, \
            httpx.Client(base_url=base, timeout=10.0) as http:
        body = {"user_ids": ["u03", "nobody"], "as_of": AS_OF.isoformat()}
        assert http.post("/v1/predict", json=body).status_code == 401
        preds = http.post("/v1/predict", json=body, headers=key).json()["predictions"]
        assert [p["cold_start"] for p in preds] == [False, True]
        ts = pd.Timestamp(AS_OF) + pd.Timedelta(days=5)
        event = {"user_id": "u11", "ts": ts.isoformat(), "amount": 99.5, "status": "completed"}
        assert http.post("/v1/events/order", json=event, headers=key).status_code == 202
        # At a moment before any of the event's windows expire, the newest feature row is the event's.
        soon = {"user_ids": ["u11"], "as_of": (ts + pd.Timedelta(hours=1)).isoformat()}
        after = http.post("/v1/predict", json=soon, headers=key).json()["predictions"][0]
        assert pd.Timestamp(after["feature_timestamp"]) == ts
        assert http.post("/v1/predict", json={"user_ids": ["u11"]}, headers=key).status_code == 200
        assert 'route="/v1/predict",status="200"' in http.get("/metrics").text
        proc.send_signal(signal.SIGTERM)
        # uvicorn drains, runs the lifespan shutdown, then re-raises the signal for the exit status.
        assert proc.wait(15) in (0, -signal.SIGTERM)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]  # every line is JSON
    messages = [rec["msg"] for rec in lines]
    assert "ready" in messages and "shutting down" in messages and "Application shutdown complete." in messages
    assert any(rec.get("route") == "/v1/events/order" and rec.get("status") == 202 for rec in lines)


def test_cli_refuses_a_missing_run_with_one_line(cfg, tmp_path):
    proc = subprocess.run([str(BIN / "powertier"), "serve", "--run", str(tmp_path / "none")], env=_env(cfg),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no trained run" in proc.stderr and "Traceback" not in proc.stderr


def test_feast_serve_returns_the_python_sdk_values(cfg, tmp_path):
    """Other services read features over HTTP from ``feast serve``: same values as the SDK."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    feast_store.write_repo_yaml(cfg)
    cmd = [str(BIN / "feast"), "-c", str(cfg.data_dir / "feast"), "serve", "-h", "127.0.0.1", "-p", str(port),
           "--no-access-log"]
    users = ["u03", "u04", "u12", "nobody"]
    want = feast_store.online_features(feast_store.open_store(cfg), users, SERVICE, as_of=AS_OF)
    with running_server(cmd, _env(cfg), f"{base}/health", tmp_path / "feast.log"):
        resp = httpx.post(f"{base}/get-online-features", timeout=10.0, headers={"Content-Type": "application/json"},
                          json={"feature_service": SERVICE,
                                "entities": {"user_id": users, "as_of_ts_s": [AS_OF.timestamp()] * len(users)}})
    assert resp.status_code == 200, resp.text
    got = resp.json()
    columns = {name: res["values"] for name, res in zip(got["metadata"]["feature_names"], got["results"])}
    assert columns["user_id"] == users
    for name in want.columns.drop("user_id"):
        for value, expected, user in zip(columns[name], want[name], users):
            if expected is None or (np.isscalar(expected) and pd.isna(expected)):
                assert value is None, (name, user)
            elif np.ndim(expected):
                np.testing.assert_allclose(np.asarray(value, float), np.asarray(expected, float), rtol=1e-6)
            else:
                assert value == pytest.approx(float(expected), rel=1e-9), (name, user)


def test_default_encoder_is_the_embedding_jobs_encoder(cfg):
    """The server embeds event texts exactly as ``powertier embed`` does (canonical form, prompt kind)."""
    from embeddings.encoder import canonical_texts, encode, model_info
    from pipelines.serve.state import default_encoder
    from pipelines.storage.models import load_model

    encoder = default_encoder(cfg)
    model = load_model(cfg)
    text = "Great Fit, would buy again"
    got = encoder([text], "document")
    want = encode(model, canonical_texts([text], bool(model_info(model)["lowercase"])), "document")
    assert got.shape == want.shape and got.shape[0] == 1
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.linalg.norm(got[0]) == pytest.approx(1.0, abs=1e-5)
