"""The layout rules of docs/ARCHITECTURE.md, checked on the source (AST), so a change that breaks
them fails here rather than in review:

* only a stage's ``job.py``/``cli.py`` and the shared I/O package ``pipelines/storage/`` touch
  files; only ``cli.py`` modules print or hold a console;
* dependencies point one way: pipelines -> ranking/embeddings/feature_repo, never back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LIBRARIES = ("ranking", "embeddings", "feature_repo")
# Calls that open, read or write files (method names on paths/frames, or builtins).
IO_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "to_parquet", "read_parquet",
            "to_csv", "read_csv", "mkdir", "unlink", "rmtree", "mkstemp", "touch", "symlink_to",
            "write_parquet", "write_json", "read_json", "write_table"}
OS_IO = {"replace", "rename", "remove", "makedirs"}  # only as os.<name> (str.replace is not I/O)
PRINT_CALLS = {"print", "print_json", "rule"}
# Reading the YAML config is the config's job (resolved from the working directory).
IO_EXEMPT = {"pipelines/common/config.py"}
IO_ALLOWED = {"job.py", "cli.py"}


def _modules() -> list[Path]:
    out = []
    for pkg in ("pipelines", *LIBRARIES):
        out += [p for p in (ROOT / pkg).rglob("*.py")]
    return sorted(out)


def _calls(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                names.add(f.id)
            elif isinstance(f, ast.Attribute):
                on_os = isinstance(f.value, ast.Name) and f.value.id in {"os", "shutil"}
                if f.attr not in OS_IO or on_os:
                    names.add(f.attr)
    return names


def _imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
    return out


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def _io_exempt(p: Path) -> bool:
    rel = _rel(p)
    return p.name in IO_ALLOWED or rel.startswith("pipelines/storage/") or rel in IO_EXEMPT


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_only_jobs_and_clis_touch_files(path: Path) -> None:
    if _io_exempt(path):
        return
    used = _calls(ast.parse(path.read_text())) & IO_CALLS
    assert not used, f"{_rel(path)} does file I/O ({sorted(used)}): move it to the stage's job.py or pipelines/storage/"


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_only_clis_print(path: Path) -> None:
    if path.name == "cli.py":
        return
    tree = ast.parse(path.read_text())
    used = _calls(tree) & PRINT_CALLS
    consoles = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in {"console", "err_console", "Console"}]
    assert not used, f"{_rel(path)} prints ({sorted(used)}): only cli.py modules print"
    assert not consoles, f"{_rel(path)} uses a console: only cli.py modules print"


@pytest.mark.parametrize("path", [p for p in _modules() if _rel(p).split("/")[0] in LIBRARIES], ids=_rel)
def test_libraries_never_import_pipelines(path: Path) -> None:
    assert "pipelines" not in _imports(ast.parse(path.read_text())), (
        f"{_rel(path)} imports pipelines: dependencies point pipelines -> {'/'.join(LIBRARIES)} only")
