"""Structured logs of the server: one JSON object per line on stderr, uvicorn's own loggers included."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields}``; a traceback goes into ``exc`` as one string."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
        }
        out.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"), ensure_ascii=False)


def log_config(level: str = "info") -> dict[str, Any]:
    """``logging.config.dictConfig`` document for uvicorn (``log_config=``) and the app's loggers."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    loggers = {name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
               for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "powertier", "py.warnings")}
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": "pipelines.serve.logs.JsonFormatter"}},
            "handlers": {"json": handler}, "loggers": loggers}
