"""The time split's mean calibration across seasons: the scale each test cutoff got from its
validation cutoff against the scale it needed (issue 12, docs/BENCHMARKS.md).

On a trained workspace (``make demo``), the training frame of ``powertier train`` (its monthly
cutoffs) is retrieved once. Each cutoff t from ``--from`` on is then a test cutoff, as a backtest
would make it: the model is fitted as ``powertier backtest`` fits it on the cutoffs whose labels
closed by t (the latest of them validates, ``pipelines.backtest.job.train_valid``). Per ensemble
member it prints the validation scale it applied, the scale that would have made its test mean
equal the truth (``needed``) and its training rows' in-sample scale; then the ensemble's test
MAE / RMSE / R² and mean ratio as fitted, rescaled to the true mean (an oracle, for diagnosis
only), and BTYD's. ``--validation latest,purged`` adds, interleaved at each cutoff, a fit trained
only on the cutoffs whose labels closed by the validation cutoff (no training label overlaps the
validation window, as none overlaps the test window), to see whether the scale then transfers.

    .venv/bin/python bench/time_calibration.py --workspace data --trials 1 --validation latest,purged

Model quality, not timing: the machine's load does not change the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
MEMBERS = ("ziln", "tweedie")


def frame_and_params(workspace: Path, trials: int) -> tuple[pd.DataFrame, list[str], object, int]:
    """The training frame of every default cutoff, its feature columns, the parameters, H."""
    from pipelines.common.config import load_config
    from pipelines.common.workspace import Workspace
    from pipelines.features.frames import data_as_of, default_cutoffs, drop_empty_views, training_frame
    from pipelines.storage import feast_store
    from pipelines.storage.curated import load_curated
    from ranking.params import TrainParams

    cfg = load_config(data_dir=workspace)
    cuts = default_cutoffs(cfg, data_as_of(cfg, load_curated(Workspace(cfg.data_dir))))
    frame, features = training_frame(cfg, feast_store.open_store(cfg), cuts, cfg.horizon_days)
    features, _ = drop_empty_views(frame, features)
    return frame, features, dataclasses.replace(TrainParams.from_config(cfg), trials=trials), cfg.horizon_days


def split_pool(pool: pd.DataFrame, p, horizon: int, validation: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, valid): the backtest's split (the latest cutoff validates), or ``purged`` (train only
    on cutoffs whose label windows closed by the validation cutoff)."""
    from pipelines.backtest.job import train_valid

    if validation == "latest":
        return train_valid(pool, p)
    ts = pool["event_timestamp"]
    v = ts.max()
    return pool[ts <= v - pd.Timedelta(days=horizon)].reset_index(drop=True), pool[ts == v].reset_index(drop=True)


def one_cutoff(frame: pd.DataFrame, features: list[str], p, horizon: int, t: pd.Timestamp,
               validation: str = "latest") -> dict:
    """Fit on the cutoffs whose labels closed by ``t``; the scales and the test metrics at ``t``."""
    from ranking.evaluation import btyd_predictions
    from ranking.metrics import regression_metrics
    from ranking.model import fit_two_stage, pp_labels

    ts = frame["event_timestamp"]
    train, valid = split_pool(frame[ts <= t - pd.Timedelta(days=horizon)].reset_index(drop=True), p, horizon, validation)
    scored = frame[ts == t].reset_index(drop=True)
    model = fit_two_stage(train, valid, p, features)
    y, ytr = pp_labels(scored), pp_labels(train)
    keep, keep_tr = ~np.isnan(y), ~np.isnan(ytr)
    Z, Ztr, y, ytr = model.design(scored)[keep], model.design(train)[keep_tr], y[keep], ytr[keep_tr]
    row = {"test": t.date(), "valid": valid["event_timestamp"].max().date(), "validation": validation,
           "cutoffs": train["event_timestamp"].nunique(), "season": model.pp_info_["tweedie"].get("season") is not None}
    for o in MEMBERS:
        s = model.pp_info_[o]["scale"]
        row[o] = (s, s * y.mean() / model.predict_pp_z(Z, objective=o).mean(),
                  s * ytr.mean() / model.predict_pp_z(Ztr, objective=o).mean())
    ens = model.predict_pp_z(Z)
    btyd = btyd_predictions({model.feature_set: model}, model.feature_set, scored)[keep]
    for name, pred in (("fitted", ens), ("oracle", ens * y.mean() / ens.mean()), ("btyd", btyd)):
        m = regression_metrics(y, pred)
        row[name] = (m["mae"], m["rmse"], m["r2"], pred.mean() / y.mean())
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=Path("data"), help="a trained workspace (make demo)")
    ap.add_argument("--trials", type=int, default=1, help="Optuna trials per model (make demo's backtest: 1)")
    ap.add_argument("--from", dest="first", default="2025-09-27", help="first test cutoff (UTC date)")
    ap.add_argument("--validation", default="latest",
                    help="comma-separated: latest (the backtest's split), purged (no training label overlaps the "
                         "validation window); each cutoff runs every mode in turn")
    a = ap.parse_args()
    modes = a.validation.split(",")
    if not set(modes) <= {"latest", "purged"}:
        ap.error(f"--validation: modes are latest and purged, got {a.validation!r}")
    frame, features, p, horizon = frame_and_params(a.workspace, a.trials)
    tests = [t for t in sorted(frame["event_timestamp"].unique()) if t >= pd.Timestamp(a.first, tz="UTC")]
    print("| test | validation | valid | train cutoffs | seasonal level | " + " | ".join(
        f"{o} scale / needed / in-sample" for o in MEMBERS)
          + " | fitted MAE / RMSE / R² / ratio | oracle-scaled | BTYD |")
    print("|---" * (5 + len(MEMBERS) + 3) + "|")
    for t in tests:
        for mode in modes:
            print_row(one_cutoff(frame, features, p, horizon, t, mode))


def print_row(r: dict) -> None:
    """One markdown row of :func:`one_cutoff`'s result."""
    cells = [" / ".join(f"{v:.3f}" for v in r[o]) for o in MEMBERS]
    cells += [f"{m[0]:.2f} / {m[1]:.1f} / {m[2]:.3f} / {m[3]:.3f}" for m in (r["fitted"], r["oracle"], r["btyd"])]
    print(f"| {r['test']} | {r['validation']} | {r['valid']} | {r['cutoffs']} | {'yes' if r['season'] else 'no'} | "
          + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
