"""Backtest cutoffs as Ray tasks (``engine: ray``), with Optuna trials fitted in parallel, give
exactly the local results for a fixed seed. Real local cluster (tests/support/ray_cluster.py)."""

from __future__ import annotations

import pandas as pd

from pipelines.backtest.job import run_backtest
from pipelines.common.config import load_config
from pipelines.storage import feast_store
from tests.support.backtest_data import END, EVERY, START
from tests.support.ray_cluster import OBJECT_STORE_MB, RAY_CPUS


def test_cutoffs_as_ray_tasks_equal_the_local_backtest(backtest_ws, ray_cluster):
    common = dict(data_dir=backtest_ws.data_dir, train__trials=3, train__parallel_trials=2)
    local = load_config(backtest_ws.data_dir / "powertier.yaml", **common)
    on_ray = load_config(backtest_ws.data_dir / "powertier.yaml", engine="ray", ray__num_cpus=RAY_CPUS,
                         ray__object_store_mb=OBJECT_STORE_MB, **common)
    store = feast_store.open_store(local)  # the same retrieval for both: only the cutoff fits differ
    window = (pd.Timestamp(START, tz="UTC"), pd.Timestamp(END, tz="UTC"), EVERY)
    want, got = run_backtest(local, store, *window), run_backtest(on_ray, store, *window)
    assert len(got["summaries"]) == 3
    for name in ("results", "predictions", "drift"):
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True)
