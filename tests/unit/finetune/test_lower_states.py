"""The fine-tune's split forward pass (frozen layers once, learning layers on their states) with the
real offline MiniLM: it gives the encoder's own vectors, padded or not, and a fitted model's
vectors from states equal a full re-encode with the fitted weights."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.encoder import encode
from embeddings.finetune import (Examples, FitSettings, apply_state, fit, lower_states, split_layer, top_forward, top_vectors,
                                 with_states)
from tests.support.embed_data import real_model

TEXTS = ["wireless headphones", "质量很好，物超所值。", "Battery died after two weeks and support never answered.",
         "ok", "great value", "the box arrived damaged but the phone works"]


@pytest.fixture(scope="module")
def model():
    return real_model()


def test_states_then_top_layers_equal_encode(model) -> None:
    import torch

    k = split_layer(model, 2)
    states = lower_states(model, TEXTS, "document", k)
    np.testing.assert_allclose(top_vectors(model, states, k), encode(model, TEXTS, "document"), atol=1e-5)
    with torch.no_grad():  # one padded, masked batch of mixed lengths gives the same vectors
        padded = top_forward(model, states, k).numpy()
    padded /= np.linalg.norm(padded, axis=1, keepdims=True)
    np.testing.assert_allclose(padded, encode(model, TEXTS, "document"), atol=1e-5)


def test_truncation_keeps_the_closing_token_and_the_bank_is_reused(model) -> None:
    k = split_layer(model, 2)
    full = lower_states(model, TEXTS, "document", k)
    ex = with_states(model, Examples(TEXTS, np.zeros(len(TEXTS))), "document", k, 6, dict(zip(TEXTS, full)))
    assert max(s.shape[0] for s in ex.states) == 6
    short = [i for i, s in enumerate(full) if s.shape[0] <= 6]
    assert short and all(ex.states[i] is full[i] for i in short)  # taken from the bank, not recomputed
    ids = model.tokenizer(TEXTS[2], truncation=True, max_length=6)["input_ids"]
    np.testing.assert_allclose(ex.states[2].numpy(), _states_of_ids(model, ids, k), atol=1e-5)


def test_fitting_changes_the_top_layers_only(model) -> None:
    k = split_layer(model, 1)
    ex = with_states(model, Examples(TEXTS, np.linspace(-1, 1, len(TEXTS))), "document", k, 64)
    result = fit(model, ex, ex, FitSettings(lr=5e-3, epochs=2, batch_size=3, max_tokens=64, train_layers=1))
    learnt = {id(p) for p in model[0].auto_model.encoder.layer[k].parameters()}
    names = {n for n, p in model.named_parameters() if id(p) in learnt}
    assert result.best_epoch > 0 and set(result.state) == names  # the last layer learnt, nothing else


def _states_of_ids(model, ids: list[int], k: int) -> np.ndarray:
    import torch

    bert = model[0].auto_model
    with torch.no_grad():
        h = bert.embeddings(input_ids=torch.tensor([ids]))
        for layer in bert.encoder.layer[:k]:
            h = layer(h, None)
    return h[0].numpy()


def test_changed_top_layers_give_the_same_vectors_from_states_as_a_full_encode(model) -> None:
    k = split_layer(model, 2)
    top = {id(p) for layer in model[0].auto_model.encoder.layer[k:] for p in layer.parameters()}
    state = {n: p.detach() + 0.02 for n, p in model.named_parameters() if id(p) in top}
    assert state
    tuned = apply_state(model, state)
    from_states = top_vectors(tuned, lower_states(model, TEXTS, "document", k), k)
    np.testing.assert_allclose(from_states, encode(tuned, TEXTS, "document"), atol=1e-5)
    assert np.abs(from_states - encode(model, TEXTS, "document")).max() > 1e-3  # the weights did change
