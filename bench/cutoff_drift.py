"""Why the demo's validation cutoff disagrees with its test cutoff (issue 12, docs/BENCHMARKS.md):
how far the heaviest recent spenders regress to the mean at each cutoff of the time split.

On a trained workspace (``make demo``), the training frame exactly as ``powertier train`` builds
it (``bench/demo_spend.py``'s ``design``: labels + Feast retrieval through the feature service,
the config's split, the input stage fitted on the training rows). Per cutoff: its part, rows, mean
truth (spend in the horizon), the last 30 days' share of the last 90 days' spend (a lull shows as
under 1/3), and for the top share of rows by ``spend_90d``: their mean ``spend_90d``, days since
the last order, and truth / ``spend_90d`` (1 = no regression to the mean). On the validation and
test cutoffs also the main model's (the declared ensemble, fitted once by
``ranking.gbm.fit_purchasing_power`` at the config's seed) and BTYD's prediction / ``spend_90d``
for the same rows: a model that learnt the training cutoffs' regression shrinks where the test's
heavy spenders did not.

    .venv/bin/python bench/cutoff_drift.py --workspace data

Model quality, not timing: the machine's load does not change the figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.demo_spend import design  # noqa: E402

PARTS = {"tr": "train", "va": "valid", "te": "test"}


def column(Z: np.ndarray, names: list[str], name: str) -> np.ndarray:
    """One design column, missing as 0 (no order in the window)."""
    return np.nan_to_num(Z[:, names.index(name)], nan=0.0)


def main_predictions(d: dict) -> dict[str, np.ndarray]:
    """The main spend model's predictions of the validation and test rows (one fit, training rows only)."""
    from ranking import gbm

    (Ztr, ytr, gtr), (Zva, yva, gva) = d["parts"]["tr"], d["parts"]["va"]
    boosters, selected, info = gbm.fit_purchasing_power(Ztr, ytr, Zva, yva, d["names"], d["params"], None, gtr, gva)
    return {k: gbm.predict_selected(boosters, selected, info, d["parts"][k][0]) for k in ("va", "te")}


def cutoff_rows(d: dict, pred: dict[str, np.ndarray], top: float) -> list[dict]:
    """One row of figures per cutoff, in time order."""
    names, rows = d["names"], []
    for part, (Z, y, _) in d["parts"].items():
        cut = pd.to_datetime(d["cutoffs"][part], utc=True)
        for c in np.unique(cut):
            m = np.asarray(cut == c)
            Zc, yc = Z[m], y[m]
            s90, s30 = column(Zc, names, "spend_90d"), column(Zc, names, "spend_30d")
            heavy = s90 >= np.quantile(s90, 1 - top)
            top90 = s90[heavy].sum()
            row = {"part": PARTS[part], "cutoff": pd.Timestamp(c).date().isoformat(), "rows": int(m.sum()),
                   "mean truth": yc.mean(), "30d / 90d spend": s30.sum() / max(s90.sum(), 1e-9),
                   "top rows": int(heavy.sum()), "top spend_90d": s90[heavy].mean(),
                   "top days since last order": np.nanmean(Zc[heavy, names.index("days_since_last_order")]),
                   "top truth / spend_90d": yc[heavy].sum() / top90}
            if part in pred:
                row["top main / spend_90d"] = pred[part][m][heavy].sum() / top90
                row["top BTYD / spend_90d"] = column(Zc[heavy], names, "btyd_expected_spend").sum() / top90
            rows.append(row)
    return sorted(rows, key=lambda r: r["cutoff"])


def markdown(rows: list[dict]) -> str:
    """The table for docs/BENCHMARKS.md ("–" where the model does not score the part)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    fmt = lambda v: "–" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=Path("data"), help="a trained workspace (make demo)")
    ap.add_argument("--top", type=float, default=0.01, help="share of each cutoff's rows by spend_90d")
    a = ap.parse_args()
    if not 0 < a.top < 1:
        ap.error(f"--top must be in (0, 1), got {a.top}")
    d = design(a.workspace, ["XY"])["XY"]
    print(markdown(cutoff_rows(d, main_predictions(d), a.top)))


if __name__ == "__main__":
    main()
