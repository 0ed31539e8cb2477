"""Fine-tuning a sentence encoder on users' labels (pure: a model and arrays in, weights out).

Each training example is one text paired with its author's label at a cutoff it was written
before: standardised ``log1p(purchasing_power)`` (regression, MSE) or ``tier_next`` (classes,
cross-entropy), through a linear head on the mean-pooled sentence vector. Only the top
``train_layers`` transformer layers and the head learn (the 96M-parameter multilingual word
embeddings stay frozen: CPU-sized steps, and no drift of the vocabulary nobody saw). Early
stopping keeps the parameters of the epoch with the lowest validation loss; ``search`` runs a
small Optuna study over learning rate and epochs on the same data, seeded.
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


def _trainable(model: SentenceTransformer, train_layers: int) -> list[str]:
    """Names of the parameters that learn: the top ``train_layers`` encoder layers."""
    bert = model[0].auto_model
    n_layers = len(bert.encoder.layer)
    prefixes = tuple(f"0.auto_model.encoder.layer.{i}." for i in range(max(0, n_layers - train_layers), n_layers))
    names = [n for n, _ in model.named_parameters() if n.startswith(prefixes)]
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)
    return names


def _batches(ex: Examples, size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    order = rng.permutation(len(ex.texts)) if rng is not None else np.arange(len(ex.texts))
    return [order[i:i + size] for i in range(0, len(order), size)]


def _loss(model: SentenceTransformer, head: Any, ex: Examples, idx: np.ndarray, s: FitSettings, kind: str) -> Any:
    import torch

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
