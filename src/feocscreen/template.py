"""A blank intake workbook: the three sheets, every column explained, dropdowns where they help."""

from __future__ import annotations

from pathlib import Path

import pycountry
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from .models import DFARS_EXCEPTIONS, MATERIALS, OWNER_TYPES, SOURCE_STAGES, SUPPLIER_STAGES

# Column, meaning — in DESIGN's order. Required columns are marked in the header comment.
SUPPLIER_COLUMNS = [
    ("supplier_id", "Required. Your unique key for the supplier."),
    ("supplier_name", "Required. Legal name as known."),
    (
        "country",
        "Required. Country of incorporation and headquarters (unless the next two differ).",
    ),
    ("incorporation_country", "Optional. Where the entity is incorporated, if not `country`."),
    ("hq_country", "Optional. Where it is headquartered / run from, if not `country`."),
    ("stage", "Required. mining, separation, metal, alloy, magnet or distributor."),
    ("supplies_stage", "Distributors only: the stage they supply to you (default magnet)."),
    ("material", "ndfeb (default) or smco."),
    ("annual_spend_usd", "Optional. Annual spend in USD, ≥ 0; weights portfolio figures."),
    ("annual_volume_kg", "Optional. Annual volume in kg, ≥ 0."),
    ("parent_name", "Optional. Immediate parent holding more than 50 %."),
    ("parent_country", "Optional. Country of that parent."),
    ("lei", "Optional. ISO 17442 Legal Entity Identifier (checksum-validated)."),
    (
        "dfars_exception",
        "Optional. A declared DFARS 225.7018-3 exception; reported, never assumed.",
    ),
]
SOURCING_COLUMNS = [
    ("supplier_id", "Required. The supplier (a supplier_id on Suppliers)."),
    ("stage", "Required. Stage performed: mining, separation, metal, alloy, magnet or recycling."),
    ("country", "Where the stage is performed. Blank or 'unknown' = unverified."),
    ("share_pct", "Percent (0–100) of the supplier's material at that stage."),
    ("facility", "Optional. Plant or site name."),
    ("operator", "Optional. Operator of the facility (screened against watchlists)."),
    ("upstream_supplier_id", "Optional. That share comes from another listed supplier."),
]
OWNERSHIP_COLUMNS = [
    ("entity", "Required. A supplier_id, or an owner name used elsewhere on this sheet."),
    ("owner", "Required. Who holds the interest."),
    ("owner_country", "Country of the owner."),
    (
        "owner_type",
        "government, state_owned, party_or_official, company, individual, public_float.",
    ),
    ("equity_pct", "Percent of equity held (0–100)."),
    ("voting_pct", "Percent of voting rights held (0–100)."),
    ("board_pct", "Percent of board seats held (0–100)."),
    ("debt_pct", "Percent of the entity's debt held (0–100)."),
    ("appoints_officer", "yes/no: the owner can appoint a board member or executive."),
]

INSTRUCTIONS = [
    "feocscreen intake workbook",
    "",
    "Fill one row per supplier on Suppliers; optionally add chain-of-custody rows on Sourcing",
    "and shareholders on Ownership. Hover a header for what the column means.",
    "Countries: ISO codes (CN, KR) or English names ('Korea, Republic of'); bare 'Korea' is",
    "refused because it names both KR and KP. Blank or 'unknown' means not declared.",
    "Shares are percentages (0–100). Shares of one stage under 100 leave the rest unverified.",
    "Validate with:  feocscreen validate FILE.xlsx    Screen with:  feocscreen screen FILE.xlsx",
    "feocscreen informs; it is not legal advice.",
]

HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
HEADER_FONT = Font(bold=True, color="FFFFFF")
ROWS_WITH_DROPDOWNS = 5000


def write_template(path: Path) -> Path:
    """Write the blank intake workbook to ``path``."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Instructions"
    for line in INSTRUCTIONS:
        sheet.append([line])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.column_dimensions["A"].width = 100

    lists = workbook.create_sheet("Lists")
    countries = sorted(c.name for c in pycountry.countries)
    for index, name in enumerate(countries, start=1):
        lists.cell(row=index, column=1, value=name)
    vocab = {
        "B": SUPPLIER_STAGES,
        "C": OWNER_TYPES,
        "D": MATERIALS,
        "E": DFARS_EXCEPTIONS,
        "F": SOURCE_STAGES,
    }
    for letter, values in vocab.items():
        for index, value in enumerate(values, start=1):
            lists[f"{letter}{index}"] = value
    lists.sheet_state = "hidden"

    def ref(letter: str, count: int) -> str:
        return f"=Lists!${letter}$1:${letter}${count}"

    country_ref = ref("A", len(countries))
    dropdowns = {
        "Suppliers": {
            "country": country_ref,
            "incorporation_country": country_ref,
            "hq_country": country_ref,
            "parent_country": country_ref,
            "stage": ref("B", len(SUPPLIER_STAGES)),
            "material": ref("D", len(MATERIALS)),
            "dfars_exception": ref("E", len(DFARS_EXCEPTIONS)),
            "supplies_stage": ref("F", 5),
        },
        "Sourcing": {"stage": ref("F", len(SOURCE_STAGES)), "country": country_ref},
        "Ownership": {"owner_type": ref("C", len(OWNER_TYPES)), "owner_country": country_ref},
    }
    for title, columns in (
        ("Suppliers", SUPPLIER_COLUMNS),
        ("Sourcing", SOURCING_COLUMNS),
        ("Ownership", OWNERSHIP_COLUMNS),
    ):
        ws = workbook.create_sheet(title)
        for index, (name, meaning) in enumerate(columns, start=1):
            cell = ws.cell(row=1, column=index, value=name)
            cell.fill = HEADER_FILL
            cell.font = HEADER_FONT
            cell.comment = Comment(meaning, "feocscreen")
            letter = cell.column_letter
            ws.column_dimensions[letter].width = max(14, len(name) + 4)
            formula = dropdowns[title].get(name)
            if formula:
                validation = DataValidation(
                    type="list", formula1=formula, allow_blank=True, showErrorMessage=False
                )
                validation.add(f"{letter}2:{letter}{ROWS_WITH_DROPDOWNS}")
                ws.add_data_validation(validation)
        ws.freeze_panes = "A2"
    workbook.move_sheet("Lists", offset=len(workbook.sheetnames))
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path
