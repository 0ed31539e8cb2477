"""Noise the simulator puts into texts: typos, PII, spam/ads and careless casing.

All of it is independent of the user's latent state, so it only makes the text harder to use.
"""

from __future__ import annotations

import string
import zlib

import numpy as np
import pandas as pd

from pipelines.simulate import vocab as V

_NEIGHBOURS = {"a": "s", "e": "r", "i": "o", "o": "p", "n": "m", "t": "y", "s": "d", "r": "t", "l": "k",
               "c": "v", "u": "i", "h": "j", "m": "n", "p": "o", "d": "f"}


def stable_seed(text: str, seed: int) -> int:
    """A platform-independent per-string seed (Python's hash() is salted per process)."""
    return zlib.crc32(text.encode("utf-8")) ^ (seed & 0xFFFFFFFF)


def typo_variant(text: str, seed: int) -> str:
    """The one misspelling of ``text`` (swap, drop, double or fat-finger a letter of a long word).

    Deterministic per string, so a misspelt popular query repeats across users like real ones do.
    """
    rng = np.random.default_rng(stable_seed(text, seed))
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) >= 4 and w.isascii() and w.isalpha()]
    if not long_words:
        return text
    i = long_words[int(rng.integers(len(long_words)))]
    w, j = words[i], int(rng.integers(1, len(words[i]) - 1))
    op = int(rng.integers(4))
    if op == 0:
        w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1:]
    elif op == 1:
        w = w[:j] + w[j + 1:]
    elif op == 2:
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[:j] + _NEIGHBOURS.get(w[j].lower(), "e") + w[j + 1:]
    words[i] = w
    return " ".join(words)


def _digits(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``n`` zero-padded random ``k``-digit strings."""
    return pd.Series(rng.integers(0, 10**k, n)).astype(str).str.zfill(k).to_numpy(dtype=object)


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    return np.array(options, dtype=object)[rng.integers(len(options), size=n)]


def emails(rng: np.random.Generator, n: int) -> np.ndarray:
    """Plausible personal email addresses."""
    num = np.where(rng.random(n) < 0.6, _digits(rng, n, 2), "")
    sep = _pick(rng, (".", "_", ""), n)
    return (_pick(rng, V.FIRST_NAMES, n) + sep + _pick(rng, V.LAST_NAMES, n) + num + "@"
            + _pick(rng, V.EMAIL_DOMAINS, n))


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """Phone numbers in CN (with and without dashes), US, UK and bracketed local formats."""
    cn = "1" + _pick(rng, ("3", "5", "8"), n) + _digits(rng, n, 1)
    a, b = _digits(rng, n, 4), _digits(rng, n, 4)
    formats = np.stack([cn + a + b, cn + "-" + a + "-" + b, "+1 " + _digits(rng, n, 3) + "-555-" + a,
                        "+44 20 " + a + " " + b, "(" + _digits(rng, n, 3) + ") 555 " + b])
    return formats[rng.integers(len(formats), size=n), np.arange(n)]


def cards(rng: np.random.Generator, n: int) -> np.ndarray:
    """Card-like 16-digit numbers grouped by spaces or dashes."""
    sep = _pick(rng, (" ", "-"), n)
    head = _pick(rng, ("4", "5"), n) + _digits(rng, n, 3)
    return head + sep + _digits(rng, n, 4) + sep + _digits(rng, n, 4) + sep + _digits(rng, n, 4)


def pii_sentences(rng: np.random.Generator, templates: tuple[str, ...], n: int) -> np.ndarray:
    """``n`` sentences, each a random template with its one {email}/{phone}/{card} filled in."""
    out = np.empty(n, dtype=object)
    choice = rng.integers(len(templates), size=n)
    makers = {"email": emails, "phone": phones, "card": cards}
    for t, tpl in enumerate(templates):
        rows = np.flatnonzero(choice == t)
        parts = list(string.Formatter().parse(tpl))
        prefix, field = parts[0][0], str(parts[0][1])
        suffix = "".join(p[0] for p in parts[1:])
        out[rows] = prefix + makers[field](rng, len(rows)) + suffix
    return out


def spam_texts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Ads: mostly identical texts shared by many accounts (Zipf over the pool), some with codes."""
    ads = np.array(V.SPAM_REVIEWS, dtype=object)
    w = 1.0 / np.arange(1, len(ads) + 1)
    chosen = ads[rng.choice(len(ads), size=n, p=w / w.sum())]
    code = "VIP" + _digits(rng, n, 3)
    head, mid, tail = V.SPAM_CODE_TEMPLATE.split("{code}")
    coded = head + code + mid + code + tail
    return np.where(rng.random(n) < 0.25, coded, chosen)


def careless_case(rng: np.random.Generator, texts: np.ndarray, english: np.ndarray) -> np.ndarray:
    """Lower-case ~8% and SHOUT ~3% of English texts."""
    u = rng.random(len(texts))
    out = texts.copy()
    low, loud = english & (u < 0.08), english & (u >= 0.08) & (u < 0.11)
    out[low] = pd.Series(texts[low], dtype=object).str.lower().to_numpy(dtype=object)
    out[loud] = (pd.Series(texts[loud], dtype=object).str.upper() + "!!!").to_numpy(dtype=object)
    return out
