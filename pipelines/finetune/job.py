"""Stage 'finetune', its I/O: curated tables -> labelled texts -> fine-tuned encoder directory.

Output: ``<data>/finetune/<run id>/`` holding ``model/`` (a sentence-transformers directory with
``powertier_model.json``: base model, data window, label, validation metrics and a content
hash ``model_id`` that keys the embedding cache) and ``finetune.json`` (the same plus the
Optuna trials and the none / frozen / fine-tuned ablation on the validation users);
``finetune/latest`` points at the newest. ``powertier embed --model <run>/model`` uses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
from pipelines.storage.files import atomic_dir, point_link, write_json
from pipelines.storage.models import file_digest

REPORT = "finetune.json"


def finetune_root(ws: Workspace) -> Path:
    return ws.root / "finetune"




def _labelled_texts(cfg: PowerTierConfig, end: pd.Timestamp) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """Kept (cleaned, not spam) reviews paired with labels available by ``end``, and the cutoffs."""
    from embeddings.encoder import canonical_texts
    from pipelines.embed.plan import prepare_sources
    from pipelines.features.labels import build_labels
    from pipelines.finetune.examples import pair_texts
    from pipelines.train.job import default_cutoffs

    tables = load_curated(Workspace(cfg.data_dir))
    if cfg.finetune.label == "tier_next" and tables["tiers"] is None:
        raise UserError("finetune.label is tier_next but there is no curated tiers table")
    cutoffs = default_cutoffs(cfg, end)
    labels = build_labels(tables["users"], tables["orders"], cutoffs, cfg.horizon_days, cfg.tiers,
                          tiers=tables["tiers"])
    frame, _ = prepare_sources(cfg, {"reviews": tables["reviews"], "searches": None})["reviews"]
    kept = frame[frame["reason"].isna()].reset_index(drop=True)
    kept["text"] = canonical_texts(kept["text"].tolist(), lowercase=False)
    return pair_texts(kept, labels, end, cfg.finetune.label), cutoffs


def _ablation(base, tuned, pairs, n_classes: int) -> dict[str, float]:
    """Validation score of a probe on no text / frozen vectors / fine-tuned vectors (same users)."""
    from embeddings.encoder import encode
    from embeddings.finetune import probe_score

    tr, va = pairs.train, pairs.valid
    out = {"none": probe_score(np.zeros((len(tr.texts), 0)), tr.targets, np.zeros((len(va.texts), 0)),
                               va.targets, n_classes)}
    for name, model in (("frozen", base), ("fine_tuned", tuned)):
        out[name] = probe_score(encode(model, tr.texts, "document"), tr.targets,
                                encode(model, va.texts, "document"), va.targets, n_classes)
    return out


def run_finetune(cfg: PowerTierConfig, end: datetime | None = None,
                 log: Callable[[str], None] = lambda _m: None) -> Path:
    """Fine-tune ``encoder.model`` on labels available by ``end`` (default: the data's as-of)."""
    from embeddings.encoder import PROVENANCE, model_id
    from embeddings.finetune import FitSettings, apply_state, search
    from pipelines.finetune.examples import build_pairs
    from pipelines.storage.models import load_model
    from pipelines.train.job import data_as_of

    started = time.perf_counter()
    ws = Workspace(cfg.data_dir)
    end_ts = as_utc(end) if end else data_as_of(cfg, load_curated(ws))
    labelled, cutoffs = _labelled_texts(cfg, end_ts)
    f = cfg.finetune
    pairs = build_pairs(labelled, f.label, f.valid_fraction, f.max_texts, cfg.seed)
    if pairs.info["train_texts"] < 8 or pairs.info["valid_texts"] < 2:
        raise UserError(f"too few labelled texts to fine-tune on by {end_ts.isoformat()}: {pairs.info}")
    n_classes = len(cfg.tiers) if f.label == "tier_next" else 0
    log(f"fine-tuning {cfg.encoder.model} on {pairs.info['train_texts']} texts "
        f"({pairs.info['train_users']} users), validating on {pairs.info['valid_texts']}")
    base = load_model(cfg)
    settings = FitSettings(lr=5e-5, epochs=1, n_classes=n_classes, batch_size=f.batch_size,
                           max_tokens=f.max_tokens, train_layers=f.train_layers, seed=cfg.seed)
    best, study = search(base, pairs.train, pairs.valid, f.trials, f.max_epochs, settings)
    tuned = apply_state(base, best.state)
    ablation = _ablation(base, tuned, pairs, n_classes)
    provenance = {
        "base_model": model_id(cfg.encoder.model), "label": f.label, "horizon_days": cfg.horizon_days,
        "data_window": {"first_cutoff": str(cutoffs[0]), "last_cutoff": str(cutoffs[-1]), "end": str(end_ts)},
        "label_end": str(end_ts), "examples": pairs.info, "target_scale": pairs.scale,
        "valid": {"loss": best.valid_loss, "best_epoch": best.best_epoch, "probe": ablation},
        "search": study, "seed": cfg.seed, "seconds": round(time.perf_counter() - started, 1),
    }
    run_id = f"ft-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{cfg.seed}"
    root = finetune_root(ws)
    with atomic_dir(root / run_id) as tmp:
        tuned.save(str(tmp / "model"))
        provenance["model_id"] = f"ft-{file_digest(tmp / 'model' / 'model.safetensors')}"
        write_json(provenance, tmp / "model" / PROVENANCE)
        write_json({**provenance, "run_id": run_id}, tmp / REPORT)
    point_link(root / "latest", root / run_id)
    return root / run_id


def provenance_of(model_dir: Path) -> dict[str, Any] | None:
    """A fine-tuned model directory's provenance, None for any other model."""
    from embeddings.encoder import PROVENANCE
    from pipelines.storage.files import read_json

    path = Path(model_dir).expanduser() / PROVENANCE
    return read_json(path) if path.exists() else None
