"""The published API contract: OpenAPI schemas, security scheme, documented errors, offline docs,
Prometheus families; real responses validated against the published models."""

from __future__ import annotations

import re
from datetime import timedelta
from importlib.metadata import version

import pytest
from fastapi.testclient import TestClient

from pipelines.common.workspace import Workspace
from pipelines.serve.app import create_app
from pipelines.serve.schemas import ErrorBody, OrderAccepted, PredictResponse
from tests.support.serve_data import AS_OF, RUN_ID, build_workspace, fake_encoder


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("contract") / "ws", n_users=12)


@pytest.fixture(scope="module")
def client(cfg):
    with TestClient(create_app(cfg, Workspace(cfg.data_dir).runs / RUN_ID, encoder_factory=lambda _: fake_encoder)) as c:
        yield c


@pytest.fixture(scope="module")
def openapi(client):
    return client.get("/openapi.json").json()


def _ref(response: dict) -> str:
    return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def test_openapi_publishes_real_response_models_and_every_error(openapi):
    predict = openapi["paths"]["/v1/predict"]["post"]
    assert _ref(predict["responses"]["200"]) == "PredictResponse"
    assert {code: _ref(predict["responses"][code]) for code in ("401", "413", "422", "503")} == dict.fromkeys(
        ("401", "413", "422", "503"), "ErrorBody")
    prediction = openapi["components"]["schemas"]["Prediction"]["properties"]
    assert {"tier_reasons_class", "feature_age_seconds", "stale", "tier_probabilities"} <= set(prediction)
    assert prediction["purchasing_power"]["type"] == "number"
    order = openapi["paths"]["/v1/events/order"]["post"]
    assert _ref(order["responses"]["202"]) == "OrderAccepted" and {"401", "409", "422", "503"} <= set(order["responses"])
    assert _ref(openapi["paths"]["/readyz"]["get"]["responses"]["503"]) == "Readiness"


def test_openapi_has_the_api_key_scheme_tags_and_the_package_version(openapi):
    assert openapi["components"]["securitySchemes"]["APIKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "Required on /v1/* when the server runs with POWERTIER_API_KEY set."}
    for path in ("/v1/predict", "/v1/events/order", "/v1/events/review", "/v1/events/search"):
        assert openapi["paths"][path]["post"]["security"] == [{"APIKey": []}]
    assert openapi["info"]["version"] == version("powertier")
    tags = {op["tags"][0] for item in openapi["paths"].values() for op in item.values()}
    assert tags == {"predict", "events", "operations"}
    text = str(openapi)
    assert not re.search(r"GIL|p99|thread.pool|event loop", text), "implementation notes leak into the API docs"


def test_predict_answers_in_the_published_shape_with_feature_age(client):
    as_of = AS_OF + timedelta(days=3)
    body = client.post("/v1/predict", json={"user_ids": ["u03", "nobody"], "as_of": as_of.isoformat()}).json()
    parsed = PredictResponse.model_validate(body)  # extra="forbid": nothing unpublished is sent
    known, cold = parsed.predictions
    assert known.tier_reasons_class == known.tier is not None and known.tier_reasons
    age = (as_of - known.feature_timestamp).total_seconds()
    # The newest row may be an expiry row after AS_OF (windows expire online too), never after as_of.
    assert known.feature_age_seconds == pytest.approx(age) and age >= 0
    assert known.stale is (age > 30 * 86400)
    assert cold.cold_start and cold.feature_age_seconds is None and cold.stale is None


def test_stale_threshold_comes_from_the_config(cfg):
    tight = cfg.model_copy(update={"serve": cfg.serve.model_copy(update={"stale_after_days": 0.5})})
    with TestClient(create_app(tight, Workspace(cfg.data_dir).runs / RUN_ID,
                               encoder_factory=lambda _: fake_encoder)) as c:
        late = (AS_OF + timedelta(days=2)).isoformat()
        p = c.post("/v1/predict", json={"user_ids": ["u03"], "as_of": late}).json()["predictions"][0]
        assert p["stale"] is True and p["feature_age_seconds"] > 0.5 * 86400


def test_errors_and_events_match_their_published_models(client):
    ErrorBody.model_validate(client.post("/v1/predict", json={"user_ids": []}).json())
    ErrorBody.model_validate(client.post("/v1/predict", json={"user_ids": ["u"] * 257}).json())
    ts = (AS_OF + timedelta(days=1)).isoformat()
    resp = client.post("/v1/events/order", json={"user_id": "u05", "ts": ts, "amount": 12.5, "status": "completed"})
    assert resp.status_code == 202
    OrderAccepted.model_validate(resp.json())


@pytest.mark.parametrize("page_url", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(client, page_url):
    page = client.get(page_url)
    assert page.status_code == 200 and "/openapi.json" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""", page.text)
    urls = [a or b for a, b in urls]
    assert len(urls) >= 2, urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"/docs loads {url} from outside the server"
        assert client.get(url).status_code == 200, url
    assert "cdn" not in page.text.lower()


def test_metrics_name_the_model_time_requests_in_seconds_and_show_the_process(client):
    client.get("/healthz")
    text = client.get("/metrics").text
    assert re.search(r'^powertier_model_info\{.*run_id="test-run".*\} 1\.0$', text, re.M), text[:2000]
    assert 'powertier_http_request_duration_seconds_bucket{le="0.001",method="GET",route="/healthz"}' in text
    assert re.search(r"^process_resident_memory_bytes \d", text, re.M)
    assert "feast_" not in text
