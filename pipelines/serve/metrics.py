"""Prometheus metrics of the serving app and the ASGI middleware that records them.

Each app owns its registry. Importing Feast switches prometheus_client to multiprocess mode
(it sets ``PROMETHEUS_MULTIPROC_DIR`` before importing the client); then values live in files
and ``/metrics`` aggregates them with the multiprocess collector, which also covers every
uvicorn worker (``powertier serve`` points all workers at one fresh directory).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    values,
)
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
access_log = logging.getLogger("powertier.access")


@dataclass(frozen=True)
class ServeMetrics:
    """The app's metric families (see ``docs/SERVING.md`` for their meaning)."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    predictions: Counter
    cold_starts: Counter
    errors: Counter
    events: Counter
    model_info: Gauge


def build_metrics() -> ServeMetrics:
    """Fresh metric families in a fresh registry."""
    reg = CollectorRegistry()
    return ServeMetrics(
        registry=reg,
        requests=Counter("powertier_http_requests", "HTTP requests by route and status.",
                         ["method", "route", "status"], registry=reg),
        latency=Histogram("powertier_http_request_duration_seconds", "HTTP request latency by route.",
                          ["method", "route"], buckets=LATENCY_BUCKETS, registry=reg),
        predictions=Counter("powertier_predictions", "Users scored by /v1/predict.", registry=reg),
        cold_starts=Counter("powertier_cold_starts", "Users scored without any online feature row.",
                            registry=reg),
        errors=Counter("powertier_errors", "Failed requests by kind (auth, validation, too_large, "
                       "store_unavailable, internal, ...).", ["kind"], registry=reg),
        events=Counter("powertier_events", "Events received by kind (order, review, search) and outcome "
                       "(accepted or the rejection reason).", ["kind", "outcome"],
                       registry=reg),
        # "max" across workers: every worker of one server serves the same run, so the value is 1.
        model_info=Gauge("powertier_model_info", "The served run (value 1): run id, feature service, model type.",
                         ["run_id", "feature_service", "feature_set"], multiprocess_mode="max", registry=reg),
    )


class _WithoutFeast(Collector):
    """A collector minus Feast's own families: its feature-server metrics live in the same
    multiprocess directory but are never recorded by this app (they would always read 0)."""

    def __init__(self, inner: Collector):
        self.inner = inner

    def collect(self):
        return [m for m in self.inner.collect() if not m.name.startswith("feast_")]


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")) and values.ValueClass is not values.MutexValue


def render(metrics: ServeMetrics) -> tuple[bytes, str]:
    """Exposition text of this app, or of every worker in multiprocess mode, plus the standard
    ``process_*`` metrics of the answering process."""
    reg = CollectorRegistry()
    if _multiprocess():
        from prometheus_client import multiprocess

        inner = CollectorRegistry()
        multiprocess.MultiProcessCollector(inner)
        reg.register(_WithoutFeast(inner))
    else:
        reg.register(_WithoutFeast(metrics.registry))
    ProcessCollector(registry=reg)
    return generate_latest(reg), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware: count, time and log (one JSON line) every HTTP request.

    Routes are labelled by their template (``/v1/predict``), never the raw path, so a scan of
    random URLs cannot blow up the label set.
    """

    def __init__(self, app, metrics: ServeMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._record(scope, status["code"], time.perf_counter() - start)

    def _record(self, scope, code: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"]
        self.metrics.requests.labels(method, route, str(code)).inc()
        self.metrics.latency.labels(method, route).observe(seconds)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info("request", extra={"fields": {"method": method, "path": scope["path"], "route": route,
                                                          "status": code, "ms": round(seconds * 1000, 3)}})

