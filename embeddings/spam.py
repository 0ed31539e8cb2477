"""Spam and ad flags for review and search texts (pure, no I/O).

Rules, first match wins (``SPAM_REASONS`` order):

* ``promo``: a call to action or ad phrase in English or Chinese ("click here", "use code",
  "DM me", "加微信", ...). Shoppers' own words about deals ("used a discount code", "coupon
  code" in a search) are not ads and stay;
* ``link``: a URL or bare shop domain - genuine reviews and searches do not carry links;
* ``symbols``: a run of ``SYMBOL_RUN`` or more symbol characters ("$$$$$$", "###...", emoji
  walls), sentence punctuation excepted so that "Love it!!!!!!" stays;
* ``duplicate``: the same cleaned text of at least ``spam_min_chars`` characters posted by at least
  ``spam_min_users`` distinct users (copy-paste campaigns). Short texts repeat naturally ("Love it!").

Content rules read the text after NFKC, markup removal and PII redaction, before URLs and
character runs are cleaned away; the duplicate rule reads the final cleaned text.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from embeddings.cleaning import URL

SPAM_REASONS = ("promo", "link", "symbols", "duplicate")
SYMBOL_RUN = 6

_PROMO_EN = (r"buy now|order now|act now|click (?:here|the link|below|now)|limited[- ]time offer"
             r"|use (?:my )?code|free (?:gift|iphone|followers)|(?:make|earn) \$?\d[\d,]*"
             r"|(?:visit|follow) (?:my|our) (?:shop|store|site|website|page|channel)"
             r"|(?:dm|whatsapp|telegram|wechat) (?:me|us)|add me on|replica|followers|casino|crypto")
_PROMO_ZH = r"加微信|加v信|加V|微信号|wx_|vx_|代购|领优惠券|领券|点击链接|刷单|兼职|私聊|扫码加|扫码领|免费领取"
PROMO = re.compile(rf"(?<![A-Za-z])(?:{_PROMO_EN})(?![A-Za-z])|{_PROMO_ZH}", re.IGNORECASE)
# Neither word characters (any script), spaces, nor ordinary sentence punctuation. The tilde
# (full-width ～ becomes ~ under NFKC) is expressive punctuation in Chinese reviews ("好吃～～～");
# on the real hotel/delivery corpora it was most of this rule's false flags.
_SYMBOLS = re.compile(rf"[^\w\s.,!?;:'\"…。，！？、；：()（）\-~]{{{SYMBOL_RUN},}}")


def content_flag(text: str) -> str | None:
    """The content rule ``text`` breaks (``promo``, ``link``, ``symbols``), or None."""
    if PROMO.search(text):
        return "promo"
    if URL.search(text):
        return "link"
    if _SYMBOLS.search(text):
        return "symbols"
    return None


def duplicate_mask(clean: pd.Series, users: pd.Series, eligible: pd.Series, min_users: int) -> pd.Series:
    """True where an eligible text is shared by ``min_users`` or more distinct users.

    The caller decides eligibility (not dropped or flagged yet, and long enough).
    """
    frame = pd.DataFrame({"text": clean.to_numpy(dtype=object), "user": users.to_numpy(dtype=object)})
    candidate = eligible.to_numpy(dtype=bool)
    n_users = frame[candidate].groupby("text")["user"].nunique()
    shared = n_users.index[n_users >= min_users]
    hit = candidate & frame["text"].isin(shared).to_numpy()
    return pd.Series(np.asarray(hit, dtype=bool), index=clean.index)
