"""Optional MLflow tracking of training runs (``tracking: mlflow`` in the config): what is logged.

Each training run becomes an MLflow run in the experiment ``powertier`` of a local store under
``<data dir>/mlflow/``: the flattened config as params, the headline test metrics, provenance as
tags and the whole run dir as artifacts. The store is MLflow's SQLite backend (``mlflow.db``) with
artifacts in ``artifacts/``: MLflow 3 refuses its older ``./mlruns`` file backend ("maintenance
mode") unless an environment flag opts in, and SQLAlchemy/alembic are already installed (Optuna
needs them). The run dir stays the source of truth; MLflow is a view of it for engineers who
browse with ``mlflow ui --backend-store-uri sqlite:///<data dir>/mlflow/mlflow.db``. Only the
lightweight ``mlflow-skinny`` client is needed (``pip install 'powertier[mlflow]'``). The logging
itself is :func:`pipelines.runs.job.track`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.runs.registry import headline

EXPERIMENT = "powertier"
MAX_PARAM_CHARS = 500  # MLflow's limit on a param value (file store: 6000; keep to the strictest store)


def store_dir(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / "mlflow"


def store_uri(data_dir: Path) -> str:
    """The tracking URI: MLflow's SQLite backend inside the workspace."""
    return f"sqlite:///{store_dir(data_dir) / 'mlflow.db'}"


def artifact_uri(data_dir: Path) -> str:
    return (store_dir(data_dir) / "artifacts").as_uri()


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"train": {"trials": 4}}`` -> ``{"train.trials": "4"}`` (values as bounded strings)."""
    out: dict[str, str] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)[:MAX_PARAM_CHARS]
    return out


def metric_items(metrics: dict[str, Any]) -> dict[str, float]:
    """Headline metrics with MLflow-safe names (letters, digits, _ - . / and spaces are allowed)."""
    return {label.replace(" ", "_"): float(v) for label, v in headline(metrics).items() if isinstance(v, (int, float))}
