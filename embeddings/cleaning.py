"""Text cleaning: pure functions over strings and pandas Series.

PII redaction runs first and everywhere text is written (ingest, serving events), so no stage
ever persists an original email address, phone number or card number. ``clean_text`` is the full
normal form the embedding job encodes: NFKC, no markup, no URLs, PII as typed placeholders,
long character runs shortened, whitespace collapsed. Lengths are counted in characters (code
points, a wide CJK character counting twice), never bytes, so Chinese and mixed texts are
measured like English ones.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter

import pandas as pd

# Typed placeholders keep the signal ("this review mentions a phone") without the value.
PII_PLACEHOLDERS = {"email": "<EMAIL>", "card": "<CARD>", "phone": "<PHONE>"}

# ASCII local part and domain: a Unicode \w class would swallow the Chinese text glued to an
# address ("联系我john@qq.com").
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Card-like: 13-19 digits in one run, or 4-digit groups (4-4-4-1..7, Amex 4-6-5) split by space/dash.
_CARD = re.compile(r"(?<![\d+])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{5})(?!\d)")
# Phone candidates (validated by _is_phone): optional +country code and (area) code, then digit
# groups with single separators. The look-behind only excludes ASCII letters/digits, so a number
# glued to Chinese text ("电话13812345678") is still found.
_PHONE = re.compile(r"(?<![A-Za-z0-9+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d+(?:[ .-]\d+){0,4}(?!\d)")
_DATE = re.compile(r"\d{4}[-.]\d{1,2}[-.]\d{1,2}|\d{1,2}[-.]\d{1,2}[-.]\d{4}")
_YEARS = re.compile(r"(?:19|20)\d\d[ -](?:19|20)\d\d")
_THOUSANDS = re.compile(r"\d{1,3}(?:[ .]\d{3})+")


def _is_phone(candidate: str) -> bool:
    """Tell a phone number from prices, years, dates and thousands-grouped amounts."""
    digits = sum(ch.isdigit() for ch in candidate)
    if not 7 <= digits <= 15:
        return False
    if _DATE.fullmatch(candidate) or _YEARS.fullmatch(candidate) or _THOUSANDS.fullmatch(candidate):
        return False
    grouped = bool(re.search(r"[ .()+-]", candidate))
    # A bare run of digits is a phone only at mobile/intl length (CN mobile = 11, US = 10).
    return grouped or digits >= 10


def _redact_phones(text: str) -> tuple[str, int]:
    n = 0

    def swap(match: re.Match) -> str:
        nonlocal n
        if _is_phone(match.group(0)):
            n += 1
            return PII_PLACEHOLDERS["phone"]
        return match.group(0)

    return _PHONE.sub(swap, text), n


def redact_pii(text: str) -> tuple[str, Counter]:
    """Replace emails, card-like digit runs and phone numbers with typed placeholders."""
    counts: Counter = Counter()
    text = unicodedata.normalize("NFKC", text)
    for kind, pattern in (("email", _EMAIL), ("card", _CARD)):
        text, n = pattern.subn(PII_PLACEHOLDERS[kind], text)
        if n:
            counts[kind] += n
    text, n = _redact_phones(text)
    if n:
        counts["phone"] += n
    return text, counts


def redact_series(texts: pd.Series) -> tuple[pd.Series, dict[str, int]]:
    """Redact PII in every non-null string of ``texts``; returns the new Series and counts by type."""
    total: Counter = Counter()
    values = []
    for value in texts.tolist():  # one list, one Series: element-wise assignment was the hot spot
        if isinstance(value, str):
            value, counts = redact_pii(value)
            total.update(counts)
        values.append(value)
    return pd.Series(values, index=texts.index, dtype=object), {k: int(total.get(k, 0)) for k in PII_PLACEHOLDERS}


_PLACEHOLDER_NAMES = "|".join(p.strip("<>") for p in PII_PLACEHOLDERS.values())
_BLOCKS = re.compile(r"<!--.*?-->|<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# Any tag except our own placeholders, which look like tags.
_TAG = re.compile(rf"</?(?!(?:{_PLACEHOLDER_NAMES})>)[A-Za-z][^<>]*>")
_TLDS = "com|net|org|info|biz|io|co|me|ly|cn|uk|de|fr|jp|ru|shop|top|xyz|site|online|example"
URL = re.compile(rf"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"
                 rf"|(?<![A-Za-z0-9.@-])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:{_TLDS})(?![A-Za-z0-9-])"
                 rf"(?:/[A-Za-z0-9\-._~/?#=&%+]*)?",
                 re.IGNORECASE)
# Three or more of the same character (digits excepted: 1000000 is a number, not emphasis).
_RUN = re.compile(r"([^\d\s])\1{2,}")
_SPACE = re.compile(r"\s+")


def strip_markup(text: str) -> str:
    """Drop HTML comments, script/style blocks and tags, decode entities (&amp; -> &), and drop
    the tags that decoding revealed (double-escaped markup)."""
    text = html.unescape(_TAG.sub(" ", _BLOCKS.sub(" ", text)))
    return _TAG.sub(" ", text)


def redact_markup(text: str) -> tuple[str, Counter]:
    """First half of :func:`clean_text`: NFKC, markup stripped, PII redacted (URLs still there).

    Spam rules read this form: links and symbol runs are signals the second half removes.
    """
    return redact_pii(strip_markup(unicodedata.normalize("NFKC", text)))


def finish_clean(text: str) -> str:
    """Second half of :func:`clean_text`: URLs out, character runs shortened, whitespace collapsed."""
    text = URL.sub(" ", text)
    text = _RUN.sub(r"\1\1", text)
    return _SPACE.sub(" ", text).strip()


def clean_text(text: str) -> tuple[str, Counter]:
    """The normal form the embedding job encodes, and the PII found on the way (by type).

    Order matters: markup first (tags are not words), then PII (before URL removal, so an
    address inside a link is still counted), then URLs, character runs ("soooooo" -> "soo")
    and whitespace.
    """
    text, counts = redact_markup(text)
    return finish_clean(text), counts


def text_length(text: str) -> int:
    """Length in characters, a wide (CJK, full-width) character counting as two.

    Code points, not bytes; the double weight of wide characters keeps two-character Chinese
    words such as 香水 (perfume) above the usual minimum of 3, where "ok" is not.
    """
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def count_placeholders(texts: pd.Series) -> dict[str, int]:
    """Occurrences of each PII placeholder in ``texts`` (redacted here or before, e.g. on ingest)."""
    s = texts.astype(object).fillna("").astype(str)
    return {kind: int(s.str.count(re.escape(ph)).sum()) for kind, ph in PII_PLACEHOLDERS.items()}
