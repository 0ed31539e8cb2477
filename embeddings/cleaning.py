"""Text cleaning: pure functions over strings and pandas Series.

PII redaction runs first and everywhere text is written (ingest, serving events), so no stage
ever persists an original email address, phone number or card number.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import pandas as pd

# Typed placeholders keep the signal ("this review mentions a phone") without the value.
PII_PLACEHOLDERS = {"email": "<EMAIL>", "card": "<CARD>", "phone": "<PHONE>"}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# Card-like: 13-19 digits, optionally grouped by spaces or dashes. Checked before phones.
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# Phone: optional +country code, 7-15 digits with common separators (covers CN 1xx-xxxx-xxxx).
_PHONE = re.compile(r"(?<![\w])(?:\+?\d{1,3}[ .-]?)?(?:\(?\d{2,4}\)?[ .-]?)?\d{3,4}[ .-]?\d{3,4}(?!\d)")


def redact_pii(text: str) -> tuple[str, Counter]:
    """Replace emails, card-like digit runs and phone numbers with typed placeholders."""
    counts: Counter = Counter()
    text = unicodedata.normalize("NFKC", text)
    for kind, pattern in (("email", _EMAIL), ("card", _CARD), ("phone", _PHONE)):
        text, n = pattern.subn(PII_PLACEHOLDERS[kind], text)
        if n:
            counts[kind] += n
    return text, counts


def redact_series(texts: pd.Series) -> tuple[pd.Series, dict[str, int]]:
    """Redact PII in every non-null string of ``texts``; returns the new Series and counts by type."""
    total: Counter = Counter()
    out = texts.astype(object).copy()
    for idx, value in texts.items():
        if isinstance(value, str):
            out[idx], counts = redact_pii(value)
            total.update(counts)
    return out, {k: int(total.get(k, 0)) for k in PII_PLACEHOLDERS}
