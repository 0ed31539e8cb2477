"""The backtest's verdicts (pure: metrics in, plain dicts and sentences out): at each cutoff the main
spend model against persistence, both BTYD baselines and the linear reference by ``train``'s rule
(:mod:`ranking.gate`), and over all cutoffs the losses said plainly, so a backtest that loses to a
baseline says so as ``train`` does."""

from __future__ import annotations

from typing import Any

from ranking import btyd
from ranking.gate import HEADLINE, GateRule, verdict

BASELINES = ("persistence", "btyd", "linear")
NEVER_LOST = "the main spend model is at least as good as every baseline at every cutoff"


def cutoff_verdict(pp: dict[str, dict[str, Any]], feature_set: str, rule: GateRule) -> dict[str, Any] | None:
    """``pp``: one cutoff's purchasing-power metrics by model kind. The main LightGBM model's verdict
    against each baseline present (a skipped one is listed, not compared); None without a main model."""
    main = pp.get("lightgbm")
    if not main or "skipped" in main:
        return None
    baselines = {name: m for name, m in pp.items() if name in BASELINES or btyd.is_baseline(name)}
    return verdict(f"lightgbm {feature_set}", main, baselines, rule).to_dict()


def _lost_counts(verdicts: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """{baseline: {headline metric: cutoffs at which the main model lost it}}, in headline order."""
    lost: dict[str, dict[str, int]] = {}
    for v in verdicts:
        for name, c in v["baselines"].items():
            for metric in c.get("losses", []):
                lost.setdefault(name, dict.fromkeys(HEADLINE, 0))[metric] += 1
    return {name: {m: k for m, k in counts.items() if k} for name, counts in lost.items()}


def plain_losses(cutoffs: list[str], verdicts: list[dict[str, Any] | None], rule: GateRule) -> list[str]:
    """One sentence per baseline the main model lost to at some cutoff (each metric with its count
    of cutoffs), one for mean ratios outside the rule's range, and one for the cutoffs whose model
    ``train``'s promotion gate would refuse. Empty when it never lost (then say :data:`NEVER_LOST`)."""
    judged = [(c[:10], v) for c, v in zip(cutoffs, verdicts) if v is not None]
    if not judged:
        return []
    n, main = len(judged), judged[0][1]["main"]
    lines = [f"{main} loses to {name} on " + ", ".join(f"{m} at {k} of {n} cutoffs" for m, k in counts.items())
             for name, counts in _lost_counts([v for _, v in judged]).items()]
    lo, hi = rule.ratio_range
    off = [(c, v["mean_ratio"]) for c, v in judged if v["mean_ratio"] is None or not lo <= v["mean_ratio"] <= hi]
    if off:
        lines.append(f"mean prediction / mean truth outside [{lo:g}, {hi:g}] at {len(off)} of {n} cutoffs: "
                     + ", ".join(f"{c} {'–' if r is None else f'{r:.3f}'}" for c, r in off))
    refused = [c for c, v in judged if not v["passed"]]
    if refused:
        lines.append(f"train's promotion gate would refuse the model of {len(refused)} of {n} cutoffs "
                     f"({', '.join(refused)})")
    return lines
