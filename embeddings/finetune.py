"""Fine-tuning a sentence encoder on users' labels (pure: a model and arrays in, weights out).

Each training example is one text paired with its author's label at a cutoff it was written
before: standardised ``log1p(purchasing_power)`` (regression, MSE) or ``tier_next`` (classes,
cross-entropy), through a linear head on the mean-pooled sentence vector. Only the top
``train_layers`` transformer layers and the head learn (the 96M-parameter multilingual word
embeddings stay frozen: CPU-sized steps, and no drift of the vocabulary nobody saw). Early
stopping keeps the parameters of the epoch with the lowest validation loss; ``search`` runs a
small Optuna study over learning rate and epochs on the same data, seeded.

Since the lower layers never change, :func:`lower_states` runs them once per text (eval mode, no
padding) and every epoch, trial and later encoding runs only the top layers on those states
(:func:`top_vectors`): the frozen part of the network costs one pass per text in total. (Dropout
then acts in the learning layers only.)
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@dataclass(frozen=True)
class Examples:
    """Texts (already in the encoder's canonical form) and one target per text."""

    texts: list[str]
    targets: np.ndarray  # float (regression) or int class index
    states: list[Any] | None = None  # per text, the lower layers' output (see :func:`with_states`)


@dataclass(frozen=True)
class FitSettings:
    lr: float
    epochs: int
    n_classes: int = 0  # 0 = regression
    batch_size: int = 16
    max_tokens: int = 128
    train_layers: int = 2
    seed: int = 0


@dataclass
class FitResult:
    """The encoder's learnt parameters (names -> tensors) at the best epoch, and the losses."""

    state: dict[str, Any]
    best_epoch: int
    valid_loss: float
    history: list[dict[str, float]] = field(default_factory=list)


def split_layer(model: SentenceTransformer, train_layers: int) -> int:
    """Index of the first learning layer: the layers below it stay frozen."""
    return max(0, len(model[0].auto_model.encoder.layer) - train_layers)


def lower_states(model: SentenceTransformer, texts: list[str], kind: str, split_at: int,
                 max_tokens: int | None = None) -> list[Any]:
    """Per text, the float32 hidden states (tokens × dim) entering layer ``split_at``: the word
    embeddings and the frozen layers, eval mode, no gradients. Same-length texts run together,
    unpadded, as ``embeddings.encoder.encode`` feeds them; ``max_tokens`` truncates as the
    tokenizer does (the closing special token kept)."""
    import torch

    from embeddings.encoder import token_ids

    ids = token_ids(model, texts, kind) if texts else []
    if max_tokens:
        ids = [r if len(r) <= max_tokens else r[: max_tokens - 1] + r[-1:] for r in ids]
    bert, out = model[0].auto_model, [None] * len(ids)
    groups: dict[int, list[int]] = {}
    for i, row in enumerate(ids):
        groups.setdefault(len(row), []).append(i)
    model.eval()
    with torch.no_grad():
        for members in groups.values():
            for lo in range(0, len(members), 64):
                rows = members[lo:lo + 64]
                h = bert.embeddings(input_ids=torch.tensor([ids[i] for i in rows], device=model.device))
                for layer in bert.encoder.layer[:split_at]:
                    h = layer(h, None)
                for j, i in enumerate(rows):
                    out[i] = h[j].float().clone()
    return out


def top_forward(model: SentenceTransformer, states: list[Any], split_at: int) -> Any:
    """Sentence vectors (batch × dim tensor) from lower states: layers ``split_at`` and up, then
    the model's own pooling (and normalisation) modules; mixed lengths are padded and masked."""
    import torch
    from transformers.masking_utils import create_bidirectional_mask

    bert = model[0].auto_model
    lengths = torch.tensor([s.shape[0] for s in states])
    h = torch.nn.utils.rnn.pad_sequence(states, batch_first=True).to(model.device)
    mask = (torch.arange(h.shape[1])[None, :] < lengths[:, None]).long().to(model.device)
    ext = None if int(lengths.min()) == int(lengths.max()) else \
        create_bidirectional_mask(config=bert.config, inputs_embeds=h, attention_mask=mask)
    for layer in bert.encoder.layer[split_at:]:
        h = layer(h, ext)
    feats = {"token_embeddings": h, "attention_mask": mask}
    for module in list(model)[1:]:
        feats = module(feats)
    return feats["sentence_embedding"]


def top_vectors(model: SentenceTransformer, states: list[Any], split_at: int) -> np.ndarray:
    """Unit-length float32 vectors (n × dim) of texts from their lower states, in input order
    (same-length texts together, unpadded: equal to ``encode`` up to float rounding)."""
    import torch

    out = np.zeros((len(states), model.get_embedding_dimension()), dtype=np.float32)
    groups: dict[int, list[int]] = {}
    for i, st in enumerate(states):
        groups.setdefault(int(st.shape[0]), []).append(i)
    model.eval()
    with torch.no_grad():
        for members in groups.values():
            for lo in range(0, len(members), 64):
                rows = members[lo:lo + 64]
                out[rows] = top_forward(model, [states[i] for i in rows], split_at).float().cpu().numpy()
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def with_states(model: SentenceTransformer, ex: Examples, kind: str, split_at: int, max_tokens: int,
                bank: dict[str, Any] | None = None) -> Examples:
    """``ex`` with its lower states (truncated to ``max_tokens``); ``bank`` (text -> full-length
    states) supplies every text that needs no truncation, the rest are computed."""
    bank = bank or {}
    states = [bank.get(t) for t in ex.texts]
    states = [s if s is not None and s.shape[0] <= max_tokens else None for s in states]
    todo = sorted({t for t, s in zip(ex.texts, states) if s is None})
    fresh = dict(zip(todo, lower_states(model, todo, kind, split_at, max_tokens)))
    return Examples(ex.texts, ex.targets, [s if s is not None else fresh[t] for t, s in zip(ex.texts, states)])


def _trainable(model: SentenceTransformer, train_layers: int) -> list[str]:
    """Names of the parameters that learn: the top ``train_layers`` encoder layers (found by
    identity: sentence-transformers names the transformer ``auto_model`` or ``model``)."""
    layers = model[0].auto_model.encoder.layer
    learn = {id(p) for layer in layers[split_layer(model, train_layers):] for p in layer.parameters()}
    names = [n for n, p in model.named_parameters() if id(p) in learn]
    if not names:
        raise ValueError(f"no encoder layer parameters to fine-tune (train_layers={train_layers})")
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)
    return names


