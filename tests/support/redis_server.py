"""A real ``redis-server`` on 127.0.0.1 for tests: start on a free port, stop (an outage), restart.

Persistence is on (an RDB snapshot in the server's directory, written on SIGTERM), so a restart
comes back with the same data, as a production Redis with persistence would.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.serve_data import free_port, wait_until


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


class RedisServer:
    """One redis-server process; ``url`` is what ``POWERTIER_REDIS_URL`` takes."""

    def __init__(self, directory: Path, port: int | None = None):
        self.directory = Path(directory)
        self.port = port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "RedisServer":
        """Start (again, on the same port) and wait until it answers PING."""
        import redis

        self.port = self.port or free_port()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
             "--dbfilename", "dump.rdb", "--save", "3600 1", "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2, socket_timeout=0.2)
        wait_until(lambda: self.proc.poll() is None and client.ping(), timeout, f"redis-server on port {self.port}")
        client.close()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis snapshots to disk, then exits) and wait for the process to end."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None
