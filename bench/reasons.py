"""Path contributions against TreeSHAP for a workspace's run: agreement of the reasons and the cost
of one served row's explanation.

For the run's explained spend booster (and the tier booster, at each row's predicted tier), on the
design rows of the workspace's users at one moment: how often the top reason and the top-3 set of
the path contributions are TreeSHAP's, and their correlation; then, per single row, the thread
CPU of each method, the two calls interleaved row by row (TreeSHAP is the baseline). Prints a
Markdown table.

    .venv/bin/python bench/reasons.py --workspace data [--rows 2000] [--timed 400]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _top(values: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]


def agreement(path: np.ndarray, shap: np.ndarray) -> dict[str, float]:
    """Share of rows with the same top group and the same top-3 set; correlation of all values."""
    a, b = _top(path, 3), _top(shap, 3)
    return {"top1": float(np.mean(a[:, 0] == b[:, 0])),
            "top3_set": float(np.mean([set(x) == set(y) for x, y in zip(a, b)])),
            "corr": float(np.corrcoef(path.ravel(), shap.ravel())[0, 1])}


def timed(model, target: str, Z: np.ndarray, classes: np.ndarray, n: int) -> tuple[list[float], list[float]]:
    """Thread CPU ms per single row of the server's explanation (``FastScorer``), path against
    TreeSHAP as the server computes it (only the explained output's or the predicted class's
    trees), interleaved."""
    import copy
    from dataclasses import replace

    from pipelines.serve.scoring import FastScorer

    shap_model = copy.copy(model)
    shap_model.params = replace(model.params, reasons="treeshap")
    path, shap = FastScorer(model), FastScorer(shap_model)
    path_ms, shap_ms = [], []
    for i in range(min(n, len(Z))):
        z, k = Z[i:i + 1], classes[i:i + 1]
        t = time.thread_time()
        path._contributions(z, target, k)
        path_ms.append((time.thread_time() - t) * 1e3)
        t = time.thread_time()
        shap._contributions(z, target, k)
        shap_ms.append((time.thread_time() - t) * 1e3)
    return path_ms, shap_ms


def _member(model) -> np.ndarray:
    from ranking.explain import group_membership

    return group_membership(model.feature_columns_, model.groups_)[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=2000, help="Users whose online rows are compared.")
    ap.add_argument("--timed", type=int, default=400, help="Single rows timed per method.")
    args = ap.parse_args()
    from pipelines.common.config import load_config
    from pipelines.serve import predict as P
    from pipelines.serve.state import load_state
    from ranking import gbm
    from ranking.explain import grouped_contribution_array, path_contribution_array

    cfg = load_config(data_dir=args.workspace, online_store="sqlite")
    state = load_state(cfg, args.workspace / "runs" / "latest", lambda c: None)
    pred, model = state.predictor, state.predictor.model
    users = state.events.curated["users"]["user_id"].tolist()[: args.rows]
    Z = pred.fast.design(P.lookup(state.store, pred, users, datetime.now(timezone.utc)))
    tiers = np.argmax(gbm.predict_tier_proba(model.tier_booster_, Z, model.tier_info_["best_iteration"]), axis=1)
    print(f"{os.uname().machine}, {os.cpu_count()} cores; load average before {os.getloadavg()}; "
          f"{len(Z)} rows, {args.timed} timed; run {pred.run_id}\n")
    print("| target | trees | top-1 agree | top-3 set agree | corr | path p50 / p99 ms | TreeSHAP p50 / p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for target, classes in (("purchasing_power", np.zeros(len(Z), dtype=np.int64)), ("tier", tiers)):
        booster, it = model.explained_booster(target)
        path = path_contribution_array(booster, model.path_table(target), Z, it, classes)
        shap = grouped_contribution_array(booster, Z, _member(model), it, classes)
        agree = agreement(path, shap)
        p_ms, s_ms = timed(model, target, Z, classes, args.timed)
        q = lambda v: f"{np.percentile(v, 50):.3f} / {np.percentile(v, 99):.3f}"  # noqa: E731
        print(f"| {target} | {it * booster.num_model_per_iteration()} | {agree['top1']:.3f} | {agree['top3_set']:.3f} "
              f"| {agree['corr']:.3f} | {q(p_ms)} | {q(s_ms)} |")
    print(f"\nload average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
