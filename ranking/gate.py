"""The honest verdict of a run and its promotion gate (pure: metrics in, plain dicts out).

The verdict compares the main purchasing-power model with every baseline of the run on every
headline metric and lists each loss; the gate is a declared rule over that comparison deciding
whether ``runs/latest`` may move to the run. Both are JSON-able and stored in ``run.json``, so run
management (list/show/compare/promote) reuses them without recomputing anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ranking import btyd

# Headline purchasing-power metrics and whether higher is better.
HEADLINE: dict[str, bool] = {"mae": False, "rmse": False, "r2": True, "spearman": True, "gini": True,
                             "top10_share": True}
MEAN_RATIO = "mean_ratio"


@dataclass(frozen=True)
class GateRule:
    """Promote when, against each of ``baselines`` present in the run, the main model is at least as
    good on ``min_wins`` of the headline metrics, and its mean prediction / mean truth on the test
    split lies in ``ratio_range``."""

    baselines: tuple[str, ...] = ("persistence", "btyd")
    min_wins: int = 4
    ratio_range: tuple[float, float] = (0.8, 1.25)

    @classmethod
    def from_config(cls, cfg: Any) -> "GateRule":
        """The rule of a PowerTierConfig's ``train`` section (duck-typed)."""
        t = cfg.train
        return cls(tuple(t.gate_baselines), int(t.gate_min_wins), tuple(t.gate_ratio_range))

    def describe(self) -> str:
        """The rule in one sentence (printed by ``train`` and the report)."""
        lo, hi = self.ratio_range
        return (f"promote if, against each of {', '.join(self.baselines)}, the main model is at least as good on "
                f">= {self.min_wins} of the {len(HEADLINE)} headline metrics ({', '.join(HEADLINE)}), and "
                f"mean prediction / mean truth is within [{lo:g}, {hi:g}]")


@dataclass
class Verdict:
    """Main model vs baselines: per-baseline wins/losses, the losses spelled out, and the gate."""

    main: str
    rule: str
    mean_ratio: float | None
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    losses: list[str] = field(default_factory=list)
    passed: bool = False
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_ratio(m: dict[str, Any]) -> float | None:
    """Mean prediction / mean truth (None when undefined)."""
    pred, true = m.get("mean_pred"), m.get("mean_true")
    return pred / true if pred is not None and true else None


def compare(main: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Per headline metric: main value, baseline value, and whether main is at least as good."""
    out: dict[str, Any] = {"metrics": {}, "wins": 0, "losses": [], "compared": 0}
    for name, higher in HEADLINE.items():
        a, b = main.get(name), baseline.get(name)
        if a is None or b is None:
            continue
        ok = a >= b if higher else a <= b
        out["metrics"][name] = {"main": a, "baseline": b, "main_at_least_as_good": ok}
        out["compared"] += 1
        out["wins"] += int(ok)
        if not ok:
            out["losses"].append(name)
    return out


def verdict(main_name: str, main: dict[str, Any], baselines: dict[str, dict[str, Any]],
            rule: GateRule = GateRule()) -> Verdict:
    """Compare ``main`` (test metrics) with each baseline's and apply ``rule``.

    ``baselines`` maps a name (persistence, btyd, lightgbm Y, linear XY, ...) to its metrics; a
    baseline given as ``{"skipped": why}`` is listed but not compared."""
    ratio = mean_ratio(main)
    out = Verdict(main=main_name, rule=rule.describe(), mean_ratio=ratio)
    for name, m in baselines.items():
        if "skipped" in m or not m.get("n"):
            out.baselines[name] = {"skipped": m.get("skipped", "no test rows")}
            continue
        c = compare(main, m)
        c["mean_ratio"] = mean_ratio(m)
        out.baselines[name] = c
        out.losses += [f"{main_name} loses to {name} on {k}: {c['metrics'][k]['main']:.4g} vs "
                       f"{c['metrics'][k]['baseline']:.4g}" for k in c["losses"]]
    out.passed, out.reasons = apply_gate(out, rule)
    return out


def apply_gate(v: Verdict, rule: GateRule) -> tuple[bool, list[str]]:
    """(passed, reasons it failed) of ``rule`` on a verdict; a gated baseline absent from the run is
    noted but does not block (a workspace without orders history has no BTYD baseline)."""
    reasons = []
    lo, hi = rule.ratio_range
    if v.mean_ratio is None or not lo <= v.mean_ratio <= hi:
        reasons.append(f"mean prediction / mean truth {v.mean_ratio if v.mean_ratio is None else round(v.mean_ratio, 3)}"
                       f" outside [{lo:g}, {hi:g}]")
    for name in rule.baselines:
        c = v.baselines.get(name)
        if c is None or "skipped" in c:
            continue
        need = min(rule.min_wins, c["compared"])
        if c["wins"] < need:
            reasons.append(f"at least as good as {name} on only {c['wins']} of {c['compared']} headline metrics "
                           f"(needs {need}); loses on {', '.join(c['losses'])}")
    return not reasons, reasons


def should_promote(v: Verdict | dict[str, Any], promote: str) -> bool:
    """``promote``: ``gate`` (move latest only if the gate passed), ``always`` or ``never``."""
    if promote not in ("gate", "always", "never"):
        raise ValueError(f"promote must be 'gate', 'always' or 'never', got {promote!r}")
    passed = v.passed if isinstance(v, Verdict) else bool(v["passed"])
    return promote == "always" or (promote == "gate" and passed)


TIER_HEADLINE = ("qwk", "macro_f1", "accuracy")


def run_verdict(metrics: dict[str, Any], rule: GateRule = GateRule()) -> Verdict:
    """The verdict of a run from its ``metrics.json``: the main LightGBM purchasing-power model
    against persistence, every BTYD baseline, the other LightGBM feature sets and every linear
    reference; the tier model's losses to persistence are listed too (they do not enter the gate)."""
    fs = metrics["main_feature_set"]
    pp = metrics["purchasing_power"]
    baselines = {name: pp[name] for name in ("persistence", *btyd.run_baselines(metrics)) if name in pp}
    baselines.update({f"lightgbm {other}": m for other, m in pp["lightgbm"].items() if other != fs})
    baselines.update({f"linear {other}": m for other, m in pp.get("linear", {}).items()})
    out = verdict(f"lightgbm {fs}", pp["lightgbm"][fs], baselines, rule)
    tier_main, tier_base = metrics.get("tier", {}).get("lightgbm", {}).get(fs, {}), metrics.get("tier", {}).get(
        "persistence", {})
    for name in TIER_HEADLINE:
        a, b = tier_main.get(name), tier_base.get(name)
        if a is not None and b is not None and a < b:
            out.losses.append(f"tier lightgbm {fs} loses to persistence on {name}: {a:.4g} vs {b:.4g}")
    return out
