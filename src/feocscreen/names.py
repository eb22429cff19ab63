"""Company-name normaliser for watchlist screening: pure, deterministic and idempotent.

Procurement sheets spell the same Chinese company every which way: "赣州…有限公司",
"GANZHOU … CO., LTD.", "Ganzhou … Hi-Tech Matl Co Ltd", "… Company Limited (Ganzhou)".
``normalise_name`` turns each into the same canonical tokens:

* NFKC (full-width punctuation), case and accent folding;
* Han characters: business words translated from a small table (稀土 → rare earth,
  有限公司 → company limited, …), place names to their one-word pinyin (赣州 → ganzhou),
  the rest transliterated with pypinyin in two-syllable words (Chinese trade names are
  mostly two characters);
* punctuation: apostrophes vanish (Xi'an → xian), initials and hyphenated parts join
  (A.B.C. → abc, Hi-Tech → hitech), everything else separates words;
* abbreviations expanded (GRP, TECH, MATL, INTL, IND, MFG, RES, COMM, SRVCS, CORP, CO…)
  and spelling variants of one idea merged (HI-TECH / HITECH / HIGH TECH → hitech);
* legal forms removed and kept aside (Co., Ltd.; Company Limited; JSC; OOO; GmbH;
  有限公司; 股份有限公司…). The table is our own (``LEGAL_FORMS``) rather than
  OpenSanctions' ``rigour``: rigour leaves Han untouched (see the survey in
  ../shared/reference/peers-and-formats.md §1), would add a dependency chain whose
  data changes between releases (and so would change scores between runs), and we
  need only the forms procurement sheets use, each of which a test exercises;
* every token classified as *generic* (words any magnet company may carry: china,
  rare earth, magnetic, materials, group, new, industrial, trading, international,
  holdings…), *place* (Chinese provinces and cities, which many unrelated companies
  share) or *distinct* (the trade name). ``match`` weighs them differently, so that two
  companies sharing only generic words, a city and a legal form never match.

Also here: identifier normalisation and validation for LEI (ISO 17442) and the Chinese
unified social credit code (USCC, GB 32100-2015), which match exactly when both sides
carry one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# --- Han: business words translated, place names in one-word pinyin ---------------------
# Longest match wins, so 股份有限公司 is read before 有限公司 and 公司.
HAN_TERMS: dict[str, str] = {
    "股份有限公司": " joint stock company limited ",
    "有限责任公司": " limited liability company ",
    "有限公司": " company limited ",
    "分公司": " branch ",
    "公司": " company ",
    "集团": " group ",
    "控股": " holdings ",
    "股份": " joint stock ",
    "稀土": " rare earth ",
    "永磁": " permanent magnet ",
    "磁性材料": " magnetic materials ",
    "磁材": " magnetic materials ",
    "磁业": " magnet ",
    "磁电": " magnetic ",
    "磁": " magnetic ",
    "新材料": " new materials ",
    "材料": " materials ",
    "高新技术": " hitech ",
    "高科技": " hitech ",
    "科技": " technology ",
    "技术": " technology ",
    "实业": " industrial ",
    "工业": " industrial ",
    "产业": " industrial ",
    "国际": " international ",
    "贸易": " trading ",
    "商贸": " trading ",
    "进出口": " import export ",
    "中国": " china ",
    "矿业": " mining ",
    "冶炼": " smelting ",
    "有色金属": " nonferrous metals ",
    "有色": " nonferrous ",
    "金属": " metals ",
    "电子": " electronics ",
    "发展": " development ",
    "投资": " investment ",
    "资源": " resources ",
    "研究院": " research institute ",
    "能源": " energy ",
    "制造": " manufacturing ",
    "精密": " precision ",
    "合金": " alloy ",
    "钢铁": " steel ",
    "化工": " chemical ",
    "北方": " northern ",
    "南方": " southern ",
    "厂": " factory ",
}

# Chinese provinces and the cities magnet supply chains run through, pinyin as one word.
# Many unrelated companies share them, so they weigh less than a trade name.
PLACES_HAN: dict[str, str] = {
    "北京": "beijing",
    "上海": "shanghai",
    "天津": "tianjin",
    "重庆": "chongqing",
    "内蒙古": "innermongolia",
    "包头": "baotou",
    "呼和浩特": "hohhot",
    "赣州": "ganzhou",
    "江西": "jiangxi",
    "南昌": "nanchang",
    "龙南": "longnan",
    "宁波": "ningbo",
    "浙江": "zhejiang",
    "杭州": "hangzhou",
    "厦门": "xiamen",
    "福建": "fujian",
    "福州": "fuzhou",
    "三明": "sanming",
    "龙岩": "longyan",
    "广东": "guangdong",
    "广州": "guangzhou",
    "深圳": "shenzhen",
    "江苏": "jiangsu",
    "南京": "nanjing",
    "苏州": "suzhou",
    "无锡": "wuxi",
    "常州": "changzhou",
    "山东": "shandong",
    "济南": "jinan",
    "青岛": "qingdao",
    "淄博": "zibo",
    "四川": "sichuan",
    "成都": "chengdu",
    "乐山": "leshan",
    "湖南": "hunan",
    "长沙": "changsha",
    "湖北": "hubei",
    "武汉": "wuhan",
    "河南": "henan",
    "河北": "hebei",
    "山西": "shanxi",
    "太原": "taiyuan",
    "陕西": "shaanxi",
    "西安": "xian",
    "安徽": "anhui",
    "合肥": "hefei",
    "云南": "yunnan",
    "昆明": "kunming",
    "贵州": "guizhou",
    "广西": "guangxi",
    "南宁": "nanning",
    "新疆": "xinjiang",
    "乌鲁木齐": "urumqi",
    "辽宁": "liaoning",
    "沈阳": "shenyang",
    "大连": "dalian",
    "吉林": "jilin",
    "黑龙江": "heilongjiang",
    "哈尔滨": "harbin",
    "甘肃": "gansu",
    "兰州": "lanzhou",
    "青海": "qinghai",
    "宁夏": "ningxia",
    "海南": "hainan",
    "香港": "hongkong",
    "澳门": "macau",
    "台湾": "taiwan",
}
PLACES: frozenset[str] = frozenset(PLACES_HAN.values()) | frozenset(
    {"hk", "xizang", "tibet", "singapore", "shantou", "dongguan", "foshan", "yantai", "ganjiang"}
)

# --- Latin: phrases, abbreviations, legal forms, generic words ------------------------
# Word sequences that spell one idea; applied before abbreviations, longest first.
PHRASES: dict[tuple[str, ...], str] = {
    ("high", "tech"): "hitech",
    ("hi", "tech"): "hitech",
    ("high", "technology"): "hitech",
    ("hi", "technology"): "hitech",
    ("high", "new", "technology"): "hitech",
    ("hightech",): "hitech",
    ("rare", "earth"): "rareearth",
    ("rare", "earths"): "rareearth",
    ("rareearths",): "rareearth",
    ("inner", "mongolia"): "innermongolia",
    ("nei", "mongol"): "innermongolia",
    ("nei", "menggu"): "innermongolia",
    ("neimenggu",): "innermongolia",
    ("hong", "kong"): "hongkong",
    ("joint", "stock"): "jointstock",
    ("import", "export"): "importexport",
    ("import", "and", "export"): "importexport",
    ("imp", "exp"): "importexport",
    ("i", "e"): "importexport",
    ("non", "ferrous"): "nonferrous",
    ("limited", "liability"): "limitedliability",
    ("public", "limited", "company"): "plc",
    ("kabushiki", "kaisha"): "kk",
    ("sdn", "bhd"): "sdnbhd",
    ("pty", "limited"): "ptyltd",
    ("pty", "ltd"): "ptyltd",
    ("pte", "limited"): "pteltd",
    ("pte", "ltd"): "pteltd",
    ("aktiengesellschaft",): "ag",
    ("gesellschaft", "mit", "beschrankter", "haftung"): "gmbh",
    ("societe", "par", "actions", "simplifiee"): "sas",
}
_MAX_PHRASE = max(len(k) for k in PHRASES)

# Abbreviations and inflections of one word (nomenklatura#274, #245 list the ones
# Chinese names on the lists use: COMM GRP, TECH & SRVCES, COMP).
ABBREVIATIONS: dict[str, str] = {
    "grp": "group",
    "gp": "group",
    "tech": "technology",
    "techn": "technology",
    "technol": "technology",
    "technologies": "technology",
    "hightech": "hitech",
    "hightechnology": "hitech",
    "hitechnology": "hitech",
    "highnewtech": "hitech",
    "matl": "materials",
    "matls": "materials",
    "mat": "materials",
    "mats": "materials",
    "mtl": "materials",
    "mtls": "materials",
    "material": "materials",
    "intl": "international",
    "int": "international",
    "internat": "international",
    "ind": "industrial",
    "inds": "industrial",
    "indus": "industrial",
    "industry": "industrial",
    "industries": "industrial",
    "mfg": "manufacturing",
    "mfr": "manufacturing",
    "mfrg": "manufacturing",
    "manufacture": "manufacturing",
    "res": "resources",
    "resource": "resources",
    "comm": "communications",
    "comms": "communications",
    "communication": "communications",
    "srvcs": "services",
    "srvces": "services",
    "svcs": "services",
    "servs": "services",
    "service": "services",
    "corp": "corporation",
    "corpn": "corporation",
    "co": "company",
    "cos": "company",
    "comp": "company",
    "cmpy": "company",
    "ltd": "limited",
    "ltda": "limited",
    "lt": "limited",
    "inc": "incorporated",
    "hldgs": "holdings",
    "hldg": "holdings",
    "holding": "holdings",
    "mgmt": "management",
    "dev": "development",
    "devt": "development",
    "sci": "science",
    "sciences": "science",
    "elec": "electronics",
    "electronic": "electronics",
    "eqpt": "equipment",
    "engg": "engineering",
    "eng": "engineering",
    "invest": "investment",
    "investments": "investment",
    "natl": "national",
    "magnetics": "magnetic",
    "magnets": "magnet",
    "metal": "metals",
    "mining": "mining",
    "mines": "mining",
    "min": "mining",
    "smelter": "smelting",
    "trade": "trading",
    "trad": "trading",
    "enterprises": "enterprise",
    "ent": "enterprise",
    "chem": "chemical",
    "chemicals": "chemical",
    "inst": "institute",
    "univ": "university",
    "dept": "department",
    "mongolia": "innermongolia",
}

# Legal forms (canonical spelling after PHRASES/ABBREVIATIONS), removed and kept aside.
# STRONG forms never name a business and go wherever they stand ("Co., Ltd. Baotou
# Branch"); WEAK ones are also ordinary words or initials (AG, AS, SA, KK...) and go
# only at either end of the name.
STRONG_LEGAL_FORMS: frozenset[str] = frozenset(
    {
        "company",
        "limited",
        "limitedliability",
        "incorporated",
        "corporation",
        "jointstock",
        "llc",
        "llp",
        "gmbh",
        "ptyltd",
        "pteltd",
        "sdnbhd",
        "plc",
        "jsc",
        "ojsc",
        "cjsc",
        "pjsc",
        "ooo",
        "oao",
        "zao",
        "pao",
        "ооо",
        "оао",
        "зао",
        "пао",
        "sarl",
        "srl",
        "spa",
        "bhd",
    }
)
WEAK_LEGAL_FORMS: frozenset[str] = frozenset(
    {
        "ag",
        "kk",
        "sa",
        "sas",
        "se",
        "nv",
        "bv",
        "as",
        "ab",
        "oy",
        "kg",
        "lp",
        "pt",
        "ao",
        "ао",
        "pty",
        "pte",
        "kft",
        "sro",
        "sp",
        "zoo",
        "tbk",
    }
)
LEGAL_FORMS: frozenset[str] = STRONG_LEGAL_FORMS | WEAK_LEGAL_FORMS

# Words any company in this trade may carry: they say little about which company it is.
# (opensanctions/rigour#87 and nomenklatura#211 ask for exactly this list.)
GENERIC: frozenset[str] = frozenset(
    {
        "china",
        "chinese",
        "prc",
        "rareearth",
        "magnet",
        "magnetic",
        "permanent",
        "materials",
        "group",
        "new",
        "industrial",
        "trading",
        "international",
        "holdings",
        "technology",
        "hitech",
        "science",
        "development",
        "metals",
        "mining",
        "resources",
        "smelting",
        "refining",
        "nonferrous",
        "electronics",
        "manufacturing",
        "energy",
        "investment",
        "importexport",
        "global",
        "advanced",
        "power",
        "products",
        "services",
        "equipment",
        "engineering",
        "alloy",
        "alloys",
        "steel",
        "precision",
        "components",
        "electric",
        "national",
        "general",
        "enterprise",
        "research",
        "institute",
        "branch",
        "factory",
        "works",
        "plant",
        "northern",
        "southern",
        "chemical",
        "communications",
        "management",
        "applied",
        "high",
        "shares",
        "share",
        "subsidiary",
        "oxide",
        "oxides",
        "rare",
        "earth",
        "earths",
        "asia",
        "pacific",
        "world",
        "united",
        "state",
        "de",
        "du",
        "der",
        "la",
        "le",
    }
)
# Only words that are never a pinyin syllable are dropped; "de", "du" (French/Spanish "of")
# are also syllables of Chinese names written apart ("Du Ting"), so they stay as generic words.
STOPWORDS: frozenset[str] = frozenset({"and", "the", "of", "und", "et"})

DISTINCT, PLACE, GENERIC_KIND = "distinct", "place", "generic"

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_HAN_KEYS = sorted({**HAN_TERMS, **PLACES_HAN}, key=len, reverse=True)
_INITIAL_DOT = re.compile(r"(?<=\b\w)\.")
# Hyphens inside a word join its parts: Hi-Tech, Rare-Earth, Hsi-Tu, A-B-C are one word
# in other spellings of the same name far more often than two.
_INNER_HYPHEN = re.compile(r"(?<=\w)[-‐‑](?=\w)")
_APOSTROPHES = re.compile(r"['’‘`´]")
_SEPARATORS = re.compile(r"[^\w]+|_")


@dataclass(frozen=True)
class NormalisedName:
    """A name as the matcher sees it: canonical tokens with their kind, legal forms aside."""

    original: str
    tokens: tuple[str, ...]
    kinds: tuple[str, ...]
    legal_forms: tuple[str, ...]

    @property
    def text(self) -> str:
        """Canonical form; normalising it again gives the same tokens."""
        return " ".join(self.tokens)

    def of_kind(self, kind: str) -> tuple[str, ...]:
        """The tokens of one kind (distinct, place or generic), in name order."""
        return tuple(t for t, k in zip(self.tokens, self.kinds, strict=True) if k == kind)

    @property
    def distinct(self) -> tuple[str, ...]:
        return self.of_kind(DISTINCT)

    @property
    def places(self) -> tuple[str, ...]:
        return self.of_kind(PLACE)

    @property
    def generic(self) -> tuple[str, ...]:
        return self.of_kind(GENERIC_KIND)


def token_kind(token: str) -> str:
    """distinct, place or generic: how much a shared token says about identity."""
    if token in GENERIC:
        return GENERIC_KIND
    if token in PLACES:
        return PLACE
    return DISTINCT


def _han_to_words(run: str) -> str:
    """One run of Han characters → translated business words, place pinyin, other pinyin."""
    out: list[str] = []
    residue: list[str] = []

    def flush() -> None:
        if residue:
            from pypinyin import lazy_pinyin  # 0.13 s to import: only when Han text appears

            syllables = lazy_pinyin("".join(residue))
            # Two syllables a word: Chinese trade names are mostly two characters;
            # an odd syllable joins the word before it.
            words = ["".join(syllables[i : i + 2]) for i in range(0, len(syllables), 2)]
            if len(words) > 1 and len(syllables) % 2 == 1:
                words[-2:] = [words[-2] + words[-1]]
            out.extend(words)
            residue.clear()

    i = 0
    while i < len(run):
        for key in _HAN_KEYS:
            if run.startswith(key, i):
                flush()
                out.append(HAN_TERMS.get(key) or PLACES_HAN[key])
                i += len(key)
                break
        else:
            residue.append(run[i])
            i += 1
    flush()
    return " " + " ".join(out) + " "


def fold(text: str) -> str:
    """Han → words, NFKC, case and accent folding, punctuation → spaces (initials join)."""
    text = unicodedata.normalize("NFKC", text)
    text = _HAN.sub(lambda m: _han_to_words(m.group(0)), text)
    text = text.replace("&", " and ")
    text = _APOSTROPHES.sub("", text)
    text = _INITIAL_DOT.sub("", text)
    text = _INNER_HYPHEN.sub("", text)
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("ø", "o").replace("đ", "d").replace("ł", "l").replace("ı", "i")
    return " ".join(_SEPARATORS.sub(" ", text).split())


def _join_initials(tokens: list[str]) -> list[str]:
    """Runs of single Latin letters are one initialism: "a b c" → "abc"."""
    out: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1 and token.isascii() and token.isalpha():
            run.append(token)
            continue
        if run:
            out.append("".join(run))
            run = []
        if token:
            out.append(token)
    return out


def _apply_phrases(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for size in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
            canonical = PHRASES.get(tuple(tokens[i : i + size]))
            if canonical is not None:
                out.append(canonical)
                i += size
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def _strip_legal_forms(tokens: list[str]) -> tuple[list[str], list[str]]:
    forms: list[str] = []
    kept = []
    for token in tokens:
        if token in STRONG_LEGAL_FORMS:
            forms.append(token)
        else:
            kept.append(token)
    changed = True
    while changed and kept:
        changed = False
        if kept[-1] in LEGAL_FORMS and len(kept) > 1:
            forms.append(kept.pop())
            changed = True
        if kept and kept[0] in LEGAL_FORMS and len(kept) > 1:
            forms.append(kept.pop(0))
            changed = True
    return kept, forms


def _canonical_tokens(text: str) -> tuple[list[str], list[str]]:
    tokens = _join_initials(fold(text).split())
    tokens = _apply_phrases(tokens)
    tokens = [ABBREVIATIONS.get(t, t) for t in tokens]
    tokens = _apply_phrases(tokens)  # abbreviations can complete a phrase ("hi tech")
    tokens = [t for t in tokens if t not in STOPWORDS]
    tokens, forms = _strip_legal_forms(tokens)
    tokens = _join_initials(tokens)
    unique: list[str] = []
    for token in tokens:
        if token not in unique:
            unique.append(token)
    return unique, forms


@lru_cache(maxsize=262144)
def normalise_name(name: str) -> NormalisedName:
    """Canonical tokens of a company name, each with its kind, and the legal forms removed."""
    tokens, forms = _canonical_tokens(name or "")
    # A second pass makes the result a fixed point (a join can create a new abbreviation).
    again, more = _canonical_tokens(" ".join(tokens))
    while again != tokens:
        tokens, forms = again, forms + more
        again, more = _canonical_tokens(" ".join(tokens))
    return NormalisedName(
        original=name,
        tokens=tuple(tokens),
        kinds=tuple(token_kind(t) for t in tokens),
        legal_forms=tuple(forms),
    )


# --- phonetic key for blocking -------------------------------------------------------
_PHONETIC_SUBS: tuple[tuple[str, str], ...] = (
    ("hs", "s"),  # Wade-Giles hsi = pinyin xi (Hsitu / Xitu)
    ("zh", "j"),
    ("ch", "c"),
    ("sh", "s"),
    ("ph", "f"),
    ("ck", "c"),
    ("ng", "n"),
    ("x", "s"),
    ("q", "c"),
    ("k", "c"),
    ("z", "s"),
    ("w", "v"),
    ("dh", "d"),
    ("gh", "g"),
)


@lru_cache(maxsize=262144)
def phonetic_key(token: str) -> str:
    """Consonant skeleton that survives pinyin/Wade-Giles and vowel spelling variants.

    Used only to find candidates (blocking); scores always compare the real spellings.
    """
    key = token.lower()
    for old, new in _PHONETIC_SUBS:
        key = key.replace(old, new)
    if not key:
        return ""
    head, tail = key[0], "".join(ch for ch in key[1:] if ch not in "aeiouy")
    out = head
    for ch in tail:
        if ch != out[-1]:
            out += ch
    return out


# --- identifiers ---------------------------------------------------------------------
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def clean_identifier(value: object) -> str:
    """Upper-case alphanumerics only: how LEIs and USCCs are compared."""
    return re.sub(r"[^0-9A-Za-z]", "", str(value or "")).upper()


def is_valid_lei(value: object) -> bool:
    """ISO 17442: 20 alphanumerics whose ISO 7064 mod 97-10 remainder is 1."""
    code = clean_identifier(value)
    if not re.fullmatch(r"[0-9A-Z]{18}[0-9]{2}", code):
        return False
    return int("".join(str(int(ch, 36)) for ch in code)) % 97 == 1


def is_valid_uscc(value: object) -> bool:
    """GB 32100-2015 unified social credit code: 18 characters, weighted mod-31 check."""
    code = clean_identifier(value)
    if len(code) != 18 or any(ch not in _USCC_ALPHABET for ch in code):
        return False
    total = sum(
        _USCC_ALPHABET.index(ch) * w for ch, w in zip(code[:17], _USCC_WEIGHTS, strict=True)
    )
    check = (31 - total % 31) % 31
    return _USCC_ALPHABET[check] == code[17]


def identifier_kind(value: object) -> str | None:
    """'LEI', 'USCC' or None for a string that is neither (by format and check digits)."""
    if is_valid_lei(value):
        return "LEI"
    if is_valid_uscc(value):
        return "USCC"
    return None
