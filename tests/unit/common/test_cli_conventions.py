"""CLI conventions every command keeps: -h, --version, choices as enums, defaults in help, no RST markup."""

from __future__ import annotations

from enum import Enum

import pytest
import typer
from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


def _commands(group, path: tuple[str, ...] = ()) -> list:
    """(path, command) of every command and group under ``group`` (Typer vendors its own Click)."""
    out = [(path, group)]
    if hasattr(group, "commands"):
        for name, cmd in group.commands.items():
            out += _commands(cmd, (*path, name))
    return out


COMMANDS = _commands(typer.main.get_command(app))


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "powertier" for p, _ in COMMANDS])
def test_help_shows_every_default_and_no_rst(path, command):
    short = runner.invoke(app, [*path, "-h"], terminal_width=200)
    assert short.exit_code == 0, short.output
    assert short.output == runner.invoke(app, [*path, "--help"], terminal_width=200).output
    assert "``" not in short.output, f"RST markup in `powertier {' '.join(path)} -h`"
    for param in command.params:
        if type(param).__name__ != "TyperOption" or param.is_flag or param.required or param.hidden:
            continue
        if param.name in ("help", "version"):
            continue
        # Typer's own "[default: ...]" field, not a default buried in the help text.
        shown = isinstance(param.show_default, str) or (param.default is not None and param.show_default is not False)
        assert shown, f"`powertier {' '.join(path)}` {param.opts[0]}: no [default: ...] shown"


@pytest.mark.parametrize("path,option", [(("train",), "--split"), (("serve",), "--log-level"),
                                         (("embed",), "--device"), (("embed",), "--precision")])
def test_choices_are_enums(path, option):
    command = dict(COMMANDS)[path]
    param = next(p for p in command.params if option in p.opts)
    assert issubclass(param.type_descriptor.annotation, Enum), f"{option} is not a choice"
    bad = runner.invoke(app, [*path, option, "nonsense"])
    assert bad.exit_code == 2 and "nonsense" in bad.output


def test_version_prints_the_package_version():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"powertier {version('powertier')}"
