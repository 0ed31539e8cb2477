"""PowerTier vs BG/NBD x Gamma-Gamma on the real CDNOW sample, through the real CLI.

Classic protocol (Fader, Hardie & Lee 2005): calibration 1997-01-01..1997-09-30, a 39-week
(273-day) holdout. The 2,357 customers' transactions become a raw dir (users + completed orders,
no texts, no tiers), then ``powertier ingest -> features build -> features apply -> train --split
user`` with one cutoff at 1997-09-30 and horizon 273d, once per seed (a different user split each
time). Every run's test users are scored by

* PowerTier's main model (``purchasing_power_pred`` of ``predictions.parquet``);
* the two BTYD baselines inside the run, fitted on the training users' rows: BG/NBD x GG
  (``btyd_in_run``, the inputs' model) and Pareto/NBD x GG (``pareto_nbd_in_run``);
* a reference BG/NBD x GG fitted, as published, on the calibration data of all 2,357 customers
  (no labels needed) and scored on the same test users, and the same with Pareto/NBD x GG (the other
  classic purchase model, CLVTools' first; ``pareto_nbd_reference``);
* persistence (spend in the last 273 days, the horizon length: the workspace's feature windows get
  a 273-day window, so the run itself scores its persistence baseline).

Prints one JSON document (per-split metrics, mean and standard deviation over splits) and a
Markdown table for docs/BENCHMARKS.md. Quick check: ``--splits 1 --trials 0``; the protocol:

    .venv/bin/python bench/cdnow.py --splits 5 --trials 4 --out cdnow.json

``--cutoffs`` trains on more cutoffs of the same training users (each with its own 273-day label
window); every model is still scored on the test users' rows at the calibration end only, so the
test set is the protocol's. The candidates' rows are then left out: the run scores them on all of
its test rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import REPO, cli  # noqa: E402
from pipelines.common.errors import UserError  # noqa: E402
from pipelines.common.times import parse_time, parse_time_list  # noqa: E402
from ranking.btyd import PURCHASE_MODELS, BTYDSpend, calibration_summary  # noqa: E402
from ranking.metrics import regression_metrics  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = "1997-09-30"
HORIZON_DAYS = 273  # 39 weeks
WINDOWS_DAYS = [7, 30, 90, HORIZON_DAYS, 365]  # the horizon-length window is the persistence baseline
METRICS = ("mae", "rmse", "r2", "spearman", "gini", "top10_share", "mean_ratio")
HIGHER = {"mae": False, "rmse": False, "r2": True, "spearman": True, "gini": True, "top10_share": True}


def read_cdnow(path: Path = DATA) -> pd.DataFrame:
    """customer, ts (UTC midnight), dollars; a clear error when the shared data is missing."""
    if not path.is_file():
        raise SystemExit(f"CDNOW sample missing: {path} (expected ../shared/data beside the repo root)")
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=["customer", "sample", "date", "cds", "dollars"],
                      dtype={"customer": str, "date": str})
    raw["ts"] = pd.to_datetime(raw["date"], format="%Y%m%d", utc=True)
    return raw[["customer", "ts", "dollars"]]


def write_raw(log: pd.DataFrame, raw_dir: Path) -> None:
    """The raw-data contract: users (signup = first purchase day) and completed orders."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    users = log.groupby("customer", as_index=False)["ts"].min().rename(columns={"customer": "user_id",
                                                                               "ts": "signup_ts"})
    users.to_csv(raw_dir / "users.csv", index=False)
    orders = pd.DataFrame({"order_id": [f"o{i}" for i in range(len(log))], "user_id": log["customer"],
                           "ts": log["ts"], "amount": log["dollars"], "status": "completed"})
    orders.to_csv(raw_dir / "orders.csv", index=False)


REFERENCES = {"btyd_reference": "bgnbd", "pareto_nbd_reference": "pareto_nbd"}


