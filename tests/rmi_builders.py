"""Build RMI-template-shaped workbooks (AMRT, EMRT, CMRT) with openpyxl for tests.

The real templates are 1.5 MB of formulas; these keep only what the reader relies
on: sheet names, the Declaration cells, the Smelter/Mine List positions (header
row 4, data from row 5), the hidden ``L`` language sheet, the ``C`` country list,
a ``Smelter Look-up`` and the revision marker. Header cells are either formulas
with no cached value (what a tool that does not compute formulas saves) or the
label rendered in one of the template's languages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl

# The languages the AMRT 1.3 / EMRT 2.1 language selector (Declaration!D3) offers.
LANGUAGES: tuple[str, ...] = (
    "English",
    "中文 Chinese",
    "日本語 Japanese",
    "한국어 Korean",
    "Français",
    "Deutsch",
)

TITLES: dict[str, tuple[str, ...]] = {
    "AMRT": (
        "Additional Minerals Reporting Template (AMRT)",
        "额外矿物报告模板 (AMRT)",
        "この追加鉱物報告テンプレート（AMRT）",
        "본 추가 광물 보고 양식(AMRT)",
        "Modèle de rapport sur les minerais supplémentaires (AMRT)",
        "Berichtsvorlage für zusätzliche Mineralien (AMRT)",
    ),
    "EMRT": (
        "Extended Minerals Reporting Template (EMRT)",
        "扩展矿物报告模版 (EMRT)",
        "拡張鉱物報告テンプレート（EMRT）",
        "확장 광물 보고 템플릿(EMRT)",
        "Modèle de rapport sur les minerais élargi (EMRT)",
        "Erweiterte Vorlage für Mineralienberichte (EMRT)",
    ),
    "CMRT": ("Conflict Minerals Reporting Template (CMRT)",) * 6,
}

# A few labels in every language, as the L sheet renders them (others stay English).
LABELS: dict[str, tuple[str, ...]] = {
    "DeclarationB8": (
        "Company Name (*):",
        "公司名称 (*)：",
        "会社名(*):",
        "기업명 (*):",
        "Nom de l'entreprise (*):",
        "Firmenname (*):",
    ),
    "Smelter ListB4": ("Metal (*)", "金属 (*)", "金属 (*)", "금속 (*)", "Métal (*)", "Metall (*)"),
    "Smelter ListC4": (
        "Smelter Look-up (*)",
        "冶炼厂名称 (*)",
        "製錬所名(*)",
        "제련소 이름 (*)",
        "Nom de la fonderie (*)",
        "Schmelzhüttenname (*)",
    ),
    "Smelter ListD4": (
        "Smelter Name (*)",
        "冶炼厂名称 (*)",
        "製錬業者名(*)",
        "제련소 명칭(*)",
        "Nom de la fonderie (*)",
        "Schmelzhüttenname (*)",
    ),
    "Smelter ListE4": (
        "Smelter Country (*)",
        "冶炼厂所在国家或地区 (*)",
        "製錬業者所在地：国(*)",
        "제련소 국가 (*)",
        "Localisation de la fonderie : Pays (*)",
        "Schmelzhütten: Land (*)",
    ),
    "Smelter ListF4": (
        "Smelter Identification",
        "冶炼厂识别",
        "製錬業者識別番号",
        "제련소 ID",
        "Identifiant de la fonderie",
        "Schmelzhütte Identifizierung",
    ),
    "Mine ListA4": ("Metal", "金属", "金属", "금속", "Métal", "Metall"),
    "Mine ListC4": (
        "Mine Facility (Site) Name",
        "矿厂(矿场)名称",
        "鉱山施設(採掘場)所名",
        "광산시설 (현장 ) 이름",
        "Nom de l'installation minière",
        "Bergbauanlage Name",
    ),
    "Mine ListF4": (
        "Mine Facility Country",
        "矿厂所在国家或地区",
        "鉱山施設業者所在地：国",
        "광산시설 국가",
        "Localisation de l'installation minière : Pays",
        "Bergbauanlage: Land",
    ),
}
# Yes/No in column P as each language renders the dropdown.
YES: tuple[str, ...] = ("Yes", "是", "はい", "예", "Oui", "Ja")

# Declaration rows (English labels) per family, as in AMRT 1.3 / EMRT 2.1.
DECLARATION_ROWS: dict[str, dict[str, int]] = {
    "AMRT": {
        "Company Name (*):": 8,
        "Declaration Scope or Class (*):": 9,
        "Description of Scope:": 10,
        "Company Unique ID:": 17,
        "Company Unique ID Authority:": 18,
        "Address:": 19,
        "Contact Name (*):": 20,
        "Email – Contact (*):": 21,
        "Phone – Contact (*):": 22,
        "Authorizer (*):": 23,
        "Title - Authorizer:": 24,
        "Email - Authorizer (*):": 25,
        "Phone - Authorizer:": 26,
        "Effective Date (*):": 27,
    },
    "EMRT": {
        "Company Name (*):": 8,
        "Declaration Scope or Class (*):": 9,
        "Description of Scope:": 10,
        "Company Unique ID:": 16,
        "Company Unique ID Authority:": 17,
        "Address:": 18,
        "Contact Name (*):": 19,
        "Email – Contact (*):": 20,
        "Phone – Contact (*):": 21,
        "Authorizer (*):": 22,
        "Title - Authorizer:": 23,
        "Email - Authorizer (*):": 24,
        "Phone - Authorizer:": 25,
        "Effective Date (*):": 26,
    },
}
DECLARATION_ROWS["CMRT"] = DECLARATION_ROWS["EMRT"]
FIELD_LABELS: dict[str, str] = {
    "company_name": "Company Name (*):",
    "scope": "Declaration Scope or Class (*):",
    "scope_description": "Description of Scope:",
    "unique_id": "Company Unique ID:",
    "unique_id_authority": "Company Unique ID Authority:",
    "address": "Address:",
    "contact_name": "Contact Name (*):",
    "contact_email": "Email – Contact (*):",
    "contact_phone": "Phone – Contact (*):",
    "authorizer": "Authorizer (*):",
    "authorizer_title": "Title - Authorizer:",
    "authorizer_email": "Email - Authorizer (*):",
    "authorizer_phone": "Phone - Authorizer:",
    "effective_date": "Effective Date (*):",
}
MINERAL_CELLS: dict[str, tuple[str, ...]] = {
    "AMRT": ("D12", "E12", "G12", "H12", "I12", "D13", "E13", "G13", "H13", "I13"),
    "EMRT": ("D12", "E12", "G12", "D13", "E13", "G13"),
    "CMRT": (),
}
SMELTER_COLUMNS: dict[str, str] = {
    "id_input": "A",
    "metal": "B",
    "lookup": "C",
    "name": "D",
    "country": "E",
    "cid": "F",
    "id_source": "G",
    "street": "H",
    "city": "I",
    "state": "J",
    "mine_names": "N",
    "mine_countries": "O",
    "recycled": "P",
    "comments": "Q",
}
MINE_COLUMNS: dict[str, str] = {
    "metal": "A",
    "smelter": "B",
    "name": "C",
    "mine_id": "D",
    "id_source": "E",
    "country": "F",
}
# (metal, dropdown name, standard name, RMI country, CID) — shaped like the real look-up.
LOOKUP: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "Rare Earth Elements",
        "Baotou Example Rare Earth Refinery",
        "Baotou Example RE Refinery Co., Ltd.",
        "CHINA",
        "CID009001",
    ),
    (
        "Rare Earth Elements",
        "Kuantan Example Separation",
        "Kuantan Example Separation Sdn. Bhd.",
        "MALAYSIA",
        "CID009002",
    ),
    (
        "Rare Earth Elements",
        "Tallinn Example Rare Metals",
        "Tallinn Example Rare Metals AS",
        "ESTONIA",
        "CID009003",
    ),
    ("Rare Earth Elements", "Smelter not listed", "", "", ""),
    ("Rare Earth Elements", "Smelter not yet identified", "Unknown", "", ""),
    (
        "Cobalt",
        "Kokkola Example Cobalt Refinery",
        "Kokkola Example Cobalt Oy",
        "FINLAND",
        "CID009101",
    ),
    ("Cobalt", "Ganzhou Example Cobalt", "Ganzhou Example Cobalt Co., Ltd.", "CHINA", "CID009102"),
    ("Cobalt", "Smelter not listed", "", "", ""),
    ("Cobalt", "Smelter not yet identified", "Unknown", "", ""),
    ("Zinc", "Example Zinc Works", "Example Zinc Works", "CANADA", "CID009201"),
)
COUNTRIES: tuple[tuple[str, str], ...] = (
    ("AU", "AUSTRALIA"),
    ("CA", "CANADA"),
    ("CD", "CONGO, DEMOCRATIC REPUBLIC OF THE"),
    ("CG", "CONGO"),
    ("CN", "CHINA"),
    ("EE", "ESTONIA"),
    ("FI", "FINLAND"),
    ("GB", "UNITED KINGDOM OF GREAT BRITAIN AND NORTHERN IRELAND"),
    ("HK", "HONG KONG"),
    ("JP", "JAPAN"),
    ("KP", "KOREA (DEMOCRATIC PEOPLE'S REPUBLIC OF)"),
    ("KR", "KOREA, REPUBLIC OF"),
    ("MM", "MYANMAR"),
    ("MY", "MALAYSIA"),
    ("TW", "TAIWAN, PROVINCE OF CHINA"),
    ("US", "UNITED STATES OF AMERICA"),
    ("ZZ", "UNKNOWN"),
)
VERSIONS: dict[str, str] = {"AMRT": "1.3", "EMRT": "2.1", "CMRT": "6.5"}


def label_formula(sheet: str) -> str:
    """The formula every RMI label cell holds; saved without a cached value."""
    return f'=OFFSET(L!$C$1,MATCH("{sheet}"&ADDRESS(ROW(),COLUMN(),4),L!$A:$A,0)-1,SL,,)'


@dataclass
class TemplateSpec:
    """What a filled template holds. Fields mirror the Declaration and the two lists."""

    kind: str = "AMRT"
    version: str | None = None
    language: str = "English"
    rendered: bool = False  # labels as text in `language`; else formulas without values
    declaration: dict[str, Any] = field(default_factory=dict)
    minerals: list[str] = field(default_factory=lambda: ["Rare Earth Elements"])
    other_minerals: dict[str, str] = field(default_factory=dict)  # pick cell → "Other" text
    smelters: list[dict[str, Any]] = field(default_factory=list)
    mines: list[dict[str, Any]] = field(default_factory=list)
    declaration_rows: dict[str, int] | None = None  # override (older versions moved rows)
    with_language_sheet: bool = True
    with_lookup: bool = True
    with_revision_sheet: bool = True
    blank_rows_before_data: int = 0  # empty list rows between the header and the first smelter


def default_declaration(company: str = "Nordmag Magnetics GmbH") -> dict[str, Any]:
    """A Declaration the RMI Checker accepts."""
    return {
        "company_name": company,
        "scope": "A. Company",
        "unique_id": "",
        "address": "Industriestrasse 1, 01099 Dresden, Germany",
        "contact_name": "Ana Example",
        "contact_email": "ana@example.com",
        "contact_phone": "+49 351 000000",
        "authorizer": "Ben Example",
        "authorizer_email": "ben@example.com",
        "effective_date": date(2026, 10, 1),
    }


def build_template(path: Path, spec: TemplateSpec) -> Path:
    """Write a template-shaped workbook for ``spec`` at ``path`` and return the path."""
    kind = spec.kind
    lang = LANGUAGES.index(spec.language)
    version = spec.version or VERSIONS[kind]
    rows = spec.declaration_rows or DECLARATION_ROWS[kind]
    book = openpyxl.Workbook()
    revision = book.active
    assert revision is not None
    if spec.with_revision_sheet:
        revision.title = "Revision"
        revision["B2"] = "DOCUMENT TITLE"
        revision["B3"] = {
            "AMRT": "Additional Minerals Reporting Template",
            "EMRT": "Extended Mineral Reporting Template",
            "CMRT": "Conflict Minerals Reporting Template",
        }[kind]
        revision["B12"] = "REVISION"
        revision["B13"] = "1"
        revision["B14"] = version
    else:
        revision.title = "Instructions"
    if spec.with_revision_sheet:
        book.create_sheet("Instructions")
    book.create_sheet("Definitions")

    declaration = book.create_sheet("Declaration")
    _label(declaration, "D2", "Declaration", TITLES[kind][lang], spec.rendered)
    declaration["B3"] = "Select Language Preference Here:"
    declaration["D3"] = spec.language
    declaration["J3"] = f"Revision {version}\nOctober 17, 2025"
    for label, row in rows.items():
        text = LABELS.get(f"DeclarationB{row}", (label,) * 6)[lang] if row == 8 else label
        _label(declaration, f"B{row}", "Declaration", text, spec.rendered)
    values = {**default_declaration(), **spec.declaration}
    for name, value in values.items():
        if value in (None, ""):
            continue
        declaration[f"D{rows[FIELD_LABELS[name]]}"] = value
    for cell, mineral in zip(MINERAL_CELLS[kind], spec.minerals, strict=False):
        declaration[cell] = mineral
    for cell, other in spec.other_minerals.items():
        declaration[cell] = "Other [specify below]"
        column, row = cell[0], int(cell[1:])
        declaration[f"{column}{row + 3}"] = other
    if kind == "AMRT":
        book.create_sheet("Minerals Scope")

    smelter_sheet = book.create_sheet("Smelter List")
    smelter_sheet["Q3"] = f"Revision {version}\nOctober 17, 2025"
    for column in "ABCDEFGHIJKLMNOPQ":
        key = f"Smelter List{column}4"
        text = LABELS.get(key, (f"column {column}",) * 6)[lang]
        _label(smelter_sheet, f"{column}4", "Smelter List", text, spec.rendered)
    smelter_sheet["R4"] = "Standard Smelter Name"
    first = 5 + spec.blank_rows_before_data
    for offset, smelter in enumerate(spec.smelters):
        row = first + offset
        for name, value in smelter.items():
            if value is None:
                continue
            if name == "recycled" and value is True:
                value = YES[lang]
            smelter_sheet[f"{SMELTER_COLUMNS[name]}{row}"] = value
    book.create_sheet("Checker")
    if kind != "CMRT":
        mine_sheet = book.create_sheet("Mine List")
        mine_sheet["M3"] = f"Revision {version}\nOctober 17, 2025"
        for column in "ABCDEFGHIJKLM":
            key = f"Mine List{column}4"
            text = LABELS.get(key, (f"column {column}",) * 6)[lang]
            _label(mine_sheet, f"{column}4", "Mine List", text, spec.rendered)
        for offset, mine in enumerate(spec.mines):
            for name, value in mine.items():
                if value is not None:
                    mine_sheet[f"{MINE_COLUMNS[name]}{5 + offset}"] = value
    book.create_sheet("Product List")
    if spec.with_lookup:
        lookup = book.create_sheet("Smelter Look-up")
        for column in "ABCDEFGHI":
            lookup[f"{column}4"] = label_formula("Smelter Look-up")
        for offset, entry in enumerate(LOOKUP):
            for column, value in zip("ABCDE", entry, strict=True):
                if value:
                    lookup[f"{column}{5 + offset}"] = value
            lookup[f"J{5 + offset}"] = f"=A{5 + offset}&B{5 + offset}"
    if spec.with_language_sheet:
        _language_sheet(book.create_sheet("L"), kind, rows)
    countries = book.create_sheet("C")
    countries.append(["COUNTRY CODE LIST", "FULL NAME"])
    for code, name in COUNTRIES:
        countries.append([code, name])
    for hidden in ("L", "C"):
        if hidden in book.sheetnames:
            book[hidden].sheet_state = "hidden"
    book.save(path)
    return path


def _label(sheet: Any, cell: str, sheet_name: str, text: str, rendered: bool) -> None:
    sheet[cell] = text if rendered else label_formula(sheet_name)


def _language_sheet(sheet: Any, kind: str, rows: dict[str, int]) -> None:
    sheet.append([None, "Sheets", "Cells", *LANGUAGES])
    sheet.append(["DeclarationD2", "Declaration", "D2", *TITLES[kind]])
    for label, row in rows.items():
        labels = LABELS.get(f"DeclarationB{row}", (label,) * 6) if row == 8 else (label,) * 6
        sheet.append([f"DeclarationB{row}", "Declaration", f"B{row}", *labels])
    for key, labels in LABELS.items():
        if not key.startswith("Declaration"):
            sheet_name, cell = key[:-2], key[-2:]
            sheet.append([key, sheet_name, cell, *labels])
    sheet.append(["Smelter ListZ2", "Smelter List", "Z2", *YES])


def smelter(
    lookup: str | None = None,
    metal: str = "Rare Earth Elements",
    **extra: Any,
) -> dict[str, Any]:
    """A Smelter List row picked from the look-up dropdown (E/F left to the formulas)."""
    return {"metal": metal, "lookup": lookup, **extra}
