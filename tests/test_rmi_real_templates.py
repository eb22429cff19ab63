"""The real, blank RMI templates (AMRT 1.3, EMRT 2.1), filled by the test with openpyxl.

openpyxl saves formulas without cached values, so every label and every look-up
column (smelter country E, RMI id F) comes back empty: this is the hardest file
the reader meets. The templates live beside the repository in
``../shared/reference/rmi``; the tests skip when they are absent.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest

from feocscreen import rmi

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "rmi"
AMRT = REFERENCE / "RMI_AMRT_1.3.xlsx"
EMRT = REFERENCE / "RMI_EMRT_2.1.xlsx"

pytestmark = pytest.mark.skipif(
    not (AMRT.exists() and EMRT.exists()),
    reason=f"the real RMI templates are not at {REFERENCE} (they sit beside the repository, "
    "in ../shared/reference/rmi, and are not copied into it)",
)


def _declare(sheet: openpyxl.worksheet.worksheet.Worksheet, rows: dict[str, int]) -> None:
    sheet["D3"] = "English"
    sheet["D8"] = "Nordmag Magnetics GmbH"
    sheet["D9"] = "A. Company"
    sheet[f"D{rows['address']}"] = "Industriestrasse 1, 01099 Dresden, GERMANY"
    sheet[f"D{rows['contact']}"] = "Ana Example"
    sheet[f"D{rows['contact'] + 1}"] = "ana@example.com"
    sheet[f"D{rows['contact'] + 2}"] = "+49 351 000000"
    sheet[f"D{rows['contact'] + 3}"] = "Ben Example"
    sheet[f"D{rows['contact'] + 5}"] = "ben@example.com"
    sheet[f"D{rows['date']}"] = date(2026, 10, 1)


@pytest.fixture(scope="module")
def filled_amrt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    book = openpyxl.load_workbook(AMRT)
    _declare(book["Declaration"], {"address": 19, "contact": 20, "date": 27})
    book["Declaration"]["D12"] = "Rare Earth Elements"
    book["Declaration"]["E12"] = "Zinc"
    smelters = book["Smelter List"]
    smelters["B5"] = "Rare Earth Elements"  # picked from the dropdowns; E and F stay formulas
    smelters["C5"] = "Fujian Golden Dragon Rare Earth Co,. Ltd"
    smelters["A6"] = "CID004413"  # only the RMI id typed: B–F are look-up formulas
    smelters["B7"] = "Rare Earth Elements"
    smelters["C7"] = "Smelter not yet identified"
    smelters["B8"] = "Zinc"
    smelters["C8"] = "Smelter not listed"
    smelters["D8"] = "Example Zinc Works"
    smelters["E8"] = "CANADA"
    mines = book["Mine List"]
    mines["A5"] = "Rare Earth Elements"
    mines["B5"] = "Iluka Resources"
    mines["C5"] = "Eneabba"
    mines["F5"] = "AUSTRALIA"
    path = tmp_path_factory.mktemp("real") / "nordmag-amrt.xlsx"
    book.save(path)
    return path


@pytest.fixture(scope="module")
def filled_emrt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    book = openpyxl.load_workbook(EMRT)
    _declare(book["Declaration"], {"address": 18, "contact": 19, "date": 26})
    book["Declaration"]["D8"] = "Sheffield Example SmCo Ltd"
    smelters = book["Smelter List"]
    smelters["B5"] = "Cobalt"
    smelters["C5"] = "Freeport Kokkola"  # a dropdown alias of Umicore Finland Oy
    smelters["B6"] = "Cobalt"
    smelters["C6"] = "Ganzhou Hanrui"
    smelters["O6"] = "CONGO, DEMOCRATIC REPUBLIC OF THE"
    smelters["B7"] = "Cobalt"
    smelters["C7"] = "Ganzhou Hanrui New Energy Technology Co., Ltd."  # same CID as row 6
    path = tmp_path_factory.mktemp("real") / "sheffield-emrt.xlsx"
    book.save(path)
    return path


def test_blank_templates_are_recognised_with_their_language(tmp_path: Path) -> None:
    for path, label in ((AMRT, "AMRT 1.3"), (EMRT, "EMRT 2.1")):
        assert rmi.is_rmi_workbook(path)
        info = rmi.detect_template(path)
        assert (info.label, info.language, info.supported) == (label, "中文 Chinese", True)
        report = rmi.read_rmi(path)
        assert [(i.code, i.cell) for i in report.errors] == [
            ("rmi-missing-declaration-field", "D8")
        ]


def test_filled_amrt_reads_by_position_without_cached_values(filled_amrt: Path) -> None:
    report = rmi.read_rmi(filled_amrt)
    assert report.template == "AMRT 1.3"
    assert not report.errors
    [supplier] = report.suppliers
    assert (supplier["supplier_id"], supplier["country"], supplier["material"]) == (
        "Nordmag Magnetics GmbH",
        "DE",
        "ndfeb",
    )
    separation = sorted(
        (r["country"] or "", r["operator"] or "", r["facility"], round(r["share"], 6))
        for r in report.sourcing
        if r["stage"] == "separation"
    )
    assert separation == [
        ("", "", "Smelter not yet identified", 0.333333),
        ("AU", "Iluka Resources", "CID004413", 0.333333),
        ("CN", "Fujian Golden Dragon Rare Earth Co,. Ltd", "CID004800", 0.333333),
    ]
    mining = {(r["country"], r["operator"]) for r in report.sourcing if r["stage"] == "mining"}
    assert mining == {("AU", "Eneabba"), (None, None)}
    assert report.minerals_ignored == ["Zinc"]
    cells = {(i.code, i.sheet, i.cell) for i in report.issues}
    assert ("rmi-mineral-ignored", "Declaration", "E12") in cells


def test_filled_emrt_feeds_smco_and_counts_a_smelter_once(filled_emrt: Path) -> None:
    report = rmi.read_rmi(filled_emrt)
    assert report.template == "EMRT 2.1"
    [supplier] = report.suppliers
    assert supplier["material"] == "smco"
    separation = {
        (r["country"], r["operator"]): round(r["share"], 6)
        for r in report.sourcing
        if r["stage"] == "separation"
    }
    assert separation == {
        ("FI", "Umicore Finland Oy"): 0.5,
        ("CN", "Ganzhou Hanrui New Energy Technology Co., Ltd."): 0.5,
    }
    [duplicate] = [i for i in report.issues if i.code == "rmi-duplicate-smelter"]
    assert duplicate.cell == "D7"
    mining = {r["country"] for r in report.sourcing if r["stage"] == "mining"}
    assert mining == {"CD", None}
    # The EMRT ships with all six minerals selected; the five that are not cobalt are reported.
    assert report.minerals_ignored == ["Copper", "Graphite", "Lithium", "Mica", "Nickel"]