def _batches(ex: Examples, size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    order = rng.permutation(len(ex.texts)) if rng is not None else np.arange(len(ex.texts))
    return [order[i:i + size] for i in range(0, len(order), size)]


def _loss(model: SentenceTransformer, head: Any, ex: Examples, idx: np.ndarray, s: FitSettings, kind: str) -> Any:
    import torch

    if ex.states is not None:
        pred = head(top_forward(model, [ex.states[i] for i in idx], split_layer(model, s.train_layers)))
    else:
        prompt = (getattr(model, "prompts", None) or {}).get(kind, "") or ""
        feats = model.tokenizer([prompt + ex.texts[i] for i in idx], truncation=True, max_length=s.max_tokens,
                                padding=True, return_tensors="pt")
        feats = {k: v.to(model.device) for k, v in feats.items() if k in ("input_ids", "attention_mask")}
        pred = head(model(feats)["sentence_embedding"])
    if s.n_classes:
        target = torch.as_tensor(ex.targets[idx], dtype=torch.long, device=model.device)
        return torch.nn.functional.cross_entropy(pred, target)
    target = torch.as_tensor(ex.targets[idx], dtype=torch.float32, device=model.device)
    return torch.nn.functional.mse_loss(pred[:, 0], target)


def evaluate(model: SentenceTransformer, head: Any, ex: Examples, s: FitSettings, kind: str) -> float:
    """Mean loss over ``ex`` (weighted by batch size), no gradients, dropout off."""
    import torch

    model.eval()
    total = 0.0
    with torch.no_grad():
        for idx in _batches(ex, 64, None):
            total += float(_loss(model, head, ex, idx, s, kind)) * len(idx)
    return total / max(len(ex.texts), 1)


def fit(base: SentenceTransformer, train: Examples, valid: Examples, s: FitSettings,
        kind: str = "document") -> FitResult:
    """Fine-tune a copy of ``base`` for up to ``s.epochs`` epochs; keep the best validation epoch."""
    import torch

    torch.manual_seed(s.seed)
    model = copy.deepcopy(base).float()
    names = _trainable(model, s.train_layers)
    dim = model.get_embedding_dimension()
    head = torch.nn.Linear(dim, s.n_classes or 1).to(model.device)
    params = [p for n, p in model.named_parameters() if n in names] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=0.01)
    rng = np.random.default_rng(s.seed)
    best = FitResult({n: p.detach().clone() for n, p in model.named_parameters() if n in names}, 0,
                     evaluate(model, head, valid, s, kind))
    best.history.append({"epoch": 0, "valid_loss": best.valid_loss})
    for epoch in range(1, s.epochs + 1):
        model.train()
        for idx in _batches(train, s.batch_size, rng):
            opt.zero_grad()
            _loss(model, head, train, idx, s, kind).backward()
            opt.step()
        loss = evaluate(model, head, valid, s, kind)
        best.history.append({"epoch": epoch, "valid_loss": loss})
        if loss < best.valid_loss:
            best.state = {n: p.detach().clone() for n, p in model.named_parameters() if n in names}
            best.best_epoch, best.valid_loss = epoch, loss
        elif epoch - best.best_epoch >= 1:  # patience of one epoch: stop at the first worse one
            break
    return best


