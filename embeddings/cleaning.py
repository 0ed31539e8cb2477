"""Text cleaning: pure functions over strings and pandas Series.

PII redaction runs first and everywhere text is written (ingest, serving events, the embedding
job), always through :func:`redact_pii`, which *normalises first, then redacts*: NFKC, HTML
entities and percent-encoding decoded, markup stripped (repeated until stable, so double-escaped
``&amp;#64;`` or ``%2540`` are caught too), and only then the patterns run. Redacting first would
miss ``bob&#64;gmail.com`` or ``bob<span>@</span>gmail.com``, which decode to addresses later.
Kinds: emails (also spelled out: ``bob at gmail dot com``), IBANs (mod-97 checked, plain or in
groups of four), Chinese 18-digit ID numbers (X check digit too), card numbers, IP addresses
(v4 and v6, checked by ``ipaddress``), street addresses (English, German, Chinese forms) and
phone numbers. ``clean_text`` is the full normal form the embedding job encodes: the above, then
no URLs, long character runs shortened, whitespace collapsed. Lengths are counted in characters
(code points, a wide CJK character counting twice), never bytes.
"""

from __future__ import annotations

import html
import ipaddress
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from urllib.parse import unquote

import pandas as pd

# Typed placeholders keep the signal ("this review mentions a phone") without the value.
PII_PLACEHOLDERS = {"email": "<EMAIL>", "card": "<CARD>", "phone": "<PHONE>", "iban": "<IBAN>",
                    "national_id": "<ID>", "ip": "<IP>", "address": "<ADDRESS>"}

# Spelled-out separators ("bob at gmail dot com", "bob [at] gmail (dot) com"); a lone " at "
# followed by a domain-looking word is redacted too: a rare false positive ("look at shop.com")
# costs a word, a miss leaks an address.
_AT = r"(?: ?@ ?|\s*[(\[{]\s*at\s*[)\]}]\s*|\s+at\s+)"
_DOT_WORD = r"(?:\s*[(\[{]\s*dot\s*[)\]}]\s*|\s+dot\s+)"
_SPELLED_TLDS = "com|net|org|edu|gov|info|biz|io|co|me|cn|uk|de|fr|jp|ru|nl|es|it|us|ca|au|hk|tw"
# ASCII local part and domain: a Unicode \w class would swallow the Chinese text glued to an
# address ("联系我john@qq.com").
_EMAIL = re.compile(
    rf"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+{_AT}[A-Za-z0-9-]+"
    rf"(?:(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{{2,}}(?![A-Za-z0-9-])"
    rf"|(?:{_DOT_WORD}[A-Za-z0-9-]+)*{_DOT_WORD}(?:{_SPELLED_TLDS})(?![A-Za-z0-9-]))",
    re.IGNORECASE)
# IBAN: country code, 2 check digits, 11-30 alphanumerics, optionally in groups of 4 (validated).
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])",
                   re.IGNORECASE)
# Chinese resident ID: 6-digit region, birth date YYYYMMDD, 3-digit sequence, check digit 0-9/X.
_CN_ID = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                    r"(?![0-9A-Za-z])")
# Card-like: 13-19 digits in one run, or 4-digit groups (4-4-4-1..7, Amex 4-6-5) split by space/dash.
_CARD = re.compile(r"(?<![\d+])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{5})(?!\d)")
# IP candidates, validated by ``ipaddress`` (v6 also with an embedded v4 tail or a zone).
_IPV6 = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|\d{1,3}(?:\.\d{1,3}){3})"
                   r"(?:%[0-9A-Za-z]+)?(?![0-9A-Za-z:])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]|\.\d)")
# Street addresses: "221B Baker Street", "1600 Pennsylvania Ave NW" (capitalised names, any
# suffix), "12 oak street" (lower case: only full suffix words, at most two name words, since
# "3 more on the way" is not an address), "Hauptstraße 5", "建国路88号".
_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace"
           r"|Square|Sq|Parkway|Pkwy|Highway|Hwy|Close|Crescent|Alley)\b\.?")
_ADDRESS = re.compile(
    rf"(?<![\w])\d{{1,5}}[A-Za-z]?,? (?:[A-Z][A-Za-z'-]* ){{1,4}}{_SUFFIX}(?: (?:NW|NE|SW|SE|N|S|E|W)\b)?"
    r"|(?<![\w])\d{1,5}[a-z]? (?:[a-z]+ ){1,2}(?:street|avenue|road|boulevard|lane|drive)\b"
    r"|(?<![\w])[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|platz|gasse|allee) \d{1,4}[a-z]?(?![\w])"
    r"|[\u4e00-\u9fff]{1,12}(?:路|街|大道|巷|胡同|弄)\d{1,5}[号號](?:\d{1,5}(?:室|楼|栋|单元|號))*")
