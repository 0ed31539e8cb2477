"""The ``powertier`` command line: one Typer command per stage.

Each stage's commands live in its own ``pipelines/<stage>/cli.py``; heavy libraries are imported
inside the commands, so ``powertier --help`` stays fast and importing this module does no work.
Commands that write the registry or a store are registered under the workspace lock here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from pipelines.backtest import cli as stage_backtest
from pipelines.embed import cli as stage_embed
from pipelines.features import cli as stage_features
from pipelines.finetune import cli as stage_finetune
from pipelines.simulate import cli as stage_generate
from pipelines.ingest import cli as stage_ingest
from pipelines.batch import cli as stage_pipeline
from pipelines.serve import cli as stage_serve
from pipelines.train import cli as stage_train
from pipelines.common.cli import ConfigOpt, PowerTierGroup, console, err_console, get_config, library_output
from pipelines.retrain import cli as retrain_cli
from pipelines.runs import cli as runs_cli


def writes_workspace(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command that writes the Feast registry or a store under the workspace lock
    (``file_lock`` on ``<data_dir>/.lock``): Feast rewrites ``registry.db`` in place, so two
    writers at once lose each other's views. A second one waits, saying for whom, then fails with
    one line after ``lock_timeout_s``. Applied where the commands are registered."""

    @functools.wraps(command)
    def locked(*args: Any, **kwargs: Any) -> Any:
        from typer._click.globals import get_current_context

        from pipelines.storage.files import file_lock

        cfg = get_config(kwargs.get("config"))
        ctx = get_current_context(silent=True)
        name = ctx.command_path if ctx is not None else command.__name__
        with file_lock(cfg.data_dir, cfg.lock_timeout_s, holder=name,
                       on_wait=lambda msg: err_console.print(f"[yellow]{msg}[/]")):
            return command(*args, **kwargs)

    return locked


app = typer.Typer(cls=PowerTierGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="PowerTier: membership tier and purchasing power from text embeddings + transactions.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect the effective configuration.")
app.add_typer(config_app, name="config")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"powertier {version('powertier')}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show library warnings and log records "
                                          "(hidden by default).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the installed version and exit.")] = False,
) -> None:
    """PowerTier: membership tier and purchasing power from text embeddings + transactions."""
    library_output(verbose)


@config_app.command("show")
def config_show(config: ConfigOpt = None) -> None:
    """Print the effective config (YAML < environment < CLI), then where it runs (engine: local|ray)."""
    from pipelines.common.ray_engine import describe_engine

    cfg = get_config(config)
    console.print_json(json.dumps(cfg.public_dict()))
    err_console.print(describe_engine(cfg))


app.command("generate")(stage_generate.generate)
app.command("ingest")(writes_workspace(stage_ingest.ingest))
for _info in stage_features.features_app.registered_commands:  # the ones writing tables, registry, store
    if _info.name in ("build", "apply", "materialize"):
        _info.callback = writes_workspace(_info.callback)
app.add_typer(stage_features.features_app, name="features")
app.add_typer(stage_features.labels_app, name="labels")
app.command("embed")(writes_workspace(stage_embed.embed))
app.command("finetune")(stage_finetune.finetune)
app.command("train")(stage_train.train)
app.command("predict")(stage_train.predict)
app.command("score")(writes_workspace(stage_train.score))
app.command("pipeline")(writes_workspace(stage_pipeline.pipeline))
app.command("backtest")(stage_backtest.backtest)
app.command("serve")(stage_serve.serve)
for _info in runs_cli.runs_app.registered_commands:  # the ones repointing runs/latest
    if _info.name in ("promote", "rollback"):
        _info.callback = writes_workspace(_info.callback)
app.add_typer(runs_cli.runs_app, name="runs")
app.command("retrain")(writes_workspace(retrain_cli.retrain))


def main() -> None:
    """Console-script entry point (user mistakes: see ``UserError``; library noise:
    :func:`~pipelines.common.cli.library_output`, applied by the root callback)."""
    app()
