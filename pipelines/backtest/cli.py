"""Stage 'backtest': point-in-time backtests over a range of cutoffs (see docs/BACKTEST.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipelines.common.cli import ConfigOpt, console, get_config, progress_display
from pipelines.common.errors import UserError

if TYPE_CHECKING:
    pass


def backtest(
    start: Annotated[str, typer.Option("--start", help="First cutoff (UTC), e.g. 2025-09-01.")],
    end: Annotated[str, typer.Option("--end", help="Last cutoff (UTC); its outcome window must have closed.")],
    every: Annotated[str, typer.Option("--every", help="Spacing of the cutoffs, e.g. 30d.")] = "30d",
    horizon: Annotated[str | None, typer.Option("--horizon", help="Horizon H, e.g. 90d.", show_default="config")] = None,
    trials: Annotated[int | None,
                      typer.Option("--trials", min=0, help="Optuna trials per model.", show_default="config")] = None,
    config: ConfigOpt = None,
) -> None:
    """At each cutoff: train on examples whose labels were known by then, score every user signed up
    by then, evaluate against what happened in (c, c + H]. Writes <data dir>/backtests/<id>/."""
    from pipelines.storage import feast_store
    from pipelines.backtest.job import run_backtest, save_backtest
    from pipelines.common.times import parse_days, parse_time
    from pipelines.backtest.leak_guard import LeakageError

    cfg = get_config(config, horizon_days=parse_days(horizon) if horizon else None, train__trials=trials)
    first, last, every_days = parse_time(start, "--start"), parse_time(end, "--end"), parse_days(every)
    try:
        with progress_display() as progress:
            out = run_backtest(cfg, feast_store.open_store(cfg), first, last, every_days, log=console.print,
                               progress=progress)
    except LeakageError as exc:
        raise UserError(str(exc)) from exc
    args = {"start": first.isoformat(), "end": last.isoformat(), "every_days": every_days,
            "horizon_days": cfg.horizon_days, "trials": cfg.train.trials}
    path = save_backtest(cfg, out, args)
    print_summary(out["summaries"], out["timings"], cfg.train.trials)
    print_losses(out["losses"], out["rule"])
    console.print(f"report: {path / 'report.html'}")


def print_summary(summaries: list[dict[str, Any]], timings: dict[str, float], trials: int) -> None:
    """Per cutoff: counts and model vs persistence and BTYD; then when the model should have been retrained."""
    from rich.table import Table

    table = Table(title=f"backtest (trials={trials}): LightGBM vs persistence and BTYD on scored users")
    for name in ("cutoff", "n_train", "n_scored", "pp gini", "persist.", "BTYD", "pp rmse", "persist.", "BTYD",
                 "pred/true", "tier qwk", "persist.", "max PSI"):
        table.add_column(name, justify="left" if name == "cutoff" else "right")
    for s in summaries:
        table.add_row(s["cutoff"][:10], f"{s['n_train']:,}", f"{s['n_scored']:,}",
                      *(_num(s.get(k)) for k in ("pp_gini", "pp_gini_persistence", "pp_gini_btyd", "pp_rmse",
                                                 "pp_rmse_persistence", "pp_rmse_btyd", "pp_mean_ratio", "tier_qwk",
                                                 "tier_qwk_persistence", "max_feature_psi")))
    console.print(table)
    for s in summaries:
        if s["retrain"]:
            console.print(f"[yellow]retrain advised at {s['cutoff'][:10]}:[/] " + "; ".join(s["retrain"]))
    if not any(s["retrain"] for s in summaries):
        console.print("no drift or metric drop above the thresholds: no retrain needed within this range")
    console.print(f"retrieval {timings['retrieval_s']:.1f} s, fitting {timings['fit_s']:.1f} s, "
                  f"scoring {timings['score_s']:.1f} s, total {timings['total_s']:.1f} s")


def print_losses(losses: list[str], rule: str) -> None:
    """Say plainly where the main spend model lost to a baseline over the cutoffs, by train's rule."""
    from pipelines.backtest.verdicts import NEVER_LOST

    if not losses:
        console.print(NEVER_LOST)
        return
    console.print(f"[bold yellow]The main spend model loses to a baseline ({rule}):[/]")
    for line in losses:
        console.print(f"  [yellow]{line}[/]")


def _num(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"
