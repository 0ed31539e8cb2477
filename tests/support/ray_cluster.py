"""A real local Ray cluster for the ``engine: ray`` equality tests: 2 CPUs, a small object store,
no dashboard, bound to loopback; one per test process, shut down at the end of the session."""

from __future__ import annotations

import time

import pytest

from pipelines.common.config import PowerTierConfig, load_config

RAY_CPUS = 2
OBJECT_STORE_MB = 128


def ray_config(data_dir, **overrides) -> PowerTierConfig:
    """``engine: ray`` on the test cluster for the workspace ``data_dir``."""
    return load_config(data_dir=data_dir, engine="ray", ray__num_cpus=RAY_CPUS,
                       ray__object_store_mb=OBJECT_STORE_MB, **overrides)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """Start the cluster once (``ray.init(num_cpus=2, include_dashboard=False, ...)`` through the
    project's own ``ensure_ray``), yield its start-up seconds, shut it down."""
    import os

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only (see ensure_ray)
    import ray

    from pipelines.common.ray_engine import ensure_ray

    started = time.perf_counter()
    ensure_ray(ray_config(tmp_path_factory.mktemp("ray")))
    address = ray.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:"), f"test cluster must bind to loopback, got {address}"
    yield time.perf_counter() - started
    ray.shutdown()
