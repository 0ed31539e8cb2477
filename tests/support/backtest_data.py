"""Tiny simulated workspaces for the backtest tests, built through the real CLI stages
(generate → ingest → features build → features apply), and a fixture holding one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.common.config import PowerTierConfig, load_config

USERS, DAYS, SEED = 150, 400, 7
# Data runs 2025-01-01 .. ~2026-02-04: with H = 90 and 3 training cutoffs 30 days apart, these
# three cutoffs all have training history and closed outcome windows.
START, END, EVERY = "2025-09-01", "2025-10-31", 30
SMALL_TRAIN = {"trials": 0, "n_cutoffs": 3, "every_days": 30, "num_boost_round": 60, "early_stopping_rounds": 10}


def invoke(root: Path, *args: str):
    """Run ``powertier ARGS`` in-process on the workspace at ``root``; fail loudly on a non-zero exit."""
    result = CliRunner().invoke(app, [*args, "--config", str(root / "powertier.yaml")],
                                env={"POWERTIER_DATA_DIR": str(root), "HF_HUB_OFFLINE": "1"})
    if result.exit_code != 0:
        raise AssertionError(f"powertier {' '.join(args)} failed: {result.output}\n{result.exception!r}")
    return result


def make_workspace(root: Path, edit_raw: Callable[[Path], None] | None = None, texts: bool = True,
                   as_of: str | None = None) -> PowerTierConfig:
    """Simulate raw data, optionally edit it, then ingest, build features and apply them in Feast."""
    root.mkdir(parents=True, exist_ok=True)
    doc = {"data_dir": str(root), "horizon_days": 90, "seed": 42, "train": SMALL_TRAIN}
    if as_of:
        doc["as_of"] = as_of
    (root / "powertier.yaml").write_text(yaml.safe_dump(doc))
    raw = root / "raw"
    invoke(root, "generate", "--users", str(USERS), "--days", str(DAYS), "--seed", str(SEED), "--out", str(raw))
    if not texts:  # the pipeline must run Y-only
        for table in ("reviews", "searches"):
            (raw / f"{table}.parquet").unlink()
    if edit_raw is not None:
        edit_raw(raw)
    for step in (["ingest", "--raw", str(raw)], ["features", "build"], ["features", "apply"]):
        invoke(root, *step)
    return load_config(root / "powertier.yaml", data_dir=root)


def cutoffs() -> list[pd.Timestamp]:
    """The test backtest's cutoffs."""
    return list(pd.date_range(pd.Timestamp(START, tz="UTC"), pd.Timestamp(END, tz="UTC"), freq=f"{EVERY}D"))


@pytest.fixture(scope="session")
def backtest_ws(tmp_path_factory) -> PowerTierConfig:
    """One tiny workspace (texts included); each module importing the fixture builds its own (~2 s)."""
    return make_workspace(tmp_path_factory.mktemp("backtest") / "ws")
