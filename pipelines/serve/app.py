"""The PowerTier HTTP API (FastAPI): routes, auth, error handlers, metrics middleware, offline docs.

``create_app(cfg, run_dir)`` only builds the app; the lifespan loads the heavy resources once per
process (``pipelines.serve.state``) and drops them on shutdown. ``/v1/predict`` runs on the event
loop (see the comment in the route); the event endpoints and ``/readyz`` are plain ``def`` (the
encoder and store probes block), so they run in the thread pool. Request and response bodies are
the models of ``pipelines.serve.schemas``; ``/docs`` serves Swagger UI from local files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from pipelines.common.config import PowerTierConfig
from pipelines.common.errors import UserError
from pipelines.serve.events import (
    EventRejected,
    OrderEvent,
    ReviewEvent,
    SearchEvent,
    handle_event,
)
from pipelines.serve.metrics import (
    MetricsMiddleware,
    ServeMetrics,
    build_metrics,
    render,
)
from pipelines.serve.predict import StoreUnavailable, look_ahead, lookup, score
from pipelines.serve.schemas import (
    ACCEPTED,
    Health,
    PredictRequest,
    PredictResponse,
    Readiness,
    error_responses,
)
from pipelines.serve.state import (
    ServeState,
    default_encoder,
    freeze_heap,
    load_state,
    store_reachable,
    thaw_heap,
)

if TYPE_CHECKING:
    from pipelines.serve.events import Encoder

API_KEY_ENV = "POWERTIER_API_KEY"
# How `powertier serve` hands its config and run to every uvicorn worker (app_from_env).
SETTINGS_ENV = "POWERTIER_SERVE_SETTINGS"
RUN_ENV = "POWERTIER_SERVE_RUN"
ASSETS_PATH = "/docs/assets"
log = logging.getLogger("powertier.serve")
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="APIKey",
                       description="Required on /v1/* when the server runs with POWERTIER_API_KEY set.")
TAGS = [{"name": "predict", "description": "Tier and purchasing power from the online features."},
        {"name": "events", "description": "Fresh orders, reviews and searches that update a user's features."},
        {"name": "operations", "description": "Probes and Prometheus metrics (no API key)."}]
DESCRIPTION = ("Scores users with a trained PowerTier run over the Feast online store, and takes events "
               "that update their online features. Errors are JSON `{\"error\": message, ...}`.")


def package_version() -> str:
    """The installed ``powertier`` distribution's version (the API's version in OpenAPI)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("powertier")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _error(code: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=code)


def _install_handlers(app: FastAPI, metrics: ServeMetrics) -> None:
    """Every error is ``{"error": message, ...}``; store outages are 503, never a traceback."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        metrics.errors.labels("validation").inc()
        errors = jsonable_encoder(exc.errors(), exclude={"input", "ctx", "url"})
        text = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return _error(422, f"invalid request: {text}", detail=errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = {401: "auth", 413: "too_large", 404: "not_found", 405: "method"}.get(exc.status_code, "http")
        metrics.errors.labels(kind).inc()
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        metrics.errors.labels("store_unavailable").inc()
        log.warning("store unavailable", extra={"fields": {"path": request.url.path, "error": str(exc)}})
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        metrics.errors.labels("internal").inc()
        log.error("unhandled error", exc_info=exc, extra={"fields": {"path": request.url.path}})
        return _error(500, "internal error (logged on the server)")


def api_key_from_env() -> str | None:
    """The API key, from the environment only. Unset: no auth (the server binds loopback by
    default). Set but empty or blank: refuse to start. An empty value is almost always a secret
    that failed to expand (``POWERTIER_API_KEY=$UNSET_VAR``); serving without auth then, with
    only a log line to say so, would open the API exactly when the operator asked for a key."""
    value = os.environ.get(API_KEY_ENV)
    if value is not None and not value.strip():
        raise UserError(f"{API_KEY_ENV} is set but empty; set a non-empty key, or unset it to serve "
                        "without authentication")
    return value


def _auth_dependency(api_key: str | None) -> Callable[..., Any]:
    async def check(given: str | None = Security(API_KEY)) -> None:  # async: no thread-pool hop
        if api_key is None:
            return
        if not secrets.compare_digest((given or "").encode(), api_key.encode()):
            raise HTTPException(401, "missing or invalid X-API-Key header")
    return check


def create_app(cfg: PowerTierConfig, run_dir: Path,
               encoder_factory: Callable[[PowerTierConfig], Encoder] = default_encoder) -> FastAPI:
    """The API for one workspace and one run dir. Nothing is loaded until the app starts."""
    metrics = build_metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        state = load_state(cfg, Path(run_dir), encoder_factory)
        pred = state.predictor
        metrics.model_info.labels(pred.run_id, pred.service.name, str(pred.model.feature_set)).set(1)
        app.state.serve = state
        log.info("heap frozen", extra={"fields": {"objects": freeze_heap()}})  # no full-GC pauses while serving
        yield
        log.info("shutting down")
        app.state.serve = None
        thaw_heap()

    # FastAPIOffline: a FastAPI app whose /docs (Swagger UI) and /redoc load their JS/CSS from this
    # server (the fastapi-offline package's files), so the pages work without internet access.
    app = FastAPIOffline(title="PowerTier", version=package_version(), description=DESCRIPTION, openapi_tags=TAGS,
                         static_url=ASSETS_PATH, favicon_url=f"{ASSETS_PATH}/favicon.png", lifespan=lifespan)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _install_handlers(app, metrics)
    auth = Depends(_auth_dependency(api_key_from_env()))
    _add_probe_routes(app, metrics)
    _add_v1_routes(app, metrics, auth, cfg)
    return app


def _state(request: Request) -> ServeState:
    state = getattr(request.app.state, "serve", None)
    if state is None:
        raise StoreUnavailable("server is starting or shutting down")
    return state


def _add_probe_routes(app: FastAPI, metrics: ServeMetrics) -> None:
    @app.get("/healthz", tags=["operations"], response_model=Health)
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], response_model=Readiness,
             responses={503: {"model": Readiness, "description": "Not ready: resources not loaded, or the "
                                                                "online store is unreachable."}})
    def readyz(request: Request) -> JSONResponse:
        """200 when the model is loaded and the online store answers, else 503."""
        state = getattr(request.app.state, "serve", None)
        if state is None:
            return _error(503, "not ready: resources not loaded", status="not ready")
        ok, why = store_reachable(state)
        body = {"status": "ready" if ok else "not ready", "run_id": state.predictor.run_id,
                "online_store": state.cfg.online_store, "store": why,
                "events": state.events_error or "ok"}
        return JSONResponse(body if ok else {"error": f"online store unreachable: {why}", **body},
                            status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition."}})
    def prometheus() -> Response:
        """Prometheus exposition: requests and their latency, predictions, cold starts, errors, events,
        the served run (``powertier_model_info``) and the process's CPU, memory and file descriptors."""
        data, content_type = render(metrics)
        return Response(data, media_type=content_type)


