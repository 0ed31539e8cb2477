"""Identifiers (user, order, review, search ids): one normal form and one length limit, shared by
ingest and serving, so that every accepted id can be scored and looked up.

NFKC folds compatibility forms (full-width ``ｕ１`` is ``u1``); zero-width and other invisible
format characters are removed (``u\u200b1`` is ``u1``): two ids that look the same are the same.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

import pandas as pd
from pydantic import AfterValidator, Field

MAX_ID_CHARS = 256  # the serving request limit too: a longer id could never be scored
# Zero-width space/joiners, directional marks, word joiner and invisible operators, BOM, soft hyphen.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def normalise_id(value: str) -> str:
    """NFKC, then invisible format characters removed."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", value))


def normalise_ids(values: pd.Series) -> pd.Series:
    """:func:`normalise_id` on every non-null value (nullable strings in, nullable strings out);
    the common all-ASCII case is left untouched, which is most of the cost."""
    text = values.astype("string")
    odd = text.str.contains(r"[^\x20-\x7e]", regex=True).fillna(False).to_numpy(bool)
    if odd.any():
        text = text.copy()
        text[odd] = text[odd].map(normalise_id)
    return text


# The request field type of serving (predict and events): normalised, then limited like ingest.
IdStr = Annotated[str, AfterValidator(normalise_id), Field(min_length=1, max_length=MAX_ID_CHARS)]
