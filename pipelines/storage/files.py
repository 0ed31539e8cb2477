"""The one set of file helpers every stage uses: atomic writes of files, directories and the
``latest`` links, Parquet/JSON/text, and a cross-process lock.

Atomic means written beside the target and renamed onto it, so a killed run leaves the old
version or the new one, never half of either (at worst a ``*.tmp`` / ``.*.partial`` that the
next writer replaces). All timestamps are written as microsecond UTC (Feast's DuckDB offline
store fails on nanosecond tz-aware timestamps with duckdb 2.x).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

from feature_repo.timestamps import to_utc_us
from pipelines.common.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Path, durable: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` if the block succeeds
    (``durable``: fsynced before the rename, and the directory after it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs should read like any file
    try:
        yield Path(tmp)
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
        if durable:
            _fsync(path.parent)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """A fresh partial directory beside ``path``; renamed onto ``path`` if the block succeeds.
    ``path`` must not exist yet (run and backtest directories are never overwritten)."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"directory already exists: {path}")
    tmp = path.parent / f".{path.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def point_link(link: Path, target: Path) -> None:
    """Atomically (re)point the symlink ``link`` at ``target`` (a sibling, linked by name)."""
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target.name)
    os.replace(tmp, link)


def normalise_timestamps(df: pd.DataFrame) -> pd.DataFrame:
    """Cast every datetime column of ``df`` to microsecond UTC (returns a new frame)."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = to_utc_us(out[col])
    return out


def write_parquet(df: pd.DataFrame, path: Path, durable: bool = False) -> Path:
    """Write ``df`` atomically, timestamps as microsecond UTC; ``durable`` also fsyncs the file and
    its directory (the serving event log: acknowledged means on disk)."""
    with atomic_path(path, durable) as tmp:
        normalise_timestamps(df).to_parquet(tmp, index=False)
    return path


def write_arrow(table: Any, path: Path, durable: bool = False) -> Path:
    """:func:`write_parquet` for a ``pyarrow.Table``."""
    import pyarrow.parquet as pq

    with atomic_path(path, durable) as tmp:
        pq.write_table(table, tmp)
    return path


def _fsync(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=columns)


def write_json(obj: Any, path: Path) -> Path:
    """Write pretty, key-sorted JSON atomically (stable bytes for identical content)."""
    return write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def write_text(text: str, path: Path) -> Path:
    """Write UTF-8 text atomically (reports, generated config)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def file_lock(directory: Path, timeout_s: float | None = None, holder: str = "",
              on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Exclusive lock on ``directory/.lock`` across processes (released when the block ends, and
    by the kernel when the process dies, so a killed command leaves no stale lock).

    Re-entrant within a thread (a command may run another one). Without ``timeout_s`` it waits
    as long as it takes; with one it polls, tells ``on_wait`` once who holds the lock (the
    ``holder`` text the owner wrote into the file), and raises a UserError naming the holder
    when ``timeout_s`` has passed.
    """
    path = directory / ".lock"
    held = _held_locks.__dict__.setdefault("depth", {})
    if held.get(path):
        held[path] += 1
        try:
            yield
        finally:
            held[path] -= 1
        return
    directory.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:  # "a+": opening must not erase the holder's note
        _acquire(handle, path, timeout_s, on_wait)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} ({holder or 'powertier'})\n")
        handle.flush()
        held[path] = 1
        try:
            yield
        finally:
            held[path] = 0
            fcntl.flock(handle, fcntl.LOCK_UN)


_held_locks = threading.local()


def _acquire(handle: IO[str], path: Path, timeout_s: float | None, on_wait: Callable[[str], None] | None) -> None:
    """``flock`` ``handle``: blocking without a timeout, else polling until ``timeout_s``."""
    if timeout_s is None:
        fcntl.flock(handle, fcntl.LOCK_EX)
        return
    deadline, told = time.monotonic() + timeout_s, False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            owner = path.read_text().strip() or "another process"
            if time.monotonic() >= deadline:
                raise UserError(f"{path.parent} is busy: {owner} holds {path} (waited {timeout_s:g} s; "
                                "raise lock_timeout_s to wait longer)") from None
            if on_wait is not None and not told:
                on_wait(f"waiting for the workspace lock: {owner} is writing to {path.parent}")
                told = True
            time.sleep(0.2)