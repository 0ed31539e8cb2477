"""How well each encoder's vectors carry sentiment: a 5-fold logistic probe, same run, same texts.

Corpora (real, public, labelled 1 positive / 0 negative; ``../shared/data/zh_reviews/``):
``waimai_10k`` (food delivery) and ``ChnSentiCorp_htl_all`` (hotels), each a stratified sample
of ``--n`` reviews; plus an English check: the simulator's English reviews, positive when the
rating is 4-5 and negative at 1-2 (3 left out). Every text is cleaned by the embedding job's
own cleaning and encoded as a review (``document``: E5's ``passage: ``). Probe: standardised
vectors -> logistic regression, 5-fold stratified accuracy, mean and std; the probe's C is chosen
by an inner 5-fold search on each training fold (``--c 1`` reproduces the first, fixed-C table).

    .venv/bin/python bench/text_quality.py                           # MiniLM vs the default, n=3000
    .venv/bin/python bench/text_quality.py --n 200 --models all-MiniLM-L6-v2 multilingual-e5-small
    .venv/bin/python bench/text_quality.py --models multilingual-e5-small data/runs/latest/encoder

The load average is printed beside each figure: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
ZH = REPO.parent / "shared" / "data" / "zh_reviews"
CORPORA = {"waimai_10k": ZH / "waimai_10k.csv", "ChnSentiCorp_htl": ZH / "ChnSentiCorp_htl_all.csv"}


def sample(texts: list[str], labels: np.ndarray, n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """A stratified sample of at most ``n`` (same class balance as the corpus)."""
    from sklearn.model_selection import train_test_split

    if n >= len(texts):
        return texts, labels
    idx, _ = train_test_split(np.arange(len(texts)), train_size=n, stratify=labels, random_state=seed)
    idx = np.sort(idx)
    return [texts[i] for i in idx], labels[idx]


def chinese(path: Path, n: int, seed: int) -> tuple[list[str], np.ndarray]:
    import pandas as pd

    if not path.is_file():
        raise SystemExit(f"missing corpus {path} (expected ../shared/data/zh_reviews beside the repo)")
    df = pd.read_csv(path).dropna(subset=["review"])
    return sample(df["review"].astype(str).tolist(), df["label"].to_numpy(int), n, seed)


def english(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Simulated English reviews labelled by their rating (4-5 positive, 1-2 negative)."""
    from pipelines.simulate.simulator import simulate

    reviews = simulate(max(200, n // 2), 365, seed)["reviews"]
    ascii_only = reviews["text"].astype(str).map(str.isascii)
    kept = reviews[ascii_only & reviews["rating"].notna() & (reviews["rating"] != 3)]
    return sample(kept["text"].astype(str).tolist(), (kept["rating"] >= 4).to_numpy(int), n, seed)


def clean(texts: list[str]) -> list[str]:
    """The embedding job's cleaning (NFKC, markup, PII, URLs, repeats); empty results kept as ''."""
    from embeddings.cleaning import clean_text

    return [clean_text(t)[0] for t in texts]


PROBE_CS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # C=1 alone overfits 384 standardised dims on ~1 600 rows


def probe(vectors: np.ndarray, labels: np.ndarray, seed: int, c: float | None = None) -> tuple[float, float]:
    """5-fold accuracy of standardised vectors -> logistic regression; C fixed when given, else
    chosen by an inner 5-fold search over ``PROBE_CS`` on each outer training fold only."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    head = (LogisticRegression(C=c, max_iter=2000) if c is not None
            else LogisticRegressionCV(Cs=list(PROBE_CS), cv=5, max_iter=2000))
    clf = make_pipeline(StandardScaler(), head)
    scores = cross_val_score(clf, vectors, labels, cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    return float(scores.mean()), float(scores.std())


def load(name: str):
    from pipelines.common.config import load_config
    from pipelines.storage.models import load_model

    return load_model(load_config(encoder__model=name, encoder__device="auto"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="texts per corpus (stratified sample)")
    parser.add_argument("--models", nargs="+", default=["all-MiniLM-L6-v2", "multilingual-e5-small"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--c", type=float, default=None, help="fixed probe C (default: inner 5-fold choice)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from embeddings.encoder import encode

    data = {name: chinese(path, args.n, args.seed) for name, path in CORPORA.items()}
    data["english_sim"] = english(args.n, args.seed)
    data = {k: (clean(t), y) for k, (t, y) in data.items()}
    print(f"sizes: {', '.join(f'{k} {len(y)} ({y.mean():.0%} positive)' for k, (_, y) in data.items())}")
    print(f"{'model':<40} {'corpus':<18} {'accuracy':>14} {'texts/s':>9}  load avg")
    for name in args.models:
        model = load(name)
        for corpus, (texts, labels) in data.items():
            start = time.perf_counter()
            vectors = encode(model, texts, "document")
            rate = len(texts) / max(time.perf_counter() - start, 1e-9)
            mean, std = probe(vectors, labels, args.seed, args.c)
            print(f"{name[-40:]:<40} {corpus:<18} {mean:>8.3f} ±{std:.3f} {rate:>9.1f}  "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
