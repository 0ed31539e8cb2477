"""Command ``powertier finetune``: fine-tune the encoder on labels, print the ablation and the model dir."""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.common.cli import ConfigOpt, console, get_config


def finetune(
    end: Annotated[str | None, typer.Option(help="Training end: only labels available by then (default: data as-of).")] = None,
    label: Annotated[str | None, typer.Option(help="log_pp | tier_next")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Base encoder (default encoder.model).")] = None,
    max_texts: Annotated[int | None, typer.Option(min=8, help="Training texts cap.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Most epochs searched.")] = None,
    trials: Annotated[int | None, typer.Option(min=1, help="Optuna trials.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Fine-tune the text encoder on training users' labels; prints the model directory last."""
    from pipelines.common.errors import UserError
    from pipelines.common.times import parse_time
    from pipelines.finetune.job import run_finetune
    from pipelines.storage.files import read_json

    if label not in (None, "log_pp", "tier_next"):
        raise UserError("--label must be 'log_pp' or 'tier_next'")
    cfg = get_config(config, seed=seed, encoder__model=model, finetune__label=label,
                     finetune__max_texts=max_texts, finetune__max_epochs=epochs, finetune__trials=trials)
    run_dir = run_finetune(cfg, parse_time(end, "--end") if end else None, log=console.print)
    report = read_json(run_dir / "finetune.json")
    probe = report["valid"]["probe"]
    metric = "accuracy" if report["label"] == "tier_next" else "R²"
    console.print(f"validation {metric} of a linear probe on {report['examples']['valid_texts']} texts: "
                  f"none {probe['none']:.3f} | frozen {probe['frozen']:.3f} | fine-tuned {probe['fine_tuned']:.3f}")
    console.print(f"model id {report['model_id']}, best {report['search']['best_params']}, {report['seconds']} s")
    print(run_dir / "model")
