"""Stage 'finetune', its I/O: curated tables -> labelled texts -> fine-tuned encoder directory,
and the none / frozen / fine-tuned ablation in the training run.

Output: ``<data>/finetune/<run id>/`` holding ``model/`` (a sentence-transformers directory with
``powertier_model.json``: base model, data window, label, validation metrics and a content
hash ``model_id`` that keys the embedding cache) and ``finetune.json`` (the same plus the
Optuna trials and the ablation); ``finetune/latest`` points at the newest. ``powertier embed
--model <run>/model`` uses it. With a training run (the newest, or ``--run``), the labels end at
its training end, and ``<run>/finetune/ablation.json`` plus the re-rendered ``<run>/report.html``
hold the stage-2 ablation on its split (``pipelines/finetune/ablation.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feature_repo.timestamps import as_utc
from pipelines.common.config import PowerTierConfig
from pipelines.common.errors import UserError
from pipelines.common.workspace import Workspace
from pipelines.storage.curated import load_curated
from pipelines.storage.files import atomic_dir, point_link, read_json, read_parquet, write_json, write_text
from pipelines.storage.models import file_digest

REPORT = "finetune.json"


def finetune_root(ws: Workspace) -> Path:
    return ws.root / "finetune"




def _kept_reviews(cfg: PowerTierConfig, tables: dict, lowercase: bool) -> pd.DataFrame:
    """Kept (cleaned, not spam) reviews with their canonical text, as the embed stage keeps them."""
    from embeddings.encoder import canonical_texts
    from pipelines.embed.plan import prepare_sources

    frame, _ = prepare_sources(cfg, {"reviews": tables["reviews"], "searches": None})["reviews"]
    kept = frame[frame["reason"].isna()].reset_index(drop=True)
    kept["text"] = canonical_texts(kept["text"].tolist(), lowercase=lowercase)
    return kept


def _labelled_texts(cfg: PowerTierConfig, tables: dict, end: pd.Timestamp,
                    cutoffs: list[pd.Timestamp] | None) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """Kept reviews paired with labels available by ``end`` at ``cutoffs`` (default: train's)."""
    from pipelines.features.labels import build_labels
    from pipelines.finetune.examples import pair_texts
    from pipelines.features.frames import default_cutoffs

    if cfg.finetune.label == "tier_next" and tables["tiers"] is None:
        raise UserError("finetune.label is tier_next but there is no curated tiers table")
    cutoffs = cutoffs or default_cutoffs(cfg, end)
    labels = build_labels(tables["users"], tables["orders"], cutoffs, cfg.horizon_days, cfg.tiers,
                          tiers=tables["tiers"])
    return pair_texts(_kept_reviews(cfg, tables, False), labels, end, cfg.finetune.label), cutoffs


def training_run(cfg: PowerTierConfig, run: Path | None) -> Path | None:
    """The training run whose split the fine-tune respects and whose report gets the ablation:
    ``run``, else the newest run dir (the one ``train``/``pipeline`` just wrote, promoted or
    not; run ids start with their UTC time), else None (no run yet: fine-tune alone)."""
    from pipelines.storage.artifact import resolve_run_dir

    runs = Workspace(cfg.data_dir).runs
    if run is not None:
        return resolve_run_dir(runs, run)
    found = sorted(p for p in runs.glob("*") if not p.is_symlink() and (p / "model.json").exists()) \
        if runs.exists() else []
    return found[-1].resolve() if found else None


def _window(cfg: PowerTierConfig, tables: dict, end: datetime | None, run_dir: Path | None
            ) -> tuple[pd.Timestamp, list[pd.Timestamp] | None, set[str]]:
    """(labels end, label cutoffs, users left out): a run's own cutoffs and training end, and its
    test users under a user split; without a run, ``end`` (default the data's as-of)."""
    from pipelines.finetune.examples import label_window, run_cutoffs
    from pipelines.features.frames import data_as_of

    end_ts = as_utc(end) if end else data_as_of(cfg, tables)
    if run_dir is None:
        return end_ts, None, set()
    run = read_json(run_dir / "run.json")
    held = set()
    if (run.get("split") or {}).get("strategy") == "user":
        held = set(read_parquet(run_dir / "predictions.parquet")["user_id"].astype(str))
    return label_window(run.get("split") or {}, end_ts), run_cutoffs(run) or None, held


def _states_bank(base, texts: list[str], split_at: int) -> dict[str, Any]:
    """Full-length lower-layer states of each distinct text (the frozen layers run once per text)."""
    from embeddings.finetune import lower_states

    distinct = sorted(set(texts))
    return dict(zip(distinct, lower_states(base, distinct, "document", split_at)))


def _probe(base, tuned, pairs, split_at: int, n_classes: int) -> dict[str, float]:
    """Validation score of a linear probe on no text / frozen / fine-tuned vectors (same users)."""
    from embeddings.finetune import probe_score, top_vectors

    tr, va = pairs.train, pairs.valid
    out = {"none": probe_score(np.zeros((len(tr.texts), 0)), tr.targets, np.zeros((len(va.texts), 0)),
                               va.targets, n_classes)}
    for name, model in (("frozen", base), ("fine_tuned", tuned)):
        out[name] = probe_score(top_vectors(model, tr.states, split_at), tr.targets,
                                top_vectors(model, va.states, split_at), va.targets, n_classes)
    return out


def _pairs(cfg: PowerTierConfig, tables: dict, end: datetime | None, run_dir: Path | None):
    """(examples, labels end, cutoffs): the labelled texts the encoder may learn from."""
    from pipelines.finetune.examples import build_pairs

    end_ts, run_cuts, held = _window(cfg, tables, end, run_dir)
    labelled, cutoffs = _labelled_texts(cfg, tables, end_ts, run_cuts)
    labelled = labelled[~labelled["user_id"].astype(str).isin(held)]
    f = cfg.finetune
    pairs = build_pairs(labelled, f.label, f.valid_fraction, f.max_texts, cfg.seed)
    if pairs.info["train_texts"] < 8 or pairs.info["valid_texts"] < 2:
        raise UserError(f"too few labelled texts to fine-tune on by {end_ts.isoformat()}: {pairs.info}")
    return pairs, end_ts, cutoffs


def _fit(cfg: PowerTierConfig, base, pairs, bank: dict[str, Any], split_at: int):
    """(fine-tuned model, best fit, study, examples with their states) of the Optuna search."""
    from embeddings.finetune import FitSettings, apply_state, search, with_states

    f = cfg.finetune
    train_ex, valid_ex = (with_states(base, ex, "document", split_at, f.max_tokens, bank)
                          for ex in (pairs.train, pairs.valid))
    pairs = replace(pairs, train=train_ex, valid=valid_ex)
    settings = FitSettings(lr=5e-5, epochs=1, n_classes=len(cfg.tiers) if f.label == "tier_next" else 0,
                           batch_size=f.batch_size, max_tokens=f.max_tokens, train_layers=f.train_layers,
                           seed=cfg.seed)
    best, study = search(base, pairs.train, pairs.valid, f.trials, f.max_epochs, settings)
    return apply_state(base, best.state), best, study, pairs


def run_finetune(cfg: PowerTierConfig, end: datetime | None = None, run: Path | None = None,
                 log: Callable[[str], None] = lambda _m: None) -> Path:
    """Fine-tune ``encoder.model`` on labels available by ``end`` (default: the data's as-of, or
    the training run's end); with a training run, add the encoder ablation to it."""
    from embeddings.encoder import model_id, model_info
    from embeddings.finetune import split_layer
    from pipelines.storage.models import load_model

    started, ws, f = time.perf_counter(), Workspace(cfg.data_dir), cfg.finetune
    tables = load_curated(ws)
    run_dir = training_run(cfg, run)
    pairs, end_ts, cutoffs = _pairs(cfg, tables, end, run_dir)
    log(f"fine-tuning {cfg.encoder.model} on {pairs.info['train_texts']} texts ({pairs.info['train_users']} "
        f"users, labels available by {end_ts.date()}), validating on {pairs.info['valid_texts']}")
    # Gradients need full precision: the encoder's default on CPUs with native bf16 is bf16
    # (inference only), and a bf16 model cannot train an fp32 head.
    base = load_model(cfg.model_copy(update={"encoder": cfg.encoder.model_copy(update={"precision": "fp32"})}))
    split_at = split_layer(base, f.train_layers)
    ablation = run_dir is not None and f.ablation
    reviews = _kept_reviews(cfg, tables, bool(model_info(base)["lowercase"]))
    reviews = reviews[reviews["ts"] <= max(cutoffs)].reset_index(drop=True) if ablation else reviews.iloc[:0]
    cpu = time.process_time()
    bank = _states_bank(base, [*pairs.train.texts, *pairs.valid.texts, *reviews["text"]], split_at)
    log(f"frozen layers: {len(bank)} distinct texts once ({time.process_time() - cpu:.0f} CPU s)")
    cpu = time.process_time()
    tuned, best, study, pairs = _fit(cfg, base, pairs, bank, split_at)
    log(f"search: {len(study['trials'])} trials, best {study['best_params']} ({time.process_time() - cpu:.0f} CPU s)")
    provenance = {
        "base_model": model_id(cfg.encoder.model), "label": f.label, "horizon_days": cfg.horizon_days,
        "data_window": {"first_cutoff": str(cutoffs[0]), "last_cutoff": str(cutoffs[-1]), "end": str(end_ts)},
        "label_end": str(end_ts), "examples": pairs.info, "target_scale": pairs.scale,
        "training_run": run_dir.name if run_dir is not None else None,
        "valid": {"loss": best.valid_loss, "best_epoch": best.best_epoch,
                  "probe": _probe(base, tuned, pairs, split_at, len(cfg.tiers) if f.label == "tier_next" else 0)},
        "search": study, "seed": cfg.seed, "seconds": round(time.perf_counter() - started, 1)}
    out_dir = _save(ws, tuned, provenance)
    if ablation:
        cpu = time.process_time()
        vectors = top_vectors_of(tuned, bank, reviews["text"].tolist(), split_at)
        result = add_ablation(cfg, run_dir, reviews, vectors, provenance, log)
        log(f"ablation: {len(reviews)} reviews re-encoded, 3 stage-2 fits ({time.process_time() - cpu:.0f} CPU s)")
        write_json({**read_json(out_dir / REPORT), "ablation": result,
                    "seconds": round(time.perf_counter() - started, 1)}, out_dir / REPORT)
    return out_dir


def _save(ws: Workspace, tuned, provenance: dict[str, Any]) -> Path:
    """Write ``finetune/<run id>/`` (model dir with its provenance, and finetune.json); move latest."""
    from embeddings.encoder import PROVENANCE

    run_id = f"ft-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{provenance['seed']}"
    root = finetune_root(ws)
    with atomic_dir(root / run_id) as tmp:
        tuned.save(str(tmp / "model"))
        provenance["model_id"] = f"ft-{file_digest(tmp / 'model' / 'model.safetensors')}"
        write_json(provenance, tmp / "model" / PROVENANCE)
        write_json({**provenance, "run_id": run_id}, tmp / REPORT)
    point_link(root / "latest", root / run_id)
    return root / run_id


def top_vectors_of(tuned, bank: dict[str, Any], texts: list[str], split_at: int) -> np.ndarray:
    """The fine-tuned encoder's vector of each text (rows aligned with ``texts``), from the bank."""
    from embeddings.finetune import top_vectors

    distinct = sorted(set(texts))
    vecs = top_vectors(tuned, [bank[t] for t in distinct], split_at)
    index = {t: i for i, t in enumerate(distinct)}
    return vecs[[index[t] for t in texts]] if texts else vecs[:0]


ABLATION = "ablation.json"


def add_ablation(cfg: PowerTierConfig, run_dir: Path, reviews: pd.DataFrame, vectors: np.ndarray,
                 provenance: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    """The none / frozen / fine-tuned ablation on ``run_dir``'s own frame and split, written into
    the run (``finetune/ablation.json``) with its report re-rendered to show it."""
    from embeddings.profiles import review_profiles
    from pipelines.finetune.ablation import encoder_ablation, keys_digest, with_vectors
    from pipelines.finetune.examples import run_cutoffs
    from pipelines.storage import feast_store
    from pipelines.features.frames import training_frame
    from ranking.params import TrainParams

    run, features = read_json(run_dir / "run.json"), read_json(run_dir / "features.json")
    if "review_embedding" not in features["features"]:
        raise UserError(f"{run_dir.name} has no review_embedding input: no encoder ablation to run on it")
    params = replace(TrainParams.from_dict(read_json(run_dir / "model.json")["params"]),
                     trials=cfg.finetune.ablation_trials)
    log(f"encoder ablation on run {run_dir.name}: none / frozen / fine-tuned, LightGBM trials {params.trials}")
    frame, _ = training_frame(cfg, feast_store.open_store(cfg), run_cutoffs(run), params.horizon_days)
    _check_join(Workspace(cfg.data_dir), frame)
    tuned = with_vectors(frame, {"review_embedding": review_profiles(reviews, vectors)})
    rows = encoder_ablation(frame, tuned, params, features["features"])
    if rows["frozen"]["test_keys"] != keys_digest(read_parquet(run_dir / "predictions.parquet")):
        raise UserError(f"the ablation's test rows differ from run {run_dir.name}'s: the curated data or the "
                        "feature store changed since it was trained; retrain, then fine-tune")
    doc = {"run_id": run_dir.name, "rows": rows, "trials": params.trials, "frozen_encoder": features["encoder"],
           "fine_tuned": {k: provenance.get(k) for k in ("model_id", "base_model", "label", "label_end")},
           "views": {"review": "fine-tuned encoder", "search": "base encoder (the fine-tune learns from reviews)"}}
    write_json(doc, run_dir / "finetune" / ABLATION)
    _rerender(run_dir, frame, doc)
    return doc


def _check_join(ws: Workspace, frame: pd.DataFrame) -> None:
    """The ablation's point-in-time join, applied to the stored base profiles, must give the
    vectors Feast returned (else the fine-tuned row would not be comparable)."""
    from pipelines.finetune.ablation import pit_vectors

    stored = read_parquet(ws.feature_table("user_review_profile"))
    ours = pit_vectors(frame, stored, "review_embedding")
    theirs = frame["review_embedding"].to_numpy()
    same = all((a is None) == (b is None or (isinstance(b, float) and np.isnan(b))) and
               (a is None or np.allclose(np.asarray(a, float), np.asarray(b, float), atol=1e-6))
               for a, b in zip(ours, theirs))
    if not same:
        raise UserError("the stored review profiles do not match the feature store's: run `powertier features`")


def _rerender(run_dir: Path, frame: pd.DataFrame, ablation: dict[str, Any]) -> None:
    """``report.html`` of ``run_dir`` rebuilt from its files, with the encoder ablation section."""
    from pipelines.report.training import build_report
    from pipelines.storage.artifact import load_model as load_run_model
    from pipelines.train.flow import hyperparameters, report_info

    run, metrics = read_json(run_dir / "run.json"), read_json(run_dir / "metrics.json")
    info = report_info(run["run_id"], run.get("notes", []), run.get("split", {}),
                       read_json(run_dir / "config.json")["tiers"], run["verdict"],
                       hyperparameters(load_run_model(run_dir)), frame)
    info["encoder_ablation"] = ablation
    html = build_report(metrics, read_parquet(run_dir / "predictions.parquet"), metrics["importance"], info)
    write_text(html, run_dir / "report.html")


def provenance_of(model_dir: Path) -> dict[str, Any] | None:
    """A fine-tuned model directory's provenance, None for any other model."""
    from embeddings.encoder import PROVENANCE
    from pipelines.storage.files import read_json

    path = Path(model_dir).expanduser() / PROVENANCE
    return read_json(path) if path.exists() else None