# Phone candidates (validated by _is_phone): optional +country code and (area) code, then digit
# groups with single separators. The look-behind only excludes ASCII letters/digits, so a number
# glued to Chinese text ("电话13812345678") is still found.
_PHONE = re.compile(r"(?<![A-Za-z0-9+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d+(?:[ .-]\d+){0,4}(?!\d)")
_DATE = re.compile(r"\d{4}[-.]\d{1,2}[-.]\d{1,2}|\d{1,2}[-.]\d{1,2}[-.]\d{4}")
_YEARS = re.compile(r"(?:19|20)\d\d[ -](?:19|20)\d\d")
_THOUSANDS = re.compile(r"\d{1,3}(?:[ .]\d{3})+")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


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


def _iban_ok(compact: str) -> bool:
    """ISO 13616 mod-97 check (country code and check digits moved to the end)."""
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved.upper())) % 97 == 1


def _iban_prefix(candidate: str) -> str | None:
    """The longest leading run of ``candidate``'s groups that is a valid IBAN (the pattern may have
    taken a following word of four letters as one more group)."""
    groups = candidate.split(" ") if " " in candidate else [candidate]
    for n in range(len(groups), 0, -1):
        part = " ".join(groups[:n])
        if _iban_ok(part.replace(" ", "")):
            return part
    return None


def _ip_ok(candidate: str) -> bool:
    """A real IPv6 address that does not read like a time ("12::30") or an IPv4 address."""
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if "." in candidate and ":" not in candidate:
        return True
    groups = [g for g in candidate.split("%")[0].split(":") if g]
    return len(groups) >= 4 or any(len(g) >= 3 or not g.isdigit() for g in groups)


def _replace(pattern: re.Pattern, kind: str, text: str, counts: Counter,
             keep: Callable[[str], str | None] | None = None) -> str:
    """Replace each match of ``pattern`` by the placeholder of ``kind`` and count it; ``keep``
    returns the part of a match that is PII (None: not PII, the match stays as it was)."""

    def swap(match: re.Match) -> str:
        found = match.group(0) if keep is None else keep(match.group(0))
        if not found:
            return match.group(0)
        counts[kind] += 1
        return PII_PLACEHOLDERS[kind] + match.group(0)[len(found):]

    return pattern.sub(swap, text)


# Order matters: emails before IPs/phones (digits inside addresses), IBANs and ID numbers before
# cards (both are long digit runs), IPs before phones ("192.168.1.10" has phone-like groups).
_PASSES: tuple[tuple[re.Pattern, str, Callable[[str], str | None] | None], ...] = (
    (_EMAIL, "email", None),
    (_IBAN, "iban", _iban_prefix),
    (_CN_ID, "national_id", None),
    (_CARD, "card", None),
    (_IPV6, "ip", lambda c: c if ":" in c and _ip_ok(c) else None),
    (_IPV4, "ip", lambda c: c if _ip_ok(c) else None),
    (_ADDRESS, "address", None),
    (_PHONE, "phone", lambda c: c if _is_phone(c) else None),
)


def _decode_once(text: str) -> str:
    """One round of entity and percent decoding, then markup stripping."""
    text = html.unescape(text)
    if _PERCENT.search(text):
        text = unquote(text, errors="replace")
    return _TAG.sub(" ", _BLOCKS.sub(" ", text))


def normalise_text(text: str) -> str:
    """NFKC, HTML entities and percent-escapes decoded, markup stripped, until nothing changes
    (at most 4 rounds: ``&amp;amp;#64;`` needs three), then NFKC again (decoding can reveal
    full-width forms). The form every redaction reads."""
    text = unicodedata.normalize("NFKC", text)
    for _ in range(4):
        decoded = _decode_once(text)
        if decoded == text:
            break
        text = decoded
    return unicodedata.normalize("NFKC", text)


def redact_pii(text: str) -> tuple[str, Counter]:
    """The one PII function of the code base: :func:`normalise_text`, then every kind of
    ``PII_PLACEHOLDERS`` replaced by its placeholder. Returns the text and counts by kind."""
    counts: Counter = Counter()
    text = normalise_text(text)
    for pattern, kind, keep in _PASSES:
        text = _replace(pattern, kind, text, counts, keep)
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


def finish_clean(text: str) -> str:
    """Second half of :func:`clean_text`: URLs out, character runs shortened, whitespace collapsed."""
    text = URL.sub(" ", text)
    text = _RUN.sub(r"\1\1", text)
    return _SPACE.sub(" ", text).strip()


def clean_text(text: str) -> tuple[str, Counter]:
    """The normal form the embedding job encodes, and the PII found on the way (by type).

    Order matters: normalisation and PII first (:func:`redact_pii`; before URL removal, so an
    address inside a link is still counted), then URLs, character runs ("soooooo" -> "soo")
    and whitespace.
    """
    text, counts = redact_pii(text)
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
