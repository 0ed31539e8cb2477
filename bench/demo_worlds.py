"""The demo's spend model against BTYD and persistence on several simulated worlds (issue 12).

`make demo` is one draw of the simulator (seed 7). Its test RMSE is decided by a handful of heavy
spenders (docs/BENCHMARKS.md), so one world cannot say whether a loss to BTYD is the model's or
the draw's. This script builds the same workspace for each simulator seed, as ``make demo`` does
(``powertier generate --users 3000 --days 540 --seed S`` then ``powertier pipeline``, the repo's
``powertier.yaml``), and reads each run's test metrics: the main model, BTYD, persistence and
LightGBM on Y alone, the test mean ratio and the gate's verdict.

    .venv/bin/python bench/demo_worlds.py --seeds 7,1,2,3,4 --out worlds.json

Model quality, not timing: the machine's load does not change the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import cli  # noqa: E402

METRICS = ("mae", "rmse", "r2", "spearman", "gini", "top10_share")
LOWER = ("mae", "rmse")
ROWS = ("main", "btyd", "persistence", "lightgbm Y")


def build_world(seed: int, users: int, days: int, work: Path) -> Path:
    """Generate one world and run every batch stage on it; returns the newest run directory."""
    ws = work / f"world-{seed}"
    cli(ws, "generate", "--users", str(users), "--days", str(days), "--seed", str(seed), "--out", str(ws / "raw"))
    cli(ws, "pipeline", "--raw", str(ws / "raw"))
    runs = sorted(p for p in (ws / "runs").iterdir() if p.is_dir() and not p.is_symlink())
    return runs[-1]


def world_scores(run_dir: Path) -> dict:
    """Test metrics of the main model and its baselines, the mean ratio and the verdict of one run."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    verdict = json.loads((run_dir / "run.json").read_text())["verdict"]
    pp = metrics["purchasing_power"]
    main = pp["lightgbm"][metrics["main_feature_set"]]
    rows = {"main": main, "btyd": pp["btyd"], "persistence": pp["persistence"], "lightgbm Y": pp["lightgbm"]["Y"]}
    scores = {name: {m: float(r[m]) for m in METRICS} | {"ratio": float(r["mean_pred"] / r["mean_true"])}
              for name, r in rows.items()}
    return {"scores": scores, "n_test": int(main["n"]), "passed": bool(verdict["passed"])}


def wins(scores: dict, against: str) -> dict[str, bool]:
    """Per headline metric: whether the main model is at least as good as ``against``."""
    a, b = scores["main"], scores[against]
    return {m: (a[m] <= b[m]) if m in LOWER else (a[m] >= b[m]) for m in METRICS}


def table(worlds: dict[int, dict]) -> str:
    """Markdown: one row per world and model, then the main model's wins against BTYD and persistence."""
    lines = ["| world seed | model | " + " | ".join(METRICS) + " | mean ratio |", "|---|---|" + "---:|" * 7]
    for seed, w in worlds.items():
        for name in ROWS:
            s = w["scores"][name]
            lines.append(f"| {seed} | {name} | " + " | ".join(f"{s[m]:.3f}" for m in METRICS) + f" | {s['ratio']:.3f} |")
    for against in ("btyd", "persistence"):
        counts = {m: sum(wins(w["scores"], against)[m] for w in worlds.values()) for m in METRICS}
        all_six = sum(all(wins(w["scores"], against).values()) for w in worlds.values())
        lines.append(f"| worlds where main >= {against} | | " + " | ".join(str(counts[m]) for m in METRICS)
                     + f" | all six: {all_six} of {len(worlds)} |")
    means = {m: statistics.mean(w["scores"]["main"][m] - w["scores"]["btyd"][m] for w in worlds.values())
             for m in METRICS}
    lines.append("| mean (main − btyd) | | " + " | ".join(f"{means[m]:+.3f}" for m in METRICS) + " | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="7,1,2,3,4", help="simulator seeds, comma-separated (7 is make demo's)")
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--days", type=int, default=540)
    ap.add_argument("--out", type=Path, help="write the per-world JSON here")
    a = ap.parse_args()
    worlds = {}
    with tempfile.TemporaryDirectory(prefix="powertier-worlds-") as tmp:
        for seed in (int(s) for s in a.seeds.split(",")):
            worlds[seed] = world_scores(build_world(seed, a.users, a.days, Path(tmp)))
            print(f"world {seed}: {worlds[seed]['scores']['main']['rmse']:.1f} rmse against btyd "
                  f"{worlds[seed]['scores']['btyd']['rmse']:.1f}, gate passed: {worlds[seed]['passed']}",
                  file=sys.stderr)
    if a.out:
        a.out.write_text(json.dumps(worlds, indent=1))
    print(table(worlds))


if __name__ == "__main__":
    main()
