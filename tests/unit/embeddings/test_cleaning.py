"""Text cleaning, PII redaction and spam flags (pure functions, no model)."""

from __future__ import annotations

import pandas as pd
import pytest

from embeddings.cleaning import clean_text, normalise_text, redact_pii, redact_series, text_length
from embeddings.prepare import merge_stats, prepare_texts
from embeddings.spam import content_flag
from embeddings.cleaning import PII_PLACEHOLDERS

NO_PII = dict.fromkeys(PII_PLACEHOLDERS, 0)

RULES = {"min_chars": 3, "spam_min_users": 3, "spam_min_chars": 20}


@pytest.mark.parametrize("text, kind, secret", [
    ("mail me at john.smith42@gmail.com please", "email", "john.smith42@gmail.com"),
    ("call 138-1234-5678 now", "phone", "138-1234-5678"),
    ("call 13812345678 now", "phone", "13812345678"),
    ("call +1 415-555-0134 now", "phone", "+1 415-555-0134"),
    ("call +44 20 1234 5678 now", "phone", "+44 20 1234 5678"),
    ("call (020) 555 1234 now", "phone", "(020) 555 1234"),
    ("card 4111 1111 1111 1111 charged", "card", "4111 1111 1111 1111"),
    ("card 5500-0000-0000-0004 charged", "card", "5500-0000-0000-0004"),
    ("card 4111111111111111 charged", "card", "4111111111111111"),
])
def test_each_pii_type_becomes_its_placeholder(text, kind, secret) -> None:
    out, counts = redact_pii(text)
    assert secret not in out and f"<{kind.upper()}>" in out
    assert counts == {kind: 1}


def test_pii_glued_to_chinese_text_is_found_without_eating_the_words() -> None:
    out, counts = redact_pii("电话13812345678，邮箱张三abc@qq.com谢谢")
    assert out == "电话<PHONE>,邮箱张三<EMAIL>谢谢"  # NFKC turns the full-width comma into ","
    assert counts == {"phone": 1, "email": 1}


@pytest.mark.parametrize("text", [
    "Paid $1299.99 for it", "bought in 2023", "used it 2019-2021", "on 2023-05-12",
    "weighs 1 000 000 g", "order 12345678 arrived", "size 42, 3 pack", "¥ 8999",
])
def test_prices_years_dates_and_short_numbers_are_kept(text) -> None:
    out, counts = redact_pii(text)
    assert out == text and not counts


def test_redact_series_keeps_nulls_and_counts_by_type() -> None:
    s = pd.Series(["a@b.com and c@d.org", None, "call 13812345678"], index=[5, 6, 7])
    out, counts = redact_series(s)
    assert counts == {**NO_PII, **{"email": 2, "card": 0, "phone": 1}}
    assert out[5] == "<EMAIL> and <EMAIL>" and out[6] is None and list(out.index) == [5, 6, 7]


def test_markup_urls_runs_and_whitespace_are_cleaned() -> None:
    text = ("<div><p>Sooooo   <b>good</b>!!!!!!</p><script>track()</script><!-- x --></div>\n"
            "&amp; cheap, see https://shop.example.com/p?id=1 or www.deals.cn")
    out, counts = clean_text(text)
    assert out == "Soo good !! & cheap, see or"
    assert not counts


def test_placeholders_survive_markup_stripping_and_numbers_keep_their_digits() -> None:
    assert normalise_text("<EMAIL> <b>x</b> <PHONE>") == "<EMAIL>  x  <PHONE>"
    assert clean_text("1000000 units, zzzz")[0] == "1000000 units, zz"


def test_nfkc_and_chinese_are_cleaned_by_character() -> None:
    out, _ = clean_text("ＡＢＣ　质量很好！！！！物超所值")
    assert out == "ABC 质量很好!!物超所值"
    assert text_length("香水") == 4 and text_length("ok") == 2 and text_length("") == 0


@pytest.mark.parametrize("text, reason", [
    ("BUY NOW and save", "promo"),
    ("Use code VIP123 for 70% OFF", "promo"),
    ("加微信 wx_8888 领优惠券", "promo"),
    ("nice, details at www.super-deals4u.example.com", "link"),
    ("see t.me/moonpump_signals", "link"),
    ("great ############ wow", "symbols"),
    ("Used a discount code, good deal for a laptop.", None),
    ("Paid with a gift card, handy when working from home. WhatsApp runs fine.", None),
    ("DM me for wholesale", "promo"),
    ("smart watch coupon code", None),
    ("Love it!!!!!!!! Five stars ★★★★★", None),
])
def test_content_spam_rules(text, reason) -> None:
    assert content_flag(text) == reason


def _frame(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [u for u, _ in rows], "ts": pd.Timestamp("2025-01-01", tz="UTC"),
                         "text": pd.array([t for _, t in rows], dtype="string")})


