"""Country normaliser: any spelling real supplier sheets use → ISO 3166-1 alpha-2.

pycountry answers codes and official names; a table adds the variants seen in
procurement exports and RMI templates. Ambiguity is an error, never a guess:
bare "Korea" names both KR and KP. Pure and cached, so a column of a million
cells costs one lookup per distinct spelling.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import pycountry
from rapidfuzz import fuzz, process

# Spellings meaning "not declared": the stage is then unverified, not an error.
UNDECLARED: frozenset[str] = frozenset(
    {
        "",
        "UNKNOWN",
        "UNK",
        "N A",
        "N/A",
        "TBD",
        "TBC",
        "NONE",
        "NOT DECLARED",
        "UNDECLARED",
        "NOT KNOWN",
        "-",
        "?",
        "NIL",
    }
)

# Names that match several countries: refused with every candidate named.
AMBIGUOUS: dict[str, tuple[str, ...]] = {
    "KOREA": ("KR", "KP"),
    "CONGO": ("CG", "CD"),
    "VIRGIN ISLANDS": ("VG", "VI"),
}

# Variants real sheets use that pycountry's lookup does not know.
VARIANTS: dict[str, str] = {
    "PRC": "CN",
    "P R CHINA": "CN",
    "PR CHINA": "CN",
    "PEOPLES REPUBLIC OF CHINA": "CN",
    "THE PEOPLES REPUBLIC OF CHINA": "CN",
    "CHINA PRC": "CN",
    "CHINA MAINLAND": "CN",
    "MAINLAND CHINA": "CN",
    "中国": "CN",
    "中华人民共和国": "CN",
    "RUSSIA": "RU",
    "RUSSIAN FEDERATION": "RU",
    "IRAN": "IR",
    "IRAN ISLAMIC REPUBLIC OF": "IR",
    "ISLAMIC REPUBLIC OF IRAN": "IR",
    "NORTH KOREA": "KP",
    "DPRK": "KP",
    "D P R K": "KP",
    "DEMOCRATIC PEOPLES REPUBLIC OF KOREA": "KP",
    "KOREA DEMOCRATIC PEOPLES REPUBLIC OF": "KP",
    "KOREA DPR": "KP",
    "SOUTH KOREA": "KR",
    "REPUBLIC OF KOREA": "KR",
    "KOREA REPUBLIC OF": "KR",
    "KOREA REP": "KR",
    "KOREA SOUTH": "KR",
    "KOREA NORTH": "KP",
    "ROK": "KR",
    "한국": "KR",
    "大韩民国": "KR",
    "VIET NAM": "VN",
    "VIETNAM": "VN",
    "USA": "US",
    "U S A": "US",
    "U S": "US",
    "US": "US",
    "UNITED STATES": "US",
    "UNITED STATES OF AMERICA": "US",
    "AMERICA": "US",
    "UK": "GB",
    "U K": "GB",
    "GREAT BRITAIN": "GB",
    "BRITAIN": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
    "NORTHERN IRELAND": "GB",
    "UNITED KINGDOM": "GB",
    "UNITED KINGDOM OF GREAT BRITAIN AND NORTHERN IRELAND": "GB",
    "HONG KONG": "HK",
    "HONG KONG SAR": "HK",
    "HONG KONG SAR CHINA": "HK",
    "HONG KONG CHINA": "HK",
    "HKSAR": "HK",
    "MACAU": "MO",
    "MACAO": "MO",
    "MACAU SAR": "MO",
    "MACAO SAR": "MO",
    "MACAO SAR CHINA": "MO",
    "TAIWAN": "TW",
    "TAIWAN ROC": "TW",
    "REPUBLIC OF CHINA TAIWAN": "TW",
    "CHINESE TAIPEI": "TW",
    "TAIWAN PROVINCE OF CHINA": "TW",
    "TURKEY": "TR",
    "TURKIYE": "TR",
    "CZECHIA": "CZ",
    "CZECH REPUBLIC": "CZ",
    "HOLLAND": "NL",
    "THE NETHERLANDS": "NL",
    "NETHERLANDS": "NL",
    "BURMA": "MM",
    "MYANMAR": "MM",
    "LAOS": "LA",
    "BOLIVIA": "BO",
    "VENEZUELA": "VE",
    "TANZANIA": "TZ",
    "SYRIA": "SY",
    "MOLDOVA": "MD",
    "IVORY COAST": "CI",
    "COTE D IVOIRE": "CI",
    "DR CONGO": "CD",
    "DRC": "CD",
    "DEMOCRATIC REPUBLIC OF THE CONGO": "CD",
    "CONGO DEMOCRATIC REPUBLIC OF THE": "CD",
    "CONGO KINSHASA": "CD",
    "REPUBLIC OF THE CONGO": "CG",
    "CONGO BRAZZAVILLE": "CG",
    "UAE": "AE",
    "U A E": "AE",
    "EMIRATES": "AE",
    "SWAZILAND": "SZ",
    "MACEDONIA": "MK",
    "CAPE VERDE": "CV",
    "DEUTSCHLAND": "DE",
    "日本": "JP",
    "NIPPON": "JP",
}


@dataclass(frozen=True)
class CountryResult:
    """The outcome of normalising one cell."""

    code: str | None
    status: str  # "ok" | "undeclared" | "unknown" | "ambiguous"
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "undeclared")


def _key(text: str) -> str:
    """Upper-case, accents folded, punctuation to spaces, spaces collapsed."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = folded.replace("'", "").replace("’", "")
    folded = re.sub(r"[^\w]+", " ", folded.upper())
    return " ".join(folded.split())