def reference_btyd(log: pd.DataFrame, purchases: str = "bgnbd") -> pd.Series:
    """Expected spend in the 39-week holdout by BG/NBD (or Pareto/NBD) x GG fitted on every customer's
    calibration data."""
    ids, stats = calibration_summary(log["customer"].to_numpy(), log["ts"].dt.tz_localize(None).to_numpy(),
                                     log["dollars"].to_numpy(), np.datetime64(CALIBRATION_END), unit_days=7)
    model = BTYDSpend(horizon=HORIZON_DAYS / 7, purchases=purchases).fit(stats)
    return pd.Series(model.predict(stats), index=ids)


def score_split(run_dir: Path, references: dict[str, pd.Series]) -> dict[str, dict]:
    """Metrics of every model on the run's test users (plus mean prediction / mean truth)."""
    preds = protocol_rows(pd.read_parquet(run_dir / "predictions.parquet"))
    y = preds["purchasing_power_true"].to_numpy(float)
    users = preds["user_id"].astype(str)
    models = {"powertier": preds["purchasing_power_pred"],
              **{name: ref.reindex(users).to_numpy() for name, ref in references.items()}}
    # The run's own baselines: its inputs' BTYD, the other purchase model's BTYD (``<model>_in_run``), persistence.
    in_run = {"purchasing_power_btyd": "btyd_in_run", "purchasing_power_persistence": "persistence",
              **{f"purchasing_power_btyd_{m}": f"{m}_in_run" for m in PURCHASE_MODELS}}
    models.update({name: preds[col] for col, name in in_run.items() if col in preds})
    out = {}
    for name, p in models.items():
        m = regression_metrics(y, np.asarray(p, dtype=float))
        m["mean_ratio"] = m["mean_pred"] / m["mean_true"] if m["mean_true"] else None
        out[name] = m
    run_json = json.loads((run_dir / "run.json").read_text())
    if len(run_json["cutoffs"]) == 1:
        out.update(candidate_scores(run_dir))  # the run scored them on the same rows
    out["verdict"] = run_json.get("verdict")
    out["selected"] = selected_candidate(run_dir)
    return out


def protocol_rows(preds: pd.DataFrame) -> pd.DataFrame:
    """The test rows at the calibration end (the protocol's test set, whatever the training cutoffs)."""
    ts = pd.to_datetime(preds["event_timestamp"], utc=True)
    rows = preds[ts == parse_time(CALIBRATION_END, "calibration end")].reset_index(drop=True)
    if rows.empty:
        raise SystemExit(f"no test rows at the calibration end {CALIBRATION_END}: --cutoffs must include it")
    return rows


def candidate_scores(run_dir: Path) -> dict[str, dict]:
    """Test metrics of every spend candidate the run fitted (each at its validation-chosen variant)."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    block = metrics["purchasing_power"]["lightgbm"][metrics["main_feature_set"]]
    out = {}
    for name, cand in block.get("objectives", {}).items():
        m = dict(cand["test"])
        m["mean_ratio"] = m["mean_pred"] / m["mean_true"] if m.get("mean_true") else None
        out[f"candidate {name}"] = m
    return out


def selected_candidate(run_dir: Path) -> dict:
    """The spend candidate the run's declared rule chose (objective, BTYD blend weight, sharpening)."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    block = metrics["purchasing_power"]["lightgbm"][metrics["main_feature_set"]]
    chosen = block.get("objectives", {}).get(block.get("objective"), {})
    return {"objective": block.get("objective"), "btyd_blend_weight": chosen.get("btyd_blend_weight"),
            "p_buy_sharpen": chosen.get("p_buy_sharpen"), "mean_scale": chosen.get("mean_scale")}


