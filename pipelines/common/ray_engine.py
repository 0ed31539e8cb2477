"""The one way PowerTier reaches Ray (``engine: ray``): start or join the cluster, map tasks.

``ensure_ray`` starts a local cluster on loopback when ``ray.address`` is empty, or joins the
cluster at ``auto`` / ``ray://host:port``; Feast's Ray offline store and compute engine then
reuse that same connection. ``map_tasks`` runs one function over items as Ray tasks (results in
input order), or in this process under ``engine: local``, so each caller has one code path.
Ray is imported only here and only under ``engine: ray``: the local engine never needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pipelines.common.config import PowerTierConfig

T = TypeVar("T")
R = TypeVar("R")
LOOPBACK = "127.0.0.1"


def uses_ray(cfg: PowerTierConfig) -> bool:
    """Whether this configuration runs on Ray."""
    return cfg.engine == "ray"


def describe_engine(cfg: PowerTierConfig) -> str:
    """One line for ``config show``: where the batch stages run under this config."""
    if not uses_ray(cfg):
        return ("engine: local - every stage runs in this process (DuckDB offline store, in-process "
                "encoder); set engine: ray to run on a Ray cluster (docs/SCALE.md)")
    r = cfg.ray
    where = (f"joins the Ray cluster at {r.address}" if r.address else
             f"starts a local Ray cluster on loopback ({r.num_cpus or os.cpu_count()} CPUs)")
    gpus = "1 GPU each when the cluster has GPUs" if r.gpus_per_encoder is None else f"{r.gpus_per_encoder} GPUs each"
    return (f"engine: ray - {where}; Feast Ray offline store + Ray compute engine; features build in tasks "
            f"of {r.users_per_partition:,} users; backtest cutoffs as tasks ({r.cpus_per_task} CPUs each); "
            f"encoder actors: {r.encoder_actors} ({r.cpus_per_encoder} CPUs, {gpus})")


def init_kwargs(cfg: PowerTierConfig) -> dict[str, Any]:
    """``ray.init`` arguments: a quiet local cluster on loopback, or a connection to ``ray.address``."""
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR",
             "configure_logging": False}
    if cfg.ray.address:
        return {"address": cfg.ray.address, **quiet}
    local = {"num_cpus": cfg.ray.num_cpus or os.cpu_count() or 1, "_node_ip_address": LOOPBACK}
    if cfg.ray.object_store_mb:
        local["object_store_memory"] = cfg.ray.object_store_mb * 2**20
    return {**local, **quiet}


def ensure_ray(cfg: PowerTierConfig) -> None:
    """Connect this process to Ray once (a no-op when already connected, e.g. by a test fixture).

    A local cluster binds to loopback only: Ray otherwise swaps 127.0.0.1 for the machine's
    routable address, unless Ray clusters are switched off as on a laptop
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read when Ray is imported). The working tree
    travels to the workers as the job's working directory only when joining a remote cluster.
    """
    if not cfg.ray.address:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DISABLE_IMPORT_WARNING", "1")
    # Offline model files, no tokenizer thread pools per worker. A local cluster's workers inherit
    # this process's environment; a joined cluster's get it (and the code) through a runtime env,
    # which costs a setup step per worker, so only there.
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(key, value)
    runtime_env: dict[str, Any] = {}
    if cfg.ray.address:
        runtime_env["env_vars"] = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM")}
    if cfg.ray.address.startswith("ray://"):
        runtime_env["working_dir"] = str(Path(__file__).resolve().parents[2])
    ray.init(runtime_env=runtime_env or None, **init_kwargs(cfg))


def map_tasks(cfg: PowerTierConfig, fn: Callable[..., R], items: Sequence[T], *shared: Any,
              num_cpus: float | None = None) -> list[R]:
    """``[fn(item, *shared) for item in items]``; under ``engine: ray`` each call is a Ray task.

    ``shared`` values are put in the object store once and passed to every task by reference
    (a large frame is not copied per task). Results come back in input order, whatever order
    the tasks finish in, so the caller's output does not depend on scheduling.
    """
    if not uses_ray(cfg) or len(items) == 0:
        return [fn(item, *shared) for item in items]
    import ray

    ensure_ray(cfg)
    refs = [ray.put(value) for value in shared]
    task = ray.remote(fn).options(num_cpus=num_cpus or cfg.ray.cpus_per_task, max_retries=2)
    return ray.get([task.remote(item, *refs) for item in items])


def cluster_gpus(cfg: PowerTierConfig) -> float:
    """GPUs the connected cluster advertises (0 without any)."""
    import ray

    ensure_ray(cfg)
    return float(ray.cluster_resources().get("GPU", 0.0))


def cluster_cpus(cfg: PowerTierConfig) -> float:
    """CPUs the connected cluster advertises."""
    import ray

    ensure_ray(cfg)
    return float(ray.cluster_resources().get("CPU", 1.0))
