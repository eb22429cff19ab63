"""Country normaliser: variants real sheets use, ambiguity refused, idempotent."""

from __future__ import annotations

import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feocscreen.countries import to_alpha2


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("P.R. China", "CN"),
        ("PRC", "CN"),
        ("CHINA", "CN"),
        ("中国", "CN"),
        ("Russian Federation", "RU"),
        ("Viet Nam", "VN"),
        ("U.S.A.", "US"),
        ("United States of America", "US"),
        ("Hong Kong SAR", "HK"),
        ("Macau", "MO"),
        ("South Korea", "KR"),
        ("Korea, Republic of", "KR"),
        ("KOREA, REPUBLIC OF", "KR"),
        ("DPRK", "KP"),
        ("Korea, Democratic People's Republic of", "KP"),
        ("Türkiye", "TR"),
        ("Czechia", "CZ"),
        ("UK", "GB"),
        ("UNITED KINGDOM OF GREAT BRITAIN AND NORTHERN IRELAND", "GB"),
        ("TAIWAN, PROVINCE OF CHINA", "TW"),
        ("  japan ", "JP"),
        ("deu", "DE"),
        ("ee", "EE"),
        ("Iran, Islamic Republic of", "IR"),
        ("Malaysia", "MY"),
    ],
)
def test_variants(text, code):
    result = to_alpha2(text)
    assert (result.code, result.status) == (code, "ok")


def test_bare_na_is_refused_not_guessed():
    assert to_alpha2("NA").status == "ambiguous"
    assert to_alpha2("Namibia").code == "NA"


def test_bare_korea_names_both():
    result = to_alpha2("Korea")
    assert result.status == "ambiguous" and "KR" in result.message and "KP" in result.message


@pytest.mark.parametrize(
    "text", ["", None, "unknown", "Unknown", "n/a", "N/A", "TBD", "not declared"]
)
def test_undeclared(text):
    assert to_alpha2(text).status == "undeclared"


def test_unknown_suggests_closest():
    result = to_alpha2("Germny")
    assert result.status == "unknown" and "DE" in result.message


# "NA" is Namibia's code and the usual "not available": refused as ambiguous on purpose.
CODES = sorted(c.alpha_2 for c in pycountry.countries if c.alpha_2 != "NA")


@given(st.sampled_from(CODES))
def test_codes_are_fixed_points(code):
    assert to_alpha2(code).code == code


# ISO's short name of CG is bare "Congo", which sheets also write for CD: refused on purpose.
NAMED = [c for c in pycountry.countries if c.name != "Congo"]


@given(st.sampled_from(NAMED))
def test_every_pycountry_name_normalises_to_its_code_and_is_idempotent(country):
    result = to_alpha2(country.name)
    assert result.code == country.alpha_2
    if result.code != "NA":
        assert to_alpha2(result.code).code == result.code


@given(st.text(max_size=40))
def test_never_raises_and_status_is_known(text):
    result = to_alpha2(text)
    assert result.status in {"ok", "undeclared", "unknown", "ambiguous"}
    assert (result.code is not None) == (result.status == "ok")