def apply_state(base: SentenceTransformer, state: dict[str, Any]) -> SentenceTransformer:
    """A copy of ``base`` with the fine-tuned parameters loaded (float32, eval mode)."""
    import torch

    model = copy.deepcopy(base).float()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in state:
                param.copy_(state[name])
            param.requires_grad_(False)
    return model.eval()


def search(base: SentenceTransformer, train: Examples, valid: Examples, trials: int, max_epochs: int,
           settings: FitSettings, kind: str = "document") -> tuple[FitResult, dict[str, Any]]:
    """A seeded Optuna (TPE) search over learning rate and epochs; returns the best fit and the study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    split_at = split_layer(base, settings.train_layers)
    if train.states is None or valid.states is None:  # the frozen layers run once, for every trial
        train, valid = (with_states(base, ex, kind, split_at, settings.max_tokens) for ex in (train, valid))
    kept: dict[str, Any] = {"fit": None, "trial": None}  # only the best trial's weights stay in memory

    def objective(trial: optuna.Trial) -> float:
        s = FitSettings(**{**settings.__dict__, "lr": trial.suggest_float("lr", 1e-5, 2e-4, log=True),
                           "epochs": trial.suggest_int("epochs", 1, max_epochs)})
        result = fit(base, train, valid, s, kind)
        if kept["fit"] is None or result.valid_loss < kept["fit"].valid_loss:
            kept.update(fit=result, trial=trial.number)
        trial.set_user_attr("best_epoch", result.best_epoch)
        return result.valid_loss if math.isfinite(result.valid_loss) else float("inf")

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=settings.seed))
    study.optimize(objective, n_trials=max(1, trials))
    best = kept["fit"]
    summary = {"best_params": study.best_params, "best_valid_loss": study.best_value,
               "trials": [{"number": t.number, "params": t.params, "valid_loss": t.value,
                           "best_epoch": t.user_attrs.get("best_epoch")} for t in study.trials]}
    return best, summary


def probe_score(train_x: np.ndarray, train_y: np.ndarray, valid_x: np.ndarray, valid_y: np.ndarray,
                n_classes: int) -> float:
    """Validation R² of a ridge probe (regression) or accuracy of a logistic one (classes) on
    fixed vectors; ``train_x is None``-free: pass zero-width arrays for the no-text baseline."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if train_x.shape[1] == 0:  # no text: the constant prediction
        if n_classes:
            return float(np.mean(valid_y == np.bincount(train_y.astype(int)).argmax()))
        return float(1.0 - np.mean((valid_y - train_y.mean()) ** 2) / max(np.var(valid_y), 1e-12))
    if n_classes:
        return float(LogisticRegression(max_iter=2000).fit(train_x, train_y).score(valid_x, valid_y))
    return float(Ridge(alpha=1.0).fit(train_x, train_y).score(valid_x, valid_y))
