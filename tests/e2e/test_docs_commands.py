"""The docs paste: every ```bash block of README.md and docs/*.md runs, line by line, against a
small real workspace (generated, then `powertier pipeline`), from a folder laid out like a clone
(``data/`` = the workspace, ``.venv`` = this interpreter's environment).

A line that starts a server (``powertier serve``, ``feast ... serve|ui``) runs in the background on a
free loopback port (the doc's port is replaced) until the block ends; the lines after it must then
succeed against it (``curl`` gets ``--fail-with-body``). ``feast ... plan`` must not plan to delete
anything. Only a block preceded by ``<!-- doc-test: skip REASON -->`` is skipped.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli_helpers import cli_ok
from tests.support.serve_data import free_port, running_server

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!--\s*doc-test:\s*(?P<mark>[^>]*?)\s*-->\s*\n)?^```bash\n(?P<body>.*?)^```", re.S | re.M)
SERVER = re.compile(r"^(?:\S*/)?(?:powertier\s+serve|feast\s.*\s(?:serve|ui))\b")
PORT = re.compile(r"(?:--port|-p)\s+(\d+)")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    mark: str | None
    body: str

    @property
    def commands(self) -> list[str]:
        """The block's shell commands: continuation lines joined, a quoted string that spans lines
        (a JSON body) kept whole, blank and comment lines dropped."""
        commands, pending = [], ""
        for line in re.sub(r"\\\n\s*", " ", self.body).splitlines():
            pending = f"{pending}\n{line}" if pending else line
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on on the next line
                continue
            command, pending = pending.strip(), ""
            if command and not command.startswith("#"):
                commands.append(command)
        assert not pending, f"{self.doc}:{self.line}: unterminated quote in a documented command"
        return commands


def doc_blocks() -> list[Block]:
    """Every ```bash block of the docs, with its skip mark (if any)."""
    blocks = []
    for doc in DOCS:
        text = doc.read_text()
        for m in BLOCK.finditer(text):
            blocks.append(Block(doc.name, text[:m.start("body")].count("\n"), m.group("mark"), m.group("body")))
    return blocks


def test_the_docs_have_runnable_blocks():
    blocks = doc_blocks()
    assert len([b for b in blocks if not b.mark]) >= 3, [f"{b.doc}:{b.line}" for b in blocks]
    assert all(b.mark.startswith("skip ") for b in blocks if b.mark), "a mark must read `skip REASON`"


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder like a clone after the README's set-up, with a small workspace in ``data/``."""
    root = tmp_path_factory.mktemp("clone")
    (root / ".venv").symlink_to(sys.prefix)
    # promote always: 120 users are too few for the run to pass the gate against the baselines, and
    # the serving blocks need a promoted run (the gate itself is tested in tests/unit/train).
    env = {**os.environ, "POWERTIER_DATA_DIR": str(root / "data"), "POWERTIER_TRAIN__TRIALS": "0",
           "POWERTIER_TRAIN__PROMOTE": "always",
           "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with pytest.MonkeyPatch.context() as mp:
        for key in ("POWERTIER_DATA_DIR", "POWERTIER_TRAIN__TRIALS", "POWERTIER_TRAIN__PROMOTE"):
            mp.setenv(key, env[key])
        cli_ok("generate", "--users", "120", "--days", "400", "--seed", "3", "--out", str(root / "data" / "raw"))
        cli_ok("pipeline", "--raw", str(root / "data" / "raw"))
    return root, env


def _health_url(command: str, port: int) -> str:
    if "powertier" in command.split()[0]:
        return f"http://127.0.0.1:{port}/readyz"
    return f"http://127.0.0.1:{port}/health" if re.search(r"\sserve\b", command) else f"http://127.0.0.1:{port}/"


def _run(command: str, cwd: Path, env: dict[str, str]) -> str:
    """One documented command; fails the test with its output unless it exits 0."""
    command = re.sub(r"^curl -s\b", "curl -sS --fail-with-body", command)
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"`{command}` exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    if re.search(r"feast\s.*\splan\b", command):
        assert "Deleted" not in proc.stdout + proc.stderr, f"`{command}` would delete:\n{proc.stdout}"
    return proc.stdout


def _free_ports(commands: list[str]) -> dict[str, str]:
    """A free loopback port for every port a documented server listens on."""
    ports = {}
    for command in commands:
        if SERVER.match(command):
            found = PORT.search(command)
            assert found, f"`{command}`: a documented server names its port"
            ports[found.group(1)] = str(free_port())
    return ports


@pytest.mark.parametrize("block", doc_blocks(), ids=lambda b: f"{b.doc}:{b.line}")
def test_doc_block_runs(block: Block, clone):
    if block.mark:
        pytest.skip(block.mark)
    root, env = clone
    ports = _free_ports(block.commands)
    with contextlib.ExitStack() as servers:
        for command in block.commands:
            for doc_port, port in ports.items():
                command = re.sub(rf"\b{doc_port}\b", port, command)
            if SERVER.match(command):
                port = PORT.search(command).group(1)
                servers.enter_context(running_server(["bash", "-c", f"exec {command}"], env,
                                                     _health_url(command, int(port)), root / f"server-{port}.log",
                                                     timeout=180))
            else:
                _run(command, root, env)
