"""Helpers shared by the benchmark scripts: run the real CLI, measure a child process."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POWERTIER = str(Path(sys.executable).parent / "powertier")


def env_for(data_dir: Path) -> dict[str, str]:
    """Environment of a benchmark child: its own workspace, offline model hub."""
    return {**os.environ, "POWERTIER_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def cli(data_dir: Path, *args: str) -> float:
    """Run ``powertier ARGS`` in ``data_dir``'s workspace; returns wall seconds (raises on failure)."""
    start = time.perf_counter()
    subprocess.run([POWERTIER, *args], env=env_for(data_dir), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def child(script: Path, data_dir: Path, *args: str, timeout: float | None = None) -> dict:
    """Run ``script --worker ARGS`` in a fresh process; it prints one JSON line, we add peak RSS."""
    proc = subprocess.run([sys.executable, str(script), "--worker", *args], env=env_for(data_dir),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:  # a negative code is a signal: -9 is usually the OOM killer
        raise RuntimeError(f"exit code {proc.returncode}: {proc.stderr[-3000:]}".strip())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
