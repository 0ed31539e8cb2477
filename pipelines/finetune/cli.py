"""Command ``powertier finetune``: fine-tune the encoder on labels, print the ablation and the model dir."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.common.cli import ConfigOpt, console, get_config


class Label(str, Enum):
    log_pp = "log_pp"
    tier_next = "tier_next"


def finetune(
    end: Annotated[str | None, typer.Option(help="Training end: only labels available by then.", show_default="data as-of")] = None,
    label: Annotated[Label | None, typer.Option(help="Target the encoder learns.",
                                                show_default="finetune.label from the config")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Base encoder.", show_default="encoder.model")] = None,
    max_texts: Annotated[int | None, typer.Option(min=8, help="Training texts cap.",
                                                  show_default="finetune.max_texts from the config")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Most epochs searched.",
                                               show_default="finetune.max_epochs from the config")] = None,
    trials: Annotated[int | None, typer.Option(min=1, help="Optuna trials.",
                                               show_default="finetune.trials from the config")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.", show_default="seed from the config")] = None,
    run: Annotated[Path | None, typer.Option(help="Training run whose split bounds the labels and gets the "
                                             "ablation.", show_default="the newest run")] = None,
    ablation: Annotated[bool | None, typer.Option("--ablation/--no-ablation", help="Add the none / frozen / "
                                                  "fine-tuned stage-2 ablation to the training run.",
                                                  show_default="finetune.ablation from the config")] = None,
    config: ConfigOpt = None,
) -> None:
    """Fine-tune the text encoder on training users' labels; prints the model directory last."""
    from pipelines.common.times import parse_time
    from pipelines.finetune.job import run_finetune
    from pipelines.storage.files import read_json

    cfg = get_config(config, seed=seed, encoder__model=model, finetune__label=label.value if label else None,
                     finetune__max_texts=max_texts, finetune__max_epochs=epochs, finetune__trials=trials,
                     finetune__ablation=ablation)
    run_dir = run_finetune(cfg, parse_time(end, "--end") if end else None, run, log=console.print)
    report = read_json(run_dir / "finetune.json")
    probe = report["valid"]["probe"]
    metric = "accuracy" if report["label"] == "tier_next" else "R²"
    console.print(f"validation {metric} of a linear probe on {report['examples']['valid_texts']} texts: "
                  f"none {probe['none']:.3f} | frozen {probe['frozen']:.3f} | fine-tuned {probe['fine_tuned']:.3f}")
    if "ablation" in report:
        print_ablation(report["ablation"])
    console.print(f"model id {report['model_id']}, best {report['search']['best_params']}, {report['seconds']} s")
    print(run_dir / "model")


def print_ablation(doc: dict[str, Any]) -> None:
    """The encoder ablation's table: test metrics of the three rows, overall and for new users."""
    from rich.table import Table

    from pipelines.report.training import encoder_ablation_rows

    head, rows = encoder_ablation_rows(doc)
    table = Table(*head, title=f"encoder ablation on run {doc['run_id']} (same test rows; LightGBM trials "
                  f"{doc['trials']})")
    for row in rows:
        table.add_row(*row)
    console.print(table)
