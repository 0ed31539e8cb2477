"""The PowerTier HTTP API (FastAPI): routes, auth, error handlers, metrics middleware.

``create_app(cfg, run_dir)`` only builds the app; the lifespan loads the heavy resources once per
process (``pipelines.serve.state``) and drops them on shutdown. ``/v1/predict`` runs on the event
loop (see its docstring); the event endpoints and ``/readyz`` are plain ``def`` (the encoder and
store probes block), so they run in the thread pool.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from pipelines.common.config import PowerTierConfig
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
from pipelines.serve.predict import StoreUnavailable, lookup, score
from pipelines.serve.state import (
    ServeState,
    default_encoder,
    load_state,
    store_reachable,
)

if TYPE_CHECKING:
    from pipelines.serve.events import Encoder

API_KEY_ENV = "POWERTIER_API_KEY"
log = logging.getLogger("powertier.serve")


UserId = Annotated[str, Field(min_length=1, max_length=256)]


class PredictRequest(BaseModel):
    user_ids: list[UserId]
    as_of: datetime | None = Field(None, description="Time of the time-relative features (default: now).")


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


def _auth_dependency(api_key: str | None) -> Callable[[Request], Any]:
    async def check(request: Request) -> None:  # async: a sync dependency costs a thread-pool hop
        if api_key is None:
            return
        given = request.headers.get("x-api-key", "")
        if not secrets.compare_digest(given.encode(), api_key.encode()):
            raise HTTPException(401, "missing or invalid X-API-Key header")
    return check


def create_app(cfg: PowerTierConfig, run_dir: Path,
               encoder_factory: Callable[[PowerTierConfig], Encoder] = default_encoder) -> FastAPI:
    """The API for one workspace and one run dir. Nothing is loaded until the app starts."""
    metrics = build_metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.serve = load_state(cfg, Path(run_dir), encoder_factory)
        yield
        log.info("shutting down")
        app.state.serve = None

    app = FastAPI(title="PowerTier", version="1", lifespan=lifespan)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _install_handlers(app, metrics)
    auth = Depends(_auth_dependency(os.environ.get(API_KEY_ENV) or None))
    _add_probe_routes(app, metrics)
    _add_v1_routes(app, metrics, auth, cfg.serve.max_batch)
    return app


def _state(request: Request) -> ServeState:
    state = getattr(request.app.state, "serve", None)
    if state is None:
        raise StoreUnavailable("server is starting or shutting down")
    return state


def _add_probe_routes(app: FastAPI, metrics: ServeMetrics) -> None:
    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz")
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

    @app.get("/metrics")
    def prometheus() -> Response:
        """Prometheus exposition: request counts and latencies, cold starts, errors, events."""
        data, content_type = render(metrics)
        return Response(data, media_type=content_type)


def _add_v1_routes(app: FastAPI, metrics: ServeMetrics, auth: Any, max_batch: int) -> None:
    @app.post("/v1/predict", dependencies=[auth])
    async def predict(body: PredictRequest, request: Request) -> JSONResponse:
        """Tier, tier probabilities, purchasing power and reasons for up to ``max_batch`` users.

        Runs on the event loop: the work is ~2 ms of GIL-bound CPU for one user, and a thread-pool
        hop cost more than that under load (p99 85 ms vs 9 ms at 100 req/s, docs/BENCHMARKS.md).
        The breaker keeps a dead online store from stalling the loop."""
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
        rows = score(state.predictor, frame)
        metrics.predictions.inc(len(rows))
        metrics.cold_starts.inc(sum(r["cold_start"] for r in rows))
        # A JSONResponse skips FastAPI's jsonable_encoder walk: the rows are plain JSON types already.
        return JSONResponse({"run_id": state.predictor.run_id, "as_of": as_of.isoformat(), "predictions": rows})

    for kind, model in (("order", OrderEvent), ("review", ReviewEvent), ("search", SearchEvent)):
        _add_event_route(app, metrics, auth, kind, model)


def _add_event_route(app: FastAPI, metrics: ServeMetrics, auth: Any, kind: str, model: type[BaseModel]) -> None:
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
    post_event.__doc__ = f"Record a {kind} event: validate, update the user's online features, log it."
    app.post(f"/v1/events/{kind}", dependencies=[auth], name=f"event_{kind}", status_code=202)(post_event)


def app_from_env() -> FastAPI:
    """uvicorn factory for ``powertier serve``: config and run dir come from the environment."""
    from pipelines.serve.cli import RUN_ENV, SETTINGS_ENV

    logging.captureWarnings(True)  # library warnings become JSON log lines too
    cfg = PowerTierConfig.model_validate_json(os.environ[SETTINGS_ENV])
    return create_app(cfg, Path(os.environ[RUN_ENV]))
