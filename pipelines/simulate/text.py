"""Text side of the simulator: query vocabulary, review sentence banks, and the vectorised
samplers that turn a user's latent state into search queries and review texts.

A *text unit* is one query or one review sentence. With probability ``text_signal`` a unit is
*driven*: it speaks about taste (premium vs budget wording, chosen by ``sigmoid(taste_slope *
affluence)``) or, for a ``momentum_share`` of driven units, about where the user is heading
(upgrade vs cut-back wording, by ``sigmoid(taste_slope * momentum)``). Other units are drawn
from the latent-free pools (Zipf-popular queries, sentiment sentences that follow the rating).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from pipelines.simulate import vocab as V
from pipelines.simulate.noise import typo_variant
from pipelines.simulate.params import SimParams

LANGS = ("en", "zh")
CATEGORY_NAMES = tuple(c[0] for c in V.CATEGORIES)
DRIVEN_KINDS = ("premium", "budget", "up", "down")
QUERY_KINDS = ("any", *DRIVEN_KINDS)
REVIEW_KINDS = (*DRIVEN_KINDS, "pos", "neu", "neg")
N_REVIEW_PRODUCTS = max(len(v) for v in V.PRODUCTS_EN.values())


@dataclass(frozen=True)
class TextBank:
    """Strings in pools (lang, category, product slot, kind); pool ``p`` owns the cdf range
    ``(p, p + 1]``. Queries have one product slot; reviews one per product, so that all
    sentences of a review talk about the same product."""

    text: np.ndarray
    typo: np.ndarray
    cdf: np.ndarray
    kinds: tuple[str, ...]
    n_products: int

    def pool(self, lang: np.ndarray, category: np.ndarray, kind: np.ndarray, product: np.ndarray | int = 0
             ) -> np.ndarray:
        """Pool ids of per-event (language, category, kind, product slot) codes."""
        return ((lang * len(CATEGORY_NAMES) + category) * self.n_products + product) * len(self.kinds) + kind

    def sample(self, rng: np.random.Generator, pool: np.ndarray, typo_rate: float) -> np.ndarray:
        """One string per event from its pool; a ``typo_rate`` share gets the typo variant."""
        pos = np.searchsorted(self.cdf, pool + rng.random(len(pool)), side="right")
        pos = np.minimum(pos, len(self.cdf) - 1)
        return np.where(rng.random(len(pool)) < typo_rate, self.typo[pos], self.text[pos])


def _fill(templates: tuple[str, ...], products: tuple[str, ...], brands: tuple[str, ...]) -> list[str]:
    """Expand templates over products (and brands where the template names one)."""
    out: list[str] = []
    for tpl in templates:
        for prod in products:
            out.extend(tpl.format(p=prod, b=b) for b in (brands if "{b}" in tpl else brands[:1]))
    return list(dict.fromkeys(out))


def _zipf_weights(rng: np.random.Generator, n: int, n_head: int, exponent: float) -> np.ndarray:
    """Zipf weights where the first ``n_head`` entries take the top ranks in random order."""
    ranks = np.concatenate([rng.permutation(n_head), n_head + rng.permutation(n - n_head)]) + 1
    return ranks.astype(float) ** -exponent


def _assemble(pools: list[tuple[list[str], np.ndarray]], kinds: tuple[str, ...], n_products: int,
              seed: int) -> TextBank:
    """Concatenate pools into one searchable bank with a shifted cumulative distribution."""
    texts, cdfs = [], []
    for pid, (strings, weights) in enumerate(pools):
        cum = np.cumsum(weights) / weights.sum()
        cum[-1] = 1.0
        texts.extend(strings)
        cdfs.append(pid + cum)
    typo = {t: typo_variant(t, seed) for t in dict.fromkeys(texts)}
    return TextBank(np.array(texts, dtype=object), np.array([typo[t] for t in texts], dtype=object),
                    np.concatenate(cdfs), kinds, n_products)


def _query_pools(lang: str, cat: str, rng: np.random.Generator,
                 p: SimParams) -> list[tuple[list[str], np.ndarray]]:
    """The 'any' pool (all queries, Zipf) and one pool per driven kind, same popularity."""
    tpl = V.QUERY_TEMPLATES_EN if lang == "en" else V.QUERY_TEMPLATES_ZH
    prods = V.PRODUCTS_EN[cat] if lang == "en" else V.PRODUCTS_ZH[cat]
    brands = {"premium": V.PREMIUM_BRANDS[cat], "budget": V.BUDGET_BRANDS[cat]}
    by_kind = {k: _fill(tpl[k], prods, brands.get(k, ("",))) for k in ("neutral", *DRIVEN_KINDS)}
    head = list(prods)  # bare product names are the most popular queries
    rest = [q for k in by_kind for q in by_kind[k] if q not in head]
    everything = head + list(dict.fromkeys(rest))
    weight = dict(zip(everything, _zipf_weights(rng, len(everything), len(head), p.zipf_exponent)))
    pools = [(everything, np.array([weight[q] for q in everything]))]
    for kind in DRIVEN_KINDS:
        pools.append((by_kind[kind], np.array([weight[q] for q in by_kind[kind]])))
    return pools


def build_query_bank(rng: np.random.Generator, p: SimParams, seed: int) -> TextBank:
    """The generated query vocabulary of both languages, with seeded popularity ranks."""
    pools = [pool for lang in LANGS for cat in CATEGORY_NAMES for pool in _query_pools(lang, cat, rng, p)]
    return _assemble(pools, QUERY_KINDS, 1, seed)


def build_review_bank(seed: int) -> TextBank:
    """Review sentences per (language, category, product, kind), uniform within a pool."""
    pools = []
    for lang in LANGS:
        tpl = V.REVIEW_TEMPLATES_EN if lang == "en" else V.REVIEW_TEMPLATES_ZH
        for cat in CATEGORY_NAMES:
            prods = V.PRODUCTS_EN[cat] if lang == "en" else V.PRODUCTS_ZH[cat]
            brands = {"premium": V.PREMIUM_BRANDS[cat], "budget": V.BUDGET_BRANDS[cat]}
            for slot in range(N_REVIEW_PRODUCTS):
                for kind in REVIEW_KINDS:
                    strings = _fill(tpl[kind], (prods[slot % len(prods)],), brands.get(kind, ("",)))
                    pools.append((strings, np.ones(len(strings))))
    return _assemble(pools, REVIEW_KINDS, N_REVIEW_PRODUCTS, seed)


def driven_kind(rng: np.random.Generator, affluence: np.ndarray, momentum: np.ndarray,
                p: SimParams) -> tuple[np.ndarray, np.ndarray]:
    """Per text unit: is it driven by the latent state, and which driven kind (code in DRIVEN_KINDS)."""
    n = len(affluence)
    driven = rng.random(n) < p.text_signal
    about_momentum = rng.random(n) < p.momentum_share
    signal = np.where(about_momentum, momentum, affluence)
    positive = rng.random(n) < expit(p.taste_slope * signal)
    kind = np.where(about_momentum, np.where(positive, 2, 3), np.where(positive, 0, 1))
    return driven, kind


def search_texts(rng: np.random.Generator, bank: TextBank, affluence: np.ndarray, momentum: np.ndarray,
                 zh_user: np.ndarray, category: np.ndarray, p: SimParams) -> tuple[np.ndarray, np.ndarray]:
    """Queries for searches with the given per-event latent values; also returns the language code."""
    lang = (zh_user & (rng.random(len(category)) < p.zh_search_share)).astype(int)
    driven, kind = driven_kind(rng, affluence, momentum, p)
    query_kind = np.where(driven, kind + 1, 0)  # 0 = the latent-free 'any' pool
    return bank.sample(rng, bank.pool(lang, category, query_kind), p.typo_rate), lang


def review_texts(rng: np.random.Generator, bank: TextBank, affluence: np.ndarray, momentum: np.ndarray,
                 zh_user: np.ndarray, category: np.ndarray, rating: np.ndarray,
                 p: SimParams) -> tuple[np.ndarray, np.ndarray]:
    """Review bodies of 1-3 sentences; returns texts and the language code per review."""
    n = len(category)
    lang = (zh_user & (rng.random(n) < p.zh_review_share)).astype(int)
    n_slots = rng.choice([1, 2, 3], size=n, p=[0.3, 0.45, 0.25])
    sentiment = np.select([rating >= 4, rating == 3], [4, 5], default=6)
    product = rng.integers(N_REVIEW_PRODUCTS, size=n)
    sep = np.where(lang == 1, "，", " ")
    text = np.full(n, "", dtype=object)
    written: list[np.ndarray] = []
    for slot in range(3):
        driven, kind = driven_kind(rng, affluence, momentum, p)
        pool = bank.pool(lang, category, np.where(driven, kind, sentiment), product)
        pieces = bank.sample(rng, pool, p.typo_rate)
        use = (n_slots > slot) & np.all([pieces != w for w in written] or [True], axis=0)
        written.append(pieces)
        text = np.where(use & (slot > 0), text + sep, text)
        text = np.where(use, text + pieces, text)
    text = np.where(lang == 1, text + "。", text)
    return text, lang