def summarise(splits: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean and standard deviation over splits of each metric of each model."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for model in splits[0]:
        if model in ("verdict", "selected"):
            continue
        out[model] = {}
        for metric in METRICS:
            values = [s[model][metric] for s in splits if s[model].get(metric) is not None]
            if values:
                out[model][metric] = {"mean": statistics.fmean(values),
                                      "sd": statistics.stdev(values) if len(values) > 1 else 0.0}
    return out


def beats(summary: dict, a: str, b: str) -> dict[str, bool]:
    """Whether model ``a``'s mean is better than ``b``'s on each of the six headline metrics."""
    return {k: (summary[a][k]["mean"] > summary[b][k]["mean"]) == HIGHER[k] for k in HIGHER}


def markdown(summary: dict, n_splits: int) -> str:
    """The table for docs/BENCHMARKS.md: mean ± sd over user splits."""
    head = "| model | " + " | ".join(METRICS) + " |\n|---|" + "---|" * len(METRICS)
    rows = [f"| {model} | " + " | ".join(f"{m[k]['mean']:.3f} ± {m[k]['sd']:.3f}" if k in m else "–"
                                          for k in METRICS) + " |" for model, m in summary.items()]
    return f"CDNOW sample, {n_splits} user splits, 39-week horizon\n\n" + "\n".join([head, *rows])


def check_cutoffs(cutoffs: str) -> None:
    """Training cutoffs must end at the calibration end: a later one's label window runs past the data."""
    try:
        cuts = parse_time_list(cutoffs, "--cutoffs")
    except UserError as exc:
        raise SystemExit(str(exc)) from None
    end = parse_time(CALIBRATION_END, "calibration end")
    if not cuts or max(cuts) != end:
        raise SystemExit(f"--cutoffs must end at the calibration end {CALIBRATION_END} (got {cutoffs!r})")


def run(splits: int, trials: int, work: Path, first_seed: int, cutoffs: str = CALIBRATION_END) -> dict:
    """ingest -> features -> train per seed (on ``cutoffs``, comma-separated); score every split."""
    check_cutoffs(cutoffs)
    os.environ["POWERTIER_FEATURES__WINDOWS_DAYS"] = json.dumps(WINDOWS_DAYS)  # inherited by every CLI child
    log = read_cdnow()
    raw = work / "raw"
    write_raw(log, raw)
    ws = work / "ws"
    cli(ws, "ingest", "--raw", str(raw))
    cli(ws, "features", "build")
    cli(ws, "features", "apply")
    references = {name: reference_btyd(log, purchases) for name, purchases in REFERENCES.items()}
    results = []
    for seed in range(first_seed, first_seed + splits):
        before = set((ws / "runs").glob("*")) if (ws / "runs").exists() else set()
        cli(ws, "train", "--cutoffs", cutoffs, "--horizon", f"{HORIZON_DAYS}d", "--split", "user",
            "--seed", str(seed), "--trials", str(trials), "--promote", "never")
        run_dir = next(p for p in (ws / "runs").glob("*") if p not in before and p.name != "latest")
        results.append({"seed": seed, **score_split(run_dir, references)})
    per_split = [{k: v for k, v in r.items() if k != "seed"} for r in results]
    summary = summarise(per_split)
    return {"splits": results, "summary": summary,
            "powertier_beats_btyd_reference": beats(summary, "powertier", "btyd_reference"),
            "powertier_beats_pareto_nbd_reference": beats(summary, "powertier", "pareto_nbd_reference"),
            "markdown": markdown(summary, splits)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splits", type=int, default=5, help="user splits (seeds)")
    ap.add_argument("--trials", type=int, default=4, help="Optuna trials per LightGBM model")
    ap.add_argument("--seed", type=int, default=1, help="first seed")
    ap.add_argument("--work", type=Path, help="work dir (default: a temporary one)")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--cutoffs", default=CALIBRATION_END,
                    help="training cutoffs, comma-separated, ending at the calibration end")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="powertier-cdnow-") as tmp:
        result = run(args.splits, args.trials, args.work or Path(tmp), args.seed, args.cutoffs)
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        args.out.write_text(text)
    print(text)
    print(result["markdown"])


if __name__ == "__main__":
    main()
