"""The name normaliser: one test per rule, and hypothesis for idempotence and invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feocscreen.names import (
    GENERIC,
    clean_identifier,
    identifier_kind,
    is_valid_lei,
    is_valid_uscc,
    normalise_name,
    phonetic_key,
    token_kind,
)


def text(name: str) -> str:
    return normalise_name(name).text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("GANZHOU QIAOLAN MAGNET", "ganzhou qiaolan magnet"),  # case
        ("Société Exemple Métaux", "societe exemple metaux"),  # accents
        ("Müller Demo", "muller demo"),
        ("ＱＩＡＯＬＡＮ　Magnet", "qiaolan magnet"),  # full-width (NFKC)
        ("Qiaolan  (Ganzhou)  Magnet", "qiaolan ganzhou magnet"),  # punctuation, spaces
    ],
)
def test_case_accents_width_and_punctuation_fold(raw: str, expected: str) -> None:
    assert text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "Ganzhou Qiaolan Magnet Co., Ltd.",
        "Ganzhou Qiaolan Magnet Company Limited",
        "Ganzhou Qiaolan Magnet Co.,Ltd",
        "Ganzhou Qiaolan Magnet Limited",
        "Ganzhou Qiaolan Magnet Joint Stock Co., Ltd.",
        "Ganzhou Qiaolan Magnet LLC",
        "Ganzhou Qiaolan Magnet Corp.",
        "Ganzhou Qiaolan Magnet Incorporated",
        "JSC Ganzhou Qiaolan Magnet",
        "OOO Ganzhou Qiaolan Magnet",
        "Ganzhou Qiaolan Magnet GmbH",
        "Ganzhou Qiaolan Magnet AG",
        "Ganzhou Qiaolan Magnet Aktiengesellschaft",
        "Ganzhou Qiaolan Magnet K.K.",
        "Ganzhou Qiaolan Magnet Kabushiki Kaisha",
        "Ganzhou Qiaolan Magnet Pty Ltd",
        "Ganzhou Qiaolan Magnet SAS",
        "Ganzhou Qiaolan Magnet S.A.",
        "Ganzhou Qiaolan Magnet Sdn. Bhd.",
        "Ganzhou Qiaolan Magnet Pte. Ltd.",
        "赣州桥兰磁业有限公司",
        "赣州桥兰磁业股份有限公司",
        "赣州桥兰磁业有限责任公司",
    ],
)
def test_legal_forms_in_many_languages_are_removed_and_kept_aside(raw: str) -> None:
    name = normalise_name(raw)
    assert name.text == "ganzhou qiaolan magnet"
    assert name.legal_forms, raw


def test_group_is_a_generic_word_not_a_legal_form() -> None:
    name = normalise_name("Ganzhou Qiaolan Group Co., Ltd.")
    assert name.text == "ganzhou qiaolan group"
    assert name.generic == ("group",)
    assert normalise_name("赣州桥兰集团有限公司").text == "ganzhou qiaolan group"


def test_weak_legal_forms_only_go_at_the_edges() -> None:
    # "AS" inside a name is a word; at the end it is the Norwegian/Danish legal form.
    assert text("Nordic As Demo Metals") == "nordic as demo metals"
    assert text("Nordic Demo Metals AS") == "nordic demo metals"
    assert text("AG") == "ag"  # never strip a name down to nothing


def test_han_characters_meet_their_pinyin_and_translated_business_words() -> None:
    han = normalise_name("赣州瑞鑫稀土新材料有限公司")
    latin = normalise_name("Ganzhou Ruixin Rare Earth New Materials Co., Ltd.")
    assert han.tokens == latin.tokens == ("ganzhou", "ruixin", "rareearth", "new", "materials")
    assert (
        normalise_name("内蒙古包头安泰高新技术有限公司").text == "innermongolia baotou antai hitech"
    )


def test_unknown_han_trade_names_are_pinyin_in_two_syllable_words() -> None:
    assert text("瑞鑫恒泰") == "ruixin hengtai"
    assert text("金力达") == "jinlida"  # an odd syllable joins the word before it


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("GUANGZHOU HAIGE COMM GRP", "guangzhou haige communications group"),
        ("CNOOC ENERGY TECH & SRVCES LTD", "cnooc energy technology services"),
        ("Qiaolan Hi-Tech Matl", "qiaolan hitech materials"),
        ("Qiaolan HITECH Materials", "qiaolan hitech materials"),
        ("Qiaolan High Tech Material", "qiaolan hitech materials"),
        ("Qiaolan High-Technology", "qiaolan hitech"),
        ("Qiaolan Intl Ind", "qiaolan international industrial"),
        ("Qiaolan Mfg Res", "qiaolan manufacturing resources"),
        ("Qiaolan Corp", "qiaolan"),
        ("Qiaolan Comp", "qiaolan"),  # nomenklatura#245
        ("Qiaolan Rare-Earth", "qiaolan rareearth"),
        ("Qiaolan Rare Earths", "qiaolan rareearth"),
    ],
)
def test_abbreviations_expand_and_variants_of_one_idea_merge(raw: str, expected: str) -> None:
    assert text(raw) == expected


@pytest.mark.parametrize("raw", ["Xi'an Demo", "XiAn Demo", "Xian Demo", "Xi’an Demo", "西安Demo"])
def test_pinyin_apostrophe_and_camel_case_variants_agree(raw: str) -> None:
    assert text(raw) == "xian demo"


@pytest.mark.parametrize("raw", ["A.B.C. Company", "A-B-C Co", "A B C Ltd", "abc"])
def test_initials_join_into_one_token(raw: str) -> None:
    assert text(raw) == "abc"


def test_token_kinds_separate_trade_names_places_and_generic_words() -> None:
    name = normalise_name("China Ganzhou Qiaolan Rare Earth Magnetic Materials Group Co Ltd")
    assert name.distinct == ("qiaolan",)
    assert name.places == ("ganzhou",)
    assert set(name.generic) == {"china", "rareearth", "magnetic", "materials", "group"}
    for word in ("china", "magnetic", "materials", "new", "industrial", "trading", "holdings"):
        assert token_kind(word) == "generic"
    assert token_kind("baotou") == "place"
    assert token_kind("qiaolan") == "distinct"


def test_token_order_does_not_change_the_token_set() -> None:
    a = normalise_name("Qiaolan (Ganzhou) Magnet Co., Ltd.")
    b = normalise_name("Ganzhou Qiaolan Magnet Co., Ltd.")
    assert set(a.tokens) == set(b.tokens)


def test_phonetic_key_survives_romanisation_and_vowel_variants() -> None:
    assert phonetic_key("hsitu") == phonetic_key("xitu")
    assert phonetic_key("jinli") == phonetic_key("jinly")
    assert phonetic_key("qiaolan") != phonetic_key("baotou")


def test_lei_and_uscc_check_digits() -> None:
    assert is_valid_lei("549300NORDICDEMO0952")
    assert not is_valid_lei("549300NORDICDEMO0953")
    assert is_valid_uscc("913607000EXAMP000P")
    assert not is_valid_uscc("913607000EXAMP000Q")
    assert identifier_kind(" 9136-0700 0EXA MP000P ") == "USCC"
    assert identifier_kind("549300NORDICDEMO0952") == "LEI"
    assert identifier_kind("not an id") is None
    assert clean_identifier("ab-12 3") == "AB123"


NAME_ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,'-&()/")
    + ["é", "ü", "ø", "赣", "州", "稀", "土", "有", "限", "公", "司", "瑞", "鑫", "Ａ", "　"]
    + [" Co.", " Ltd", " Group", " Hi-Tech", " Rare Earth", " GmbH", " AS", " s.a."]
)
names = st.lists(NAME_ALPHABET, max_size=25).map("".join)


@settings(max_examples=300, deadline=None)
@given(names)
def test_normalising_is_idempotent(raw: str) -> None:
    once = normalise_name(raw)
    twice = normalise_name(once.text)
    assert twice.tokens == once.tokens
    assert twice.kinds == once.kinds


@settings(max_examples=200, deadline=None)
@given(names)
def test_canonical_tokens_are_ascii_lowercase_words_without_legal_forms_or_blanks(raw: str) -> None:
    name = normalise_name(raw)
    for token in name.tokens:
        assert token and token == token.lower() and " " not in token
        assert token.isascii(), token
    assert len(set(name.tokens)) == len(name.tokens)
    assert len(name.tokens) == len(name.kinds)


@settings(max_examples=100, deadline=None)
@given(names)
def test_case_and_surrounding_space_never_matter(raw: str) -> None:
    assert normalise_name(f"  {raw.upper()} ").tokens == normalise_name(raw.lower()).tokens


def test_generic_words_are_lowercase_canonical_tokens() -> None:
    for word in GENERIC:
        assert normalise_name(word).text in (word, "")