def _names() -> dict[str, str]:
    table: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                table[_key(value)] = country.alpha_2
        table[country.alpha_3] = country.alpha_2
        table[country.alpha_2] = country.alpha_2
    # pycountry's "Korea, Republic of" etc. are exact and stay; bare ambiguous names leave.
    for name in AMBIGUOUS:
        table.pop(name, None)
    table.update({_key(k): v for k, v in VARIANTS.items()})
    return table


_TABLE = _names()
_CHOICES = sorted(k for k in _TABLE if len(k) > 3)


def _suggest(key: str) -> list[str]:
    found = process.extract(key, _CHOICES, scorer=fuzz.WRatio, limit=6, score_cutoff=70)
    seen: list[str] = []
    for name, _score, _ in found:
        label = f"{_TABLE[name]} ({name.title()})"
        if _TABLE[name] not in [s[:2] for s in seen]:
            seen.append(label)
    return seen[:3]


@lru_cache(maxsize=65536)
def to_alpha2(text: object) -> CountryResult:
    """Normalise a cell to ISO alpha-2, 'undeclared' for unknown/blank, or a located refusal."""
    if text is None:
        return CountryResult(None, "undeclared")
    raw = str(text).strip()
    key = _key(raw)
    if key in UNDECLARED or raw.upper() in UNDECLARED:
        return CountryResult(None, "undeclared")
    if key == "NA":  # Namibia's code, and the usual "not available"
        return CountryResult(
            None,
            "ambiguous",
            "'NA' is ambiguous: write 'Namibia' for NA, or 'unknown' if the country is not declared",
        )
    if key in AMBIGUOUS:
        options = " or ".join(f"{c} ({country_name(c)})" for c in AMBIGUOUS[key])
        return CountryResult(None, "ambiguous", f"'{raw}' is ambiguous: write {options}")
    code = _TABLE.get(key)
    if code is not None:
        return CountryResult(code, "ok")
    suggestions = _suggest(key)
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
    return CountryResult(None, "unknown", f"'{raw}' is not a recognised country{hint}")


def country_name(code: str) -> str:
    """English short name of an alpha-2 code (for reports)."""
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country else code
