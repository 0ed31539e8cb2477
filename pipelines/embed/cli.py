"""Command ``powertier embed``: run the embedding job with a progress bar, print its manifest."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipelines.common.cli import ConfigOpt, console, get_config, progress_display
from pipelines.common.config import PowerTierConfig

if TYPE_CHECKING:

    pass



class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


def embed(
    device: Annotated[Device | None, typer.Option("--device", help="auto: CUDA if present, else CPU.",
                                                  show_default="encoder.device from the config")] = None,
    precision: Annotated[Precision | None, typer.Option(
        "--precision", help="auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32.",
        show_default="encoder.precision from the config")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Texts per encoder batch.",
                                                   show_default="encoder.batch_size from the config")] = None,
    model: Annotated[str | None, typer.Option("--model", help="sentence-transformers name or local path.",
                                              show_default="encoder.model from the config")] = None,
    config: ConfigOpt = None,
) -> None:
    """Clean review/search texts, encode each distinct one once (cached), write user profiles X."""
    cfg = get_config(config, encoder__device=device.value if device else None,
                     encoder__precision=precision.value if precision else None,
                     encoder__batch_size=batch_size, encoder__model=model)
    manifest = run_with_progress(cfg)
    print_summary(manifest)


def run_with_progress(cfg: PowerTierConfig) -> dict[str, Any]:
    """The embedding job under the shared progress display (model load, then texts encoded)."""
    from pipelines.embed.job import run_embed

    with progress_display() as progress:
        return run_embed(cfg, progress=progress)


def print_summary(manifest: dict[str, Any]) -> None:
    """A rich table of what happened to the texts, then model/device/time on one line."""
    from rich.table import Table

    table = Table(title="powertier embed")
    table.add_column("")
    for t in manifest["tables"]:
        table.add_column(t, justify="right")
    table.add_column("total", justify="right")
    rows = [("texts in", ("texts_in",)), ("kept", ("kept",))]
    rows += [(f"dropped: {r}", ("dropped", r)) for r in manifest["dropped"]]
    rows += [(f"flagged: {r}", ("flagged", r)) for r in manifest["flagged"]]
    rows += [(f"PII placeholders: {k}", ("pii_redactions", k)) for k in manifest["pii_redactions"]]
    rows += [("distinct texts", ("distinct_texts",)), ("cache hits", ("cache_hits",)), ("encoded", ("encoded",))]
    for label, path in rows:
        cells = [_dig(stats, path) for stats in manifest["tables"].values()] + [_dig(manifest, path)]
        table.add_row(label, *[f"{c:,}" for c in cells])
    console.print(table)
    for note in manifest["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    views = ", ".join(f"{v} {p['rows']:,} rows / {p['users']:,} users" for v, p in manifest["profiles"].items())
    console.print(f"profiles: {views}")
    tags = manifest.get("tags")
    if tags:
        console.print(f"tags: {tags['view']} {tags['rows']:,} rows / {tags['users']:,} users, {len(tags['names'])} tags "
                      f"({tags['phrases_encoded']:,} prototype encodings new)")
    rate = manifest["encoded"] / max(manifest["seconds"], 1e-9)
    console.print(f"model {manifest['model']} (dim {manifest['dim']}) on {manifest['device']}"
                  f"{' ' + manifest['precision'] if manifest['precision'] else ''}, batch {manifest['batch_size']}: "
                  f"{manifest['seconds']:.1f} s ({rate:.0f} encoded texts/s)")


def _dig(d: dict[str, Any], path: tuple[str, ...]) -> int:
    for key in path:
        d = d[key]
    return int(d)  # type: ignore[arg-type]
