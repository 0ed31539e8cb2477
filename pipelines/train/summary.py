"""Terminal summary of a training run: the ablation table and the new-user segment."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from pipelines.common.cli import console

PP_COLS = ("gini", "spearman", "rmse", "top10_share")
TIER_COLS = ("qwk", "accuracy", "macro_f1")


def _fmt(block: dict[str, Any], key: str) -> str:
    value = block.get(key) if isinstance(block, dict) else None
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def ablation_rows(metrics: dict[str, Any]) -> list[tuple[str, dict, dict]]:
    """(label, purchasing-power metrics, tier metrics) for every model x feature set + persistence."""
    pp, tier = metrics["purchasing_power"], metrics["tier"]
    rows = [(f"{kind} {fs}", pp[kind].get(fs, {}), tier.get(kind, {}).get(fs, {}))
            for kind in ("lightgbm", "linear") for fs in ("XY", "Y", "X")]
    rows.append(("persistence", pp.get("persistence", {}), tier.get("persistence", {})))
    return rows


def _tenure_ablation(metrics: dict[str, Any]) -> dict[str, dict[str, tuple[dict, dict]]]:
    """{segment value: {feature set: (pp metrics, tier metrics)}} of the LightGBM ablations."""
    out: dict[str, dict[str, tuple[dict, dict]]] = {}
    for fs, cols in metrics.get("segments_by_feature_set", {}).items():
        for value, seg in cols.get("tenure", {}).items():
            out.setdefault(value, {})[fs] = (seg.get("purchasing_power", {}).get("lightgbm", {}),
                                             seg.get("tier", {}).get("lightgbm", {}))
    return out


def print_ablations(metrics: dict[str, Any], summary: dict[str, Any]) -> None:
    """Print the ablation table on the test split, then the new-user segment of the main model."""
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
    for note in summary.get("notes", []):
        console.print(f"  note: {note}")
