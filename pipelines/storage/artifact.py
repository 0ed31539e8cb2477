"""A training run on disk, and back. No pickle anywhere: LightGBM's native text format, numpy
``.npy`` arrays (loaded with ``allow_pickle=False``), JSON and Parquet.

Layout of ``<run dir>/``::

    model.json            model metadata (params, feature spec, selected objective, notes, ...)
    boosters/<name>.txt   LightGBM models (booster.save_model)
    arrays/<name>.npy     projection components/means and the linear reference's arrays
    config.json           effective PowerTier config
    features.json         feature service name, feature list, encoder id and dimension
    metrics.json          test metrics (see ranking.evaluation.evaluate)
    predictions.parquet   test-split predictions
    report.html           self-contained report
    run.json              summary: run id, created_at, targets, split, notes, verdict (ranking.gate),
                          feature service, provenance

The directory is written under a temporary name and renamed at the end, so a killed run never
leaves a half-written run dir behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from pipelines.common.errors import UserError
from pipelines.storage.files import atomic_dir, read_json, read_parquet, write_json, write_parquet, write_text
from ranking.model import TwoStageModel

_SEP = "__"  # replaces "/" of array names in file names
PROMOTED_LINK = "latest"  # runs/latest: the promoted (serving) run, moved by train's gate and `runs promote`


def save_model_files(directory: Path, model: TwoStageModel) -> None:
    """Write ``model.json``, ``boosters/`` and ``arrays/`` of a fitted model into ``directory``."""
    meta, arrays, boosters = model.get_state()
    (directory / "boosters").mkdir(parents=True, exist_ok=True)
    (directory / "arrays").mkdir(parents=True, exist_ok=True)
    for name, booster in boosters.items():
        booster.save_model(str(directory / "boosters" / f"{name}.txt"))
    for name, array in arrays.items():
        np.save(directory / "arrays" / f"{name.replace('/', _SEP)}.npy", np.asarray(array), allow_pickle=False)
    meta["boosters"] = sorted(boosters)
    meta["arrays"] = sorted(arrays)
    # Checked on load before LightGBM parses a file: a truncated booster aborts the whole process.
    meta["sha256"] = {str(p.relative_to(directory)): _sha256(p)
                      for p in sorted([*(directory / "boosters").glob("*.txt"), *(directory / "arrays").glob("*.npy")])}
    write_json(meta, directory / "model.json")


def load_model(run_dir: Path) -> TwoStageModel:
    """Rebuild the full predictor from the files of a run dir alone.

    A missing, truncated or corrupt file is a UserError naming that file (one line), raised
    before any other work: callers load the model first.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "model.json").exists():
        raise FileNotFoundError(f"not a PowerTier run dir (no model.json): {run_dir}")
    meta = _read_model_file(run_dir / "model.json", read_json)
    if not isinstance(meta, dict) or not {"boosters", "arrays"} <= set(meta):
        raise UserError(f"{run_dir / 'model.json'}: corrupt model file (no boosters/arrays lists); retrain")
    _check_files(run_dir, meta)
    boosters = {name: _read_model_file(run_dir / "boosters" / f"{name}.txt",
                                       lambda p: lgb.Booster(model_file=str(p))) for name in meta["boosters"]}
    arrays = {name: _read_model_file(run_dir / "arrays" / f"{name.replace('/', _SEP)}.npy",
                                     lambda p: np.load(p, allow_pickle=False)) for name in meta["arrays"]}
    try:
        return TwoStageModel.from_state(meta, arrays, boosters)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise UserError(f"{run_dir / 'model.json'}: corrupt model file ({type(exc).__name__}: {exc}); "
                        "retrain") from exc


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_files(run_dir: Path, meta: dict[str, Any]) -> None:
    """Every model file is whole: its SHA-256 as saved, or (runs saved before checksums) a
    booster that starts and ends like LightGBM's text format. LightGBM aborts the process (no
    exception) on some truncated files, so nothing reaches it unchecked."""
    sums = meta.get("sha256") or {}
    files = [f"boosters/{name}.txt" for name in meta["boosters"]]
    files += [f"arrays/{name.replace('/', _SEP)}.npy" for name in meta["arrays"]] if sums else []
    for rel in files:
        path = run_dir / rel
        if rel in sums:
            whole = _read_model_file(path, _sha256) == sums[rel]
        else:
            text = _read_model_file(path, lambda p: p.read_text(errors="replace"))
            whole = text.startswith("tree\n") and "\nend of trees\n" in text and "\nend of parameters\n" in text
        if not whole:
            raise UserError(f"{path}: corrupt model file (truncated or changed since training); "
                            "retrain or serve another run")


def _read_model_file(path: Path, read: Callable[[Path], Any]) -> Any:
    """``read(path)``, with any failure to read or parse it as a UserError naming ``path``."""
    try:
        return read(path)
    except (OSError, ValueError, EOFError, lgb.basic.LightGBMError) as exc:  # JSON/npy errors are ValueErrors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: corrupt or unreadable model file ({reason}); retrain or serve another run") from exc


def save_run(run_dir: Path, model: TwoStageModel, metrics: dict, predictions: pd.DataFrame, report_html: str,
             config: dict[str, Any], feature_service: str | None, feature_names: list[str] | None,
             encoder: dict[str, Any] | None = None, split: dict[str, Any] | None = None,
             verdict: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a complete run dir atomically; refuses to overwrite an existing one. ``extra`` (e.g.
    provenance: git commit, data-manifest hash, library versions) is merged into ``run.json``."""
    run_dir = Path(run_dir)
    with atomic_dir(run_dir) as tmp:
        save_model_files(tmp, model)
        write_json(config, tmp / "config.json")
        write_json({"feature_service": feature_service, "features": feature_names,
                    "encoder": encoder or _encoder_from_model(model)}, tmp / "features.json")
        write_json(metrics, tmp / "metrics.json")
        write_parquet(predictions, tmp / "predictions.parquet")
        write_text(report_html, tmp / "report.html")
        write_json({"run_id": run_dir.name, "created_at": datetime.now(timezone.utc).isoformat(),
                    "feature_set": model.feature_set, "targets": model.targets, "notes": model.notes_,
                    "split": split or {}, "verdict": verdict, "feature_service": feature_service, **(extra or {})},
                   tmp / "run.json")
    return run_dir


def _encoder_from_model(model: TwoStageModel) -> dict[str, Any]:
    """What the artifact knows of the encoder without being told: the vector dimension per view."""
    dims = model.projector_.input_dim_ if model.projector_ is not None else {}
    return {"id": None, "dim": next(iter(dims.values()), None), "dims": dims}


def load_run(run_dir: Path) -> dict[str, Any]:
    """Model plus every JSON document and the test predictions of a run dir."""
    run_dir = Path(run_dir)
    out: dict[str, Any] = {"model": load_model(run_dir)}
    for name in ("config", "features", "metrics", "run"):
        out[name] = read_json(run_dir / f"{name}.json")
    out["predictions"] = read_parquet(run_dir / "predictions.parquet")
    return out


def resolve_run_dir(runs: Path, run: Path | str | None) -> Path:
    """``run`` as given, else ``runs/latest`` (the promoted run); UserError if it holds no model."""
    from pipelines.common.errors import UserError

    path = Path(run) if run is not None else Path(runs) / PROMOTED_LINK
    if not (path / "model.json").exists():
        raise UserError(f"no trained run at {path} (no model.json); run `powertier train` or pass --run DIR")
    return path.resolve()
