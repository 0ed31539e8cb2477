"""The demo's spend model against BTYD on its test split: how much is seed noise, what the text
columns cost, and what a time-split refit would change (issue 12, docs/BENCHMARKS.md).

On a trained workspace (``make demo``), for the feature sets XY and Y: the training frame exactly
as ``powertier train`` builds it (labels + Feast retrieval through the feature service, the
config's split), the input stage fitted on the training rows (``TwoStageModel.fit_inputs``), then
``ranking.gbm.fit_purchasing_power`` once per LightGBM seed. Each fit is scored on the test rows as
the run scores it (the declared ensemble, the ``tweedie_btyd_offset`` candidate), and again with the
ensemble's members refitted on training + validation rows at their early-stopped round counts
(the time split does not refit; this measures what it would do). BTYD and the share of bootstrap
resamples of the test users on which the first seed's ensemble has the lower RMSE come last.

    .venv/bin/python bench/demo_spend.py --workspace data --seeds 5

Model quality, not timing: the machine's load does not change the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
METRICS = ("mae", "rmse", "r2", "spearman", "gini", "top10_share")


def design(workspace: Path, feature_sets: list[str], with_gap: bool = False) -> dict[str, dict]:
    """Per feature set: training / validation / test Z, labels and user ids, each row's cutoff, and
    the parameters; ``with_gap`` adds part ``gap``: the rows the time split drops between validation
    and test (their label windows end after the test cutoff; for diagnostics only, never a fit)."""
    from pipelines.common.config import load_config
    from pipelines.common.workspace import Workspace
    from pipelines.features.frames import data_as_of, default_cutoffs, drop_empty_views, training_frame
    from pipelines.storage import feast_store
    from pipelines.storage.curated import load_curated
    from ranking.model import TwoStageModel, pp_labels
    from ranking.params import TrainParams
    from ranking.splits import split_frame

    cfg = load_config(data_dir=workspace)
    cuts = default_cutoffs(cfg, data_as_of(cfg, load_curated(Workspace(cfg.data_dir))))
    frame, features = training_frame(cfg, feast_store.open_store(cfg), cuts, cfg.horizon_days)
    features, _ = drop_empty_views(frame, features)
    p = TrainParams.from_config(cfg)
    split = split_frame(frame, p.split, p.test_fraction, p.horizon_days, p.seed, p.test_cutoffs)
    named = [("tr", split.train), ("va", split.valid), ("te", split.test)]
    if with_gap:
        ts = frame["event_timestamp"]
        named.append(("gap", frame[(ts > split.valid["event_timestamp"].max()) & (ts < split.test["event_timestamp"].min())]))
    out = {}
    for fs in feature_sets:
        model = TwoStageModel(p, fs, tuple(features)).fit_inputs(split.train)
        parts, cutoffs = {}, {}
        for name, part in named:
            y = pp_labels(part)
            keep = ~np.isnan(y)
            parts[name] = (model.design(part).to_numpy()[keep], y[keep], part["user_id"].to_numpy()[keep])
            cutoffs[name] = part["event_timestamp"].to_numpy()[keep]
        out[fs] = {"parts": parts, "cutoffs": cutoffs, "names": model.feature_columns_, "params": p}
    return out


def refit_members(boosters: dict, info: dict, d: dict, p) -> dict:
    """The ensemble members refitted on training + validation rows at their early-stopped rounds."""
    from ranking import gbm

    (Ztr, ytr, _), (Zva, yva, _) = d["parts"]["tr"], d["parts"]["va"]
    Z, y = np.vstack([Ztr, Zva]), np.concatenate([ytr, yva])
    out = dict(boosters)
    for o in info["ensemble"]["members"]:
        params = {**gbm.base_params(p), **gbm.PP_OBJECTIVES[o], **info[o]["params"]}
        dtrain = gbm.make_dataset(Z, gbm.pp_target(o, y), d["names"], init_score=gbm.offset(Z, info[o]))
        out[o] = gbm._fit_fixed(params, dtrain, info[o]["best_iteration"])
    return out


def score_seeds(d: dict, seeds: int) -> tuple[dict[str, list[dict]], np.ndarray]:
    """Test metrics per seed of the ensemble, the offset candidate and the refitted ensemble, and
    the first seed's ensemble predictions."""
    from ranking import gbm
    from ranking.metrics import regression_metrics

    (Ztr, ytr, gtr), (Zva, yva, gva), (Zte, yte, _) = (d["parts"][k] for k in ("tr", "va", "te"))
    rows: dict[str, list[dict]] = {"ensemble": [], "tweedie_btyd_offset": [], "ensemble refitted": []}
    first = None
    for i in range(seeds):
        p = dataclasses.replace(d["params"], seed=d["params"].seed + i)
        boosters, _, info = gbm.fit_purchasing_power(Ztr, ytr, Zva, yva, d["names"], p, None, gtr, gva)
        ens = gbm.predict_selected(boosters, "ensemble", info, Zte)
        first = ens if first is None else first
        refit = gbm.predict_selected(refit_members(boosters, info, d, p), "ensemble", info, Zte)
        for name, pred in (("ensemble", ens), ("ensemble refitted", refit),
                           ("tweedie_btyd_offset", gbm.predict_selected(boosters, "tweedie_btyd_offset", info, Zte))):
            rows[name].append({**regression_metrics(yte, pred), "ratio": float(pred.mean() / yte.mean())})
    return rows, first


def bootstrap_share(y: np.ndarray, a: np.ndarray, b: np.ndarray, reps: int = 1000) -> float:
    """Share of seeded bootstrap resamples of the rows on which ``a`` has the lower RMSE than ``b``."""
    rng = np.random.default_rng(0)
    wins = 0
    for _ in range(reps):
        i = rng.integers(0, len(y), len(y))
        wins += np.mean((y[i] - a[i]) ** 2) < np.mean((y[i] - b[i]) ** 2)
    return wins / reps


def cell(values: list[float]) -> str:
    """mean ± sample sd (the mean alone for one value)."""
    if len(values) < 2:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=Path("data"), help="a trained workspace (make demo)")
    ap.add_argument("--seeds", type=int, default=5, help="LightGBM seeds per feature set")
    ap.add_argument("--sets", default="XY,Y", help="feature sets, comma-separated")
    a = ap.parse_args()
    from ranking.metrics import regression_metrics

    print(f"| feature set | model | {' | '.join(METRICS)} | mean ratio |")
    print("|---|---|" + "---|" * (len(METRICS) + 1))
    for fs, d in design(a.workspace, a.sets.split(",")).items():
        rows, first = score_seeds(d, a.seeds)
        for name, runs in rows.items():
            print(f"| {fs} | {name} | " + " | ".join(cell([r[m] for r in runs]) for m in METRICS + ("ratio",)) + " |")
        Zte, yte, _ = d["parts"]["te"]
        btyd = np.nan_to_num(Zte[:, d["names"].index("btyd_expected_spend")], nan=0.0)
        m = regression_metrics(yte, btyd)
        print(f"| {fs} | BTYD | " + " | ".join(f"{m[k]:.3f}" for k in METRICS) + f" | {btyd.mean() / yte.mean():.3f} |")
        print(f"| {fs} | share of 1,000 bootstraps of the test users where the first seed's ensemble has the "
              f"lower RMSE than BTYD: {bootstrap_share(yte, first, btyd):.3f} | |")


if __name__ == "__main__":
    main()
