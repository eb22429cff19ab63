"""The committed demo fixtures match their generator and hold the scenarios the demo relies on.

The generator (fixtures/make_demo.py) is the source of truth; these tests
regenerate into tmp_path and compare cell values (and percent formats, which
change how a share reads) with the committed files, so the two never drift.
The structural checks guard the cases the docs and the other stages use:
upstream links that resolve, indirect ownership chains, valid LEIs.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import string
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st

from feocscreen.cli import main
from feocscreen.validate import load_portfolio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WORKBOOK = FIXTURES / "demo_suppliers.xlsx"
FLAT_CSV = FIXTURES / "demo_flat.csv"
REAL_COMPANIES = ("Korea Zinc", "USA Rare Earth", "Vital Metals")
SUPPLIER_IDS = [f"S{n:03d}" for n in range(1, 33)]


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_demo", FIXTURES / "make_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_demo", module)
    spec.loader.exec_module(module)
    return module


make_demo = _load_generator()


def _cells(path: Path) -> dict[str, list[list[tuple[Any, str]]]]:
    """Every sheet as rows of (value, number format), in sheet order."""
    workbook = openpyxl.load_workbook(path)
    return {
        sheet.title: [
            [(cell.value, cell.number_format) for cell in row] for row in sheet.iter_rows()
        ]
        for sheet in workbook.worksheets
    }


def _table(sheet_name: str) -> list[dict[str, Any]]:
    sheet = openpyxl.load_workbook(WORKBOOK)[sheet_name]
    rows = list(sheet.iter_rows(values_only=True))
    headers = [str(h) for h in rows[0]]
    return [dict(zip(headers, row, strict=True)) for row in rows[1:]]


def _as_percent(value: Any, number_format: str = "General") -> float:
    if isinstance(value, str):
        return float(value.rstrip("%").replace(",", ""))
    return float(value) * (100 if "%" in number_format else 1)


def test_regenerated_workbook_matches_the_committed_one(tmp_path: Path) -> None:
    regenerated = make_demo.write_workbook(tmp_path / make_demo.WORKBOOK_NAME)
    assert _cells(regenerated) == _cells(WORKBOOK)


def test_regenerated_flat_csv_is_byte_identical(tmp_path: Path) -> None:
    regenerated = make_demo.write_flat_csv(tmp_path / make_demo.FLAT_CSV_NAME)
    assert regenerated.read_bytes() == FLAT_CSV.read_bytes()


def test_script_writes_both_fixtures_into_the_chosen_directory(tmp_path: Path) -> None:
    assert make_demo.main(["--out-dir", str(tmp_path / "out")]) == 0
    assert _cells(tmp_path / "out" / make_demo.WORKBOOK_NAME) == _cells(WORKBOOK)
    assert (tmp_path / "out" / make_demo.FLAT_CSV_NAME).read_bytes() == FLAT_CSV.read_bytes()


def test_workbook_opens_with_the_illustrative_readme_and_the_three_sheets() -> None:
    workbook = openpyxl.load_workbook(WORKBOOK)
    assert workbook.sheetnames == ["README", "Suppliers", "Sourcing", "Ownership"]
    readme = " ".join(
        str(row[0]) for row in workbook["README"].iter_rows(values_only=True) if row[0]
    )
    assert "ILLUSTRATIVE" in readme
    for company in REAL_COMPANIES:
        assert company in readme


def test_suppliers_cover_every_stage_and_the_required_countries() -> None:
    suppliers = _table("Suppliers")
    assert [row["Supplier ID"] for row in suppliers] == SUPPLIER_IDS
    assert {str(row["Stage"]).lower() for row in suppliers} == {
        "mining",
        "separation",
        "metal",
        "alloy",
        "magnet",
        "distributor",
    }
    countries = {str(row["Country"]).strip() for row in suppliers}
    for spelled in (
        "P.R. China",
        "South Korea",
        "United States",
        "UK",
        "Viet Nam",
        "Hong Kong SAR",
    ):
        assert spelled in countries
    assert {str(row["Material"]) for row in suppliers if row["Material"]} == {"NdFeB", "SmCo"}
    assert sum(1 for row in suppliers if row["DFARS Exception"]) == 1
    assert any(isinstance(row["Annual Spend (USD)"], str) for row in suppliers)


def test_real_companies_are_marked_illustrative_and_have_no_ownership_rows() -> None:
    suppliers = _table("Suppliers")
    real_ids = set()
    for company in REAL_COMPANIES:
        [row] = [row for row in suppliers if company in str(row["Supplier Name"])]
        assert "illustrative, not asserted as fact" in str(row["Notes"])
        real_ids.add(row["Supplier ID"])
    assert not [row for row in _table("Ownership") if row["Entity"] in real_ids]


def test_every_lei_passes_the_iso_17442_check() -> None:
    leis = [row["LEI"] for row in _table("Suppliers") if row["LEI"]]
    assert leis
    assert all(make_demo.lei_is_valid(lei) for lei in leis)


def test_upstream_links_resolve_without_cycles_and_include_a_60_40_split() -> None:
    ids = {row["Supplier ID"] for row in _table("Suppliers")}
    sheet = openpyxl.load_workbook(WORKBOOK)["Sourcing"]
    links: dict[str, set[str]] = defaultdict(set)
    shares: dict[tuple[str, str], float] = defaultdict(float)
    upstream_shares: dict[tuple[str, str], list[float]] = defaultdict(list)
    for supplier, stage, _country, share, _facility, _operator, upstream in sheet.iter_rows(
        min_row=2
    ):
        key = (supplier.value, stage.value)
        percent = _as_percent(share.value, share.number_format)
        shares[key] += percent
        if upstream.value:
            assert upstream.value in ids
            links[supplier.value].add(upstream.value)
            upstream_shares[key].append(percent)
    assert all(total <= 100.5 for total in shares.values())
    assert any(sorted(split) == [40.0, 60.0] for split in upstream_shares.values())

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in links.get(start, set()) - seen:
            if nxt == target or reaches(nxt, target, seen | {nxt}):
                return True
        return False

    assert not [supplier for supplier in list(links) if reaches(supplier, supplier, set())]


def test_ownership_holds_direct_and_indirect_covered_government_chains() -> None:
    ownership = _table("Ownership")
    ids = {row["Supplier ID"] for row in _table("Suppliers")}
    owners = {row["Owner"] for row in ownership}
    assert all(row["Entity"] in ids or row["Entity"] in owners for row in ownership)
    holders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in ownership:
        holders[row["Entity"]].append(row)

    def government_equity(entity: str) -> float:
        """Equity a covered government holds, multiplied along each path (no cycles here)."""
        total = 0.0
        for row in holders[entity]:
            equity = _as_percent(row["Equity %"]) / 100 if row["Equity %"] is not None else 0.0
            if row["Owner Type"] == "government":
                total += equity
            elif row["Owner"] in holders:
                total += equity * government_equity(row["Owner"])
        return total

    assert government_equity("S007") == pytest.approx(0.30)  # direct state-owned holder
    assert government_equity("S008") == pytest.approx(0.60)  # through the Singapore holding
    assert government_equity("S013") == pytest.approx(0.16)  # 40 % of 40 %
    types = {row["Owner Type"] for row in ownership}
    assert {"government", "state_owned", "party_or_official", "public_float"} <= types
    assert any(row["Debt %"] for row in ownership)
    assert any(row["Voting %"] not in (None, row["Equity %"]) for row in ownership)


def test_flat_csv_uses_the_stage_country_shortcut_with_its_own_ids() -> None:
    with FLAT_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 10
    for stage in ("Mining", "Separation", "Metal", "Alloy", "Magnet"):
        assert f"{stage} Country" in rows[0]
    workbook_ids = {row["Supplier ID"] for row in _table("Suppliers")}
    assert not workbook_ids & {row["Supplier ID"] for row in rows}


LEI_BASE = st.text(alphabet=string.digits + string.ascii_uppercase, min_size=18, max_size=18)


@given(LEI_BASE)
def test_generated_check_digits_always_validate(base: str) -> None:
    lei = make_demo.lei_with_check_digits(base)
    assert lei.startswith(base)
    assert make_demo.lei_is_valid(lei)


@given(LEI_BASE, st.integers(min_value=0, max_value=19), st.sampled_from(string.digits))
def test_a_changed_digit_fails_the_check(base: str, position: int, digit: str) -> None:
    lei = make_demo.lei_with_check_digits(base)
    assume(lei[position].isdigit())  # MOD 97-10 guarantees detection of digit substitutions
    changed = lei[:position] + digit + lei[position + 1 :]
    assert make_demo.lei_is_valid(changed) == (changed == lei)


def test_demo_files_validate_with_only_the_intended_warnings() -> None:
    result = CliRunner().invoke(
        main, ["validate", "--format", "json", str(WORKBOOK), str(FLAT_CSV)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["errors"] == []
    located = sorted(
        (w["code"], w["file"], w["sheet"], w["row"], w["cell"]) for w in report["warnings"]
    )
    assert located == [
        ("shares-under-100", "demo_suppliers.xlsx", "Sourcing", 8, "D8"),
        ("shares-under-100", "demo_suppliers.xlsx", "Sourcing", 71, "D71"),
        ("unused-column", "demo_flat.csv", "demo_flat", 1, "L1"),
        ("unused-column", "demo_suppliers.xlsx", "Suppliers", 1, "O1"),
    ]


def test_intake_reads_figures_typed_the_way_users_type_them() -> None:
    portfolio = load_portfolio([WORKBOOK, FLAT_CSV])
    assert portfolio.not_screened == {}
    suppliers = portfolio.suppliers.set_index("supplier_id")
    assert len(suppliers) == len(SUPPLIER_IDS) + 12
    assert suppliers.loc["S008", "annual_spend_usd"] == 1_200_000  # text "1,200,000"
    assert suppliers.loc["S008", "annual_volume_kg"] == 45_000  # text "45,000"
    assert suppliers.loc["S011", ["incorporation_country", "hq_country"]].tolist() == ["HK", "CN"]
    assert suppliers.loc["S026", "country"] == "JP"  # " Japan " with stray spaces
    assert suppliers.loc["S022", "country"] == "TW"
    sourcing = portfolio.sourcing
    s010_mining = sourcing[(sourcing.supplier_id == "S010") & (sourcing.stage == "mining")]
    # a 0%-formatted 0.55 and the text "45%"
    assert dict(zip(s010_mining.country, s010_mining.share, strict=True)) == pytest.approx(
        {"VN": 0.55, "CN": 0.45}
    )
    s028_alloy = sourcing[(sourcing.supplier_id == "S028") & (sourcing.stage == "alloy")]
    assert s028_alloy.share.tolist() == pytest.approx([0.8])
    flat = sourcing[sourcing.supplier_id == "F001"]
    assert sorted(flat.stage) == sorted(("mining", "separation", "metal", "alloy", "magnet"))
    assert set(flat.share_basis) == {"flat"}
    ownership = portfolio.ownership
    s020 = ownership[(ownership.entity == "S020") & (ownership.owner_country == "CN")]
    assert s020.equity.tolist() == pytest.approx([0.4])  # percent-formatted cell
    s007_float = ownership[(ownership.entity == "S007") & (ownership.owner_type == "public_float")]
    assert s007_float.equity.tolist() == pytest.approx([0.7])  # text "70%"
