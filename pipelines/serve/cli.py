"""Stage 'serve': the HTTP API (FastAPI on uvicorn) over the Feast online store and a trained run.

The command checks what a server needs (a run dir, a registered feature store, a free port),
then starts uvicorn on the app factory ``pipelines.serve.app:app_from_env``; the effective config
and the run dir travel to every worker through the environment. Logs are JSON lines on stderr;
SIGTERM / Ctrl-C drain in-flight requests before the process exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from pipelines.common.cli import ConfigOpt, get_config
from pipelines.common.config import ServeConfig
from pipelines.common.errors import UserError



def _default(name: str) -> str:
    """``--help``'s default for an option that falls back to ``serve.<name>`` of the config."""
    return f"serve.{name} from the config: {ServeConfig.model_fields[name].default}"


class LogLevel(str, Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def serve(
    host: Annotated[str | None, typer.Option(
        help="Interface to bind.", show_default=_default("host"))] = None,
    port: Annotated[int | None, typer.Option(
        help="TCP port.", show_default=_default("port"))] = None,
    run: Annotated[Path | None, typer.Option(
        "--run", help="Run dir to serve.", show_default="the promoted run, DATA_DIR/runs/latest")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Worker processes.", show_default=_default("workers"))] = None,
    log_level: Annotated[LogLevel, typer.Option(help="Lowest level of the JSON log lines.")] = LogLevel.info,
    config: ConfigOpt = None,
) -> None:
    """Serve /v1/predict, the /v1/events/* endpoints, /healthz, /readyz and /metrics."""
    # Single-row LightGBM and encoder calls are slower with a thread pool (measured 12 ms vs 0.03 ms
    # per booster call on 2 busy cores); must be set before LightGBM/torch are imported.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _metrics_dir()  # before Feast is imported: it points prometheus_client at a directory of its own
    cfg = get_config(config, serve__host=host, serve__port=port, serve__workers=workers)
    from pipelines.serve.app import RUN_ENV, SETTINGS_ENV, api_key_from_env

    api_key_from_env()  # an empty key refuses here, before any worker starts
    run_dir = _check_workspace(cfg, run)
    _check_port(cfg.serve.host, cfg.serve.port)
    os.environ[SETTINGS_ENV] = cfg.model_dump_json()
    os.environ[RUN_ENV] = str(run_dir)
    import uvicorn

    from pipelines.serve.logs import log_config

    uvicorn.run("pipelines.serve.app:app_from_env", factory=True, host=cfg.serve.host, port=cfg.serve.port,
                workers=cfg.serve.workers, log_config=log_config(log_level.value), access_log=False,
                timeout_graceful_shutdown=10)


def _check_workspace(cfg, run: Path | None) -> Path:
    """The run dir to serve; a clear error when the workspace cannot be served yet."""
    from pipelines.common.workspace import Workspace
    from pipelines.storage.artifact import load_model, resolve_run_dir

    ws = Workspace(cfg.data_dir)
    run_dir = resolve_run_dir(ws.runs, run)
    if not (ws.feast / "registry.db").exists():
        raise UserError(f"no Feast registry in {ws.feast}; run `powertier features apply` and `materialize` first")
    load_model(run_dir)  # a corrupt model file: one line naming it, before any worker starts
    return run_dir


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _metrics_dir() -> None:
    """One fresh Prometheus multiprocess directory shared by all workers, removed at exit."""
    path = tempfile.mkdtemp(prefix="powertier-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["PROMETHEUS_MULTIPROCESS_DIR"] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
