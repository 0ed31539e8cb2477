"""Stages ``train``, ``predict`` and ``score``: labels -> Feast retrieval -> fit/evaluate -> run dir;
batch predictions from a run dir; scores written back to Feast as ``user_predictions``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.common.cli import ConfigOpt, console, get_config, progress_display

RunOpt = Annotated[Path | None, typer.Option("--run", help="Run dir.", show_default="the promoted run, <data dir>/runs/latest")]
CONFIG = "from the config"


class Split(str, Enum):
    time = "time"
    user = "user"


class Promote(str, Enum):
    gate = "gate"
    always = "always"
    never = "never"


def train(cutoffs: Annotated[str | None, typer.Option(
              help="Comma-separated training cutoffs (ISO dates).",
              show_default="train.n_cutoffs cutoffs, train.every_days apart, ending one horizon before as_of")] = None,
          start: Annotated[str | None, typer.Option(help="First cutoff (ISO date); with --end instead of --cutoffs.",
                                                    show_default="see --cutoffs")] = None,
          end: Annotated[str | None, typer.Option(help="Last cutoff (ISO date).", show_default="see --cutoffs")] = None,
          every: Annotated[str, typer.Option(help="Cutoff spacing with --start/--end, e.g. 30d.")] = "30d",
          horizon: Annotated[str | None, typer.Option(help="Prediction horizon H, e.g. 90d.",
                                                      show_default="horizon_days " + CONFIG)] = None,
          split: Annotated[Split | None, typer.Option(help="Hold out the latest cutoffs (time) or whole users (user).",
                                                      show_default="train.split " + CONFIG)] = None,
          test_fraction: Annotated[float | None, typer.Option(help="Share of cutoffs/users for test.",
                                                              show_default="train.test_fraction " + CONFIG)] = None,
          trials: Annotated[int | None, typer.Option(help="Optuna trials per LightGBM model.",
                                                     show_default="train.trials " + CONFIG)] = None,
          seed: Annotated[int | None, typer.Option(help="Random seed.", show_default="seed " + CONFIG)] = None,
          promote: Annotated[Promote | None, typer.Option(
              help="gate: move runs/latest only if the run passes the gate; always; never.",
              show_default="train.promote " + CONFIG)] = None,
          config: ConfigOpt = None) -> None:
    """Train the two-stage model; prints the run directory as its last line."""
    from pipelines.common.times import parse_as_of, parse_days
    from pipelines.train.job import train_run

    cfg = get_config(config, seed=seed, horizon_days=parse_days(horizon) if horizon else None,
                     train__split=split.value if split else None, train__test_fraction=test_fraction,
                     train__trials=trials, train__promote=promote.value if promote else None)
    with progress_display() as progress:
        run_dir = train_run(cfg, cutoffs, parse_as_of(start, "--start"), parse_as_of(end, "--end"),
                            parse_days(every), log=console.print, progress=progress)
    print_run(run_dir)
    print(run_dir)


def print_run(run_dir: Path) -> None:
    """The ablation table, segments and notes of a finished run, then where its report is."""
    from pipelines.storage.files import read_json

    run = read_json(run_dir / "run.json")
    print_ablations(read_json(run_dir / "metrics.json"), run.get("notes", []))
    if run.get("verdict"):
        print_verdict(run["verdict"])
    console.print(f"report: {run_dir / 'report.html'}")


def predict(entities: Annotated[Path, typer.Option(help="Parquet/CSV with user_id, event_timestamp.")],
            out: Annotated[Path, typer.Option(help="Output Parquet or CSV.")],
            run: RunOpt = None, config: ConfigOpt = None) -> None:
    """Batch predictions with reasons for (user_id, event_timestamp) rows."""
    from pipelines.features.job import read_table, write_table
    from pipelines.train.job import batch_predict

    cfg = get_config(config)
    result = batch_predict(cfg, run, read_table(entities))
    write_table(result, out)
    console.print(f"{len(result):,} predictions -> {out}")


def score(run: RunOpt = None,
          as_of: Annotated[str | None, typer.Option("--as-of", help="Scoring time (ISO date/time).",
                                                    show_default="as_of, else the latest curated event")] = None,
          config: ConfigOpt = None) -> None:
    """Score every user active in the last year and publish to the Feast view user_predictions."""
    from pipelines.common.times import parse_as_of
    from pipelines.train.job import score_users

    cfg = get_config(config)
    n, when, run_id = score_users(cfg, run, parse_as_of(as_of))
    console.print(f"scored {n:,} users as of {when.isoformat()} with run {run_id}; "
                  f"materialized to the online view user_predictions")


# -- terminal summary of a run ------------------------------------------------------------

PP_COLS = ("gini", "spearman", "rmse", "top10_share")
TIER_COLS = ("qwk", "accuracy", "macro_f1")


def _fmt(block: dict[str, Any], key: str) -> str:
    value = block.get(key) if isinstance(block, dict) else None
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def ablation_rows(metrics: dict[str, Any]) -> list[tuple[str, dict, dict]]:
    """(label, purchasing-power metrics, tier metrics) for every model x feature set + persistence."""
    from ranking.btyd import run_baselines

    pp, tier = metrics["purchasing_power"], metrics["tier"]
    rows = [(f"{kind} {fs}", pp[kind].get(fs, {}), tier.get(kind, {}).get(fs, {}))
            for kind in ("lightgbm", "linear") for fs in ("XY", "Y", "X")]
    rows.append(("persistence", pp.get("persistence", {}), tier.get("persistence", {})))
    rows += [(f"{key} ({name.replace(' × Gamma-Gamma', ' x GG')})", pp[key], {})
             for key, name in run_baselines(metrics).items()]
    return rows


def _tenure_ablation(metrics: dict[str, Any]) -> dict[str, dict[str, tuple[dict, dict]]]:
    """{segment value: {feature set: (pp metrics, tier metrics)}} of the LightGBM ablations."""
    out: dict[str, dict[str, tuple[dict, dict]]] = {}
    for fs, cols in metrics.get("segments_by_feature_set", {}).items():
        for value, seg in cols.get("tenure", {}).items():
            out.setdefault(value, {})[fs] = (seg.get("purchasing_power", {}).get("lightgbm", {}),
                                             seg.get("tier", {}).get("lightgbm", {}))
    return out


def print_ablations(metrics: dict[str, Any], notes: list[str]) -> None:
    """Print the ablation table on the test split, then the new-user segment of the main model."""
    from rich.table import Table

    table = Table(title=f"Test split — main model: lightgbm {metrics.get('main_feature_set')}")
    table.add_column("model")
    for c in PP_COLS:
        table.add_column(f"pp {c}", justify="right")
    for c in TIER_COLS:
        table.add_column(f"tier {c}", justify="right")
    for label, pp, tier in ablation_rows(metrics):
        table.add_row(label, *[_fmt(pp, c) for c in PP_COLS], *[_fmt(tier, c) for c in TIER_COLS])
    console.print(table)
    for seg_name, segs in metrics.get("segments", {}).items():
        for value, seg in segs.items():
            pp = seg.get("purchasing_power", {})
            tier = seg.get("tier", {})
            model_pp, base_pp = pp.get("lightgbm", {}), pp.get("persistence", {})
            console.print(f"  segment {seg_name}={value}: pp gini {_fmt(model_pp, 'gini')} "
                          f"(persistence {_fmt(base_pp, 'gini')}), tier qwk {_fmt(tier.get('lightgbm', {}), 'qwk')} "
                          f"(persistence {_fmt(tier.get('persistence', {}), 'qwk')})")
    for value, per_set in _tenure_ablation(metrics).items():
        parts = [f"{fs} gini {_fmt(pp, 'gini')} / qwk {_fmt(tier, 'qwk')}" for fs, (pp, tier) in per_set.items()]
        console.print(f"  tenure={value} users, lightgbm by feature set: " + "; ".join(parts))
    for note in notes:
        console.print(f"  note: {note}")


def print_verdict(verdict: dict[str, Any]) -> None:
    """Say plainly where the main model loses to a baseline, and the gate's rule and outcome."""
    ratio = verdict.get("mean_ratio")
    console.print(f"main model {verdict['main']}: test mean prediction / mean truth = "
                  + (f"{ratio:.3f}" if ratio is not None else "undefined"))
    if verdict["losses"]:
        console.print(f"[bold yellow]The main model loses to a baseline on {len(verdict['losses'])} comparisons:[/]")
        for loss in verdict["losses"]:
            console.print(f"  [yellow]{loss}[/]")
    else:
        console.print("the main model is at least as good as every baseline on every headline metric")
    console.print(f"gate: {verdict['rule']} -> " + ("[green]PASSED[/]" if verdict["passed"] else "[red]FAILED[/]"))
    for reason in verdict["reasons"]:
        console.print(f"  [red]{reason}[/]")