def _add_v1_routes(app: FastAPI, metrics: ServeMetrics, auth: Any, cfg: PowerTierConfig) -> None:
    max_batch, stale_after_s = cfg.serve.max_batch, cfg.serve.stale_after_days * 86400.0

    @app.post("/v1/predict", dependencies=[auth], tags=["predict"], response_model=PredictResponse,
              responses=error_responses(401, 413, 422, 503))
    async def predict(body: PredictRequest, request: Request) -> JSONResponse:
        """Tier, tier probabilities, purchasing power and the reasons behind both, for 1 to
        serve.max_batch users, from their online features at `as_of`. An unknown user is a cold
        start (`cold_start: true`), never an error; `stale` flags features older than
        serve.stale_after_days."""
        # On the event loop, not in the thread pool: one user is ~2 ms of GIL-bound CPU and the
        # thread hop cost more than that under load (docs/BENCHMARKS.md); the breaker keeps a dead
        # online store from stalling the loop.
        if not body.user_ids:
            raise RequestValidationError([{"loc": ("body", "user_ids"), "msg": "must list at least one user id",
                                           "type": "value_error"}])
        if len(body.user_ids) > max_batch:
            raise HTTPException(413, f"{len(body.user_ids)} user ids; at most {max_batch} per request")
        state = _state(request)
        as_of = body.as_of or datetime.now(timezone.utc)
        as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
        state.breaker.check()
        try:
            with state.store_lock:
                frame = lookup(state.store, state.predictor, body.user_ids, as_of)
        except StoreUnavailable as exc:
            state.breaker.failed(exc)
            raise
        ahead = look_ahead(frame, state.predictor.ts_columns, as_of.timestamp()) if body.as_of else []
        if ahead:  # the online store holds the latest rows only: a past moment would see the future
            raise RequestValidationError([{"loc": ("body", "as_of"), "type": "value_error", "msg": (
                f"as_of {as_of.isoformat()} is before the online features of {len(ahead)} user(s) "
                f"({', '.join(ahead[:5])}); past moments are scored point-in-time by `powertier predict`")}])
        rows = score(state.predictor, frame, as_of=as_of, stale_after_s=stale_after_s, reasons=body.reasons)
        metrics.predictions.inc(len(rows))
        metrics.cold_starts.inc(sum(r["cold_start"] for r in rows))
        # A JSONResponse skips FastAPI's jsonable_encoder walk: the rows are plain JSON types already.
        return JSONResponse({"run_id": state.predictor.run_id, "as_of": as_of.isoformat(), "predictions": rows})

    for kind, model in (("order", OrderEvent), ("review", ReviewEvent), ("search", SearchEvent)):
        _add_event_route(app, metrics, auth, kind, model)


def _add_event_route(app: FastAPI, metrics: ServeMetrics, auth: Any, kind: str, model: type[BaseModel]) -> None:
    """``POST /v1/events/<kind>`` with ``model`` as its body."""
    def post_event(body: BaseModel, request: Request) -> JSONResponse:
        state = _state(request)
        if state.events is None:
            raise StoreUnavailable(state.events_error or "event path unavailable")
        try:
            summary = handle_event(state.events, kind, body.model_dump())
        except EventRejected as exc:
            metrics.events.labels(kind, exc.reason).inc()
            return _error(exc.status, f"event rejected: {exc.reason}", reason=exc.reason, detail=exc.detail)
        metrics.events.labels(kind, "accepted").inc()
        return JSONResponse(summary, status_code=202)

    post_event.__annotations__["body"] = model  # the concrete body model, for validation and OpenAPI
    post_event.__doc__ = (f"Record a {kind} event: validated and PII-redacted like batch ingest, applied to the "
                          f"user's online features at once, and logged for the next batch run.")
    app.post(f"/v1/events/{kind}", dependencies=[auth], name=f"event_{kind}", status_code=202, tags=["events"],
             response_model=ACCEPTED[kind], responses=error_responses(401, 409, 422, 503))(post_event)


def app_from_env() -> FastAPI:
    """uvicorn factory for ``powertier serve``: config and run dir come from the environment."""
    logging.captureWarnings(True)  # library warnings become JSON log lines too
    cfg = PowerTierConfig.model_validate_json(os.environ[SETTINGS_ENV])
    return create_app(cfg, Path(os.environ[RUN_ENV]))