def test_prepare_gives_every_row_one_reason_and_counts_add_up() -> None:
    shared = "This exact sentence is copied by many accounts."
    rows = [("a", ""), ("b", "  "), ("c", "ok"), ("d", "香水"), ("e", "BUY NOW!!!"), ("f", "<p>Nice shoes</p>"),
            ("g", shared), ("h", shared), ("i", shared), ("j", None), ("k", "mail x@y.com")]
    out, stats = prepare_texts(_frame(rows), "text", **RULES)
    reasons = dict(zip(out["user_id"], out["reason"]))
    assert reasons == {"a": "empty", "b": "empty", "c": "too_short", "d": None, "e": "promo", "f": None,
                       "g": "duplicate", "h": "duplicate", "i": "duplicate", "j": "empty", "k": None}
    assert out.loc[out["user_id"] == "f", "text"].item() == "Nice shoes"
    assert stats["texts_in"] == 11 and stats["kept"] == 3
    assert stats["kept"] + sum(stats["dropped"].values()) + sum(stats["flagged"].values()) == 11
    assert stats["pii_redactions"] == {**NO_PII, **{"email": 1, "card": 0, "phone": 0}}


def test_duplicates_need_enough_users_and_length() -> None:
    short = "Love it!"
    long_ = "A long review text shared by only two users, so not spam."
    rows = [("a", short), ("b", short), ("c", short), ("d", short), ("a", long_), ("b", long_), ("b", long_)]
    out, stats = prepare_texts(_frame(rows), "text", **RULES)
    assert out["reason"].isna().all() and stats["flagged"]["duplicate"] == 0


def test_placeholders_already_redacted_on_ingest_are_counted_not_redacted_again() -> None:
    out, stats = prepare_texts(_frame([("a", "call me <PHONE> or <EMAIL>")]), "text", **RULES)
    assert out["text"].item() == "call me <PHONE> or <EMAIL>"
    assert stats["pii_redactions"] == {**NO_PII, **{"email": 1, "card": 0, "phone": 1}}


def test_empty_table_and_merge_stats() -> None:
    out, stats = prepare_texts(_frame([]), "text", **RULES)
    assert len(out) == 0 and stats["texts_in"] == 0 and stats["kept"] == 0
    total = merge_stats([stats, {**stats, "texts_in": 4, "dropped": {"empty": 1, "too_short": 2}}])
    assert total["texts_in"] == 4 and total["dropped"] == {"empty": 1, "too_short": 2}


@pytest.mark.parametrize("text, kind, secret", [
    ("IBAN DE89370400440532013000 please", "iban", "DE89370400440532013000"),
    ("IBAN DE89 3704 0044 0532 0130 00 thanks", "iban", "DE89 3704 0044 0532 0130 00"),
    ("身份证11010519491231002X谢谢", "national_id", "11010519491231002X"),
    ("id 110105194912310021 ok", "national_id", "110105194912310021"),
    ("mail bob at gmail dot com now", "email", "gmail"),
    ("mail bob [at] gmail (dot) com now", "email", "gmail"),
    ("mail bob&#64;gmail.com now", "email", "gmail"),
    ("mail bob&amp;#64;gmail.com now", "email", "gmail"),
    ("mail bob%40gmail.com now", "email", "gmail"),
    ("mail bob<span>@</span>gmail.com now", "email", "gmail"),
    ("mail bob&lt;span&gt;@&lt;/span&gt;gmail.com now", "email", "gmail"),
    ("I live at 221B Baker Street, London", "address", "Baker"),
    ("ship to 12 oak street please", "address", "oak"),
    ("Lieferung an Hauptstraße 5 bitte", "address", "Hauptstraße"),
    ("寄到建国路88号谢谢", "address", "建国路"),
    ("from 2001:0db8:85a3:0000:0000:8a2e:0370:7334 ok", "ip", "8a2e"),
    ("from 2001:db8::ff00:42:8329 ok", "ip", "8329"),
    ("from fe80::1%eth0 ok", "ip", "fe80"),
    ("from 192.168.1.10 ok", "ip", "192.168"),
])
def test_issue14_pii_kinds_are_redacted_after_normalisation(text, kind, secret) -> None:
    """Issue 14 item 8: normalise (entities, percent-escapes, tags, NFKC) first, then redact."""
    out, counts = redact_pii(text)
    assert secret not in out and PII_PLACEHOLDERS[kind] in out, out
    assert counts == {kind: 1}


@pytest.mark.parametrize("text", ["meet at 12:30:00 on 2023-05-12", "looked at this dot pattern",
                                  "3 more on the way", "version 1.2 of 2 items", "ratio 12::30",
                                  "I bought 2 pairs for the road trip"])
def test_issue14_new_pii_patterns_keep_ordinary_text(text) -> None:
    out, counts = redact_pii(text)
    assert out == text and not counts
