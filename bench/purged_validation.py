"""Why the demo's validation favours the main spend model and its test does not (issue 12,
docs/BENCHMARKS.md): the time split's training label windows overlap the validation window.

The time split purges training rows against the test cutoff (every training label window closes
by it) but not against the validation cutoff: with monthly cutoffs and a 90-day horizon the two
training cutoffs before validation are labelled with spend from inside the validation window, by
the same users. Trees that memorise a heavy user's level then "predict" their validation spend,
which the test, with no overlap, does not reward.

On a trained workspace (``make demo``), the training frame exactly as ``powertier train`` builds
it (``bench/demo_spend.py``'s ``design``, plus the rows the split drops between validation and
test: their labels end inside the test window, so they are scored here and never fitted). The
main model (the declared ensemble, ``ranking.gbm.fit_purchasing_power`` at the config's seed) is
fitted twice: on the training rows as ``train`` fits it, and on the training rows whose label
window closes by the validation cutoff (purged). Each fit is scored at every cutoff from
validation to test against BTYD on the same rows, with the days by which the fit's training
labels overlap that cutoff's label window.

    .venv/bin/python bench/purged_validation.py --workspace data

Model quality, not timing: the machine's load does not change the figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cutoff_drift import markdown  # noqa: E402
from bench.demo_spend import METRICS, design  # noqa: E402

LOWER_IS_BETTER = ("mae", "rmse")


def label_ends(d: dict) -> pd.Series:
    """When each training row's label window closes (the split's own rule)."""
    from ranking.splits import label_available_at

    return label_available_at(pd.DataFrame({"event_timestamp": d["cutoffs"]["tr"]}), d["params"].horizon_days)


def purged(d: dict) -> np.ndarray:
    """Training rows whose label window closes by the validation cutoff."""
    return (label_ends(d) <= pd.to_datetime(d["cutoffs"]["va"], utc=True).min()).to_numpy()


def fit_main(d: dict, rows: np.ndarray) -> tuple[dict, str, dict]:
    """The declared main spend model fitted on ``rows`` of the training part, early-stopped and
    calibrated on the validation part (as ``train`` does)."""
    from ranking import gbm

    (Ztr, ytr, gtr), (Zva, yva, gva) = d["parts"]["tr"], d["parts"]["va"]
    return gbm.fit_purchasing_power(Ztr[rows], ytr[rows], Zva, yva, d["names"], d["params"], None, gtr[rows], gva)


def scored_cutoffs(d: dict) -> list[tuple[str, pd.Timestamp, np.ndarray, np.ndarray]]:
    """(part, cutoff, Z, y) for every cutoff from validation to test, in time order."""
    out = []
    for part in ("va", "gap", "te"):
        Z, y, _ = d["parts"][part]
        cut = pd.to_datetime(d["cutoffs"][part], utc=True)
        out += [(part, c, Z[np.asarray(cut == c)], y[np.asarray(cut == c)]) for c in np.unique(cut)]
    return out


def rows_for(d: dict, fit: str, rows: np.ndarray) -> list[dict]:
    """One row of figures per scored cutoff for the fit on ``rows``."""
    from ranking import gbm
    from ranking.metrics import regression_metrics

    boosters, selected, info = fit_main(d, rows)
    label_end = label_ends(d)[rows].max()
    out = []
    for part, c, Z, y in scored_cutoffs(d):
        main = regression_metrics(y, gbm.predict_selected(boosters, selected, info, Z))
        btyd = regression_metrics(y, np.nan_to_num(Z[:, d["names"].index("btyd_expected_spend")], nan=0.0))
        wins = sum(main[k] < btyd[k] if k in LOWER_IS_BETTER else main[k] > btyd[k] for k in METRICS)
        out.append({"fit": fit, "training rows": int(rows.sum()), "part": part, "cutoff": c.date().isoformat(),
                    "label overlap (days)": max((label_end - c).days, 0), "rows": len(y),
                    "main RMSE": main["rmse"], "BTYD RMSE": btyd["rmse"], "main MAE": main["mae"],
                    "BTYD MAE": btyd["mae"], "main / truth mean": main["mean_pred"] / main["mean_true"],
                    "wins of 6 vs BTYD": wins})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=Path("data"), help="a trained workspace (make demo)")
    a = ap.parse_args()
    d = design(a.workspace, ["XY"], with_gap=True)["XY"]
    if d["params"].split != "time":
        ap.error(f"the workspace's split is {d['params'].split!r}; the overlap exists only under the time split")
    everything = np.ones(len(d["parts"]["tr"][1]), dtype=bool)
    print(markdown(rows_for(d, "as train fits it", everything) + rows_for(d, "purged", purged(d))))


if __name__ == "__main__":
    main()
