"""RMI files through intake and `feocscreen validate`: folders, mixed inputs, maps, duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from feocscreen.cli import main
from feocscreen.validate import load_portfolio
from rmi_builders import TemplateSpec, build_template, smelter

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo_suppliers.xlsx"


@pytest.fixture
def rmi_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    folder.mkdir()
    build_template(
        folder / "nordmag-amrt.xlsx",
        TemplateSpec(
            minerals=["Rare Earth Elements", "Zinc"],
            smelters=[
                smelter("Baotou Example Rare Earth Refinery"),
                smelter(
                    "Kuantan Example Separation",
                    mine_names="Mount Weld",
                    mine_countries="AUSTRALIA",
                ),
            ],
        ),
    )
    build_template(
        folder / "sheffield-emrt.xlsx",
        TemplateSpec(
            kind="EMRT",
            minerals=["Cobalt"],
            declaration={
                "company_name": "Sheffield SmCo Ltd",
                "address": "Sheffield, UNITED KINGDOM OF GREAT BRITAIN AND NORTHERN IRELAND",
            },
            smelters=[smelter("Kokkola Example Cobalt Refinery", metal="Cobalt")],
        ),
    )
    build_template(
        folder / "tallinn-amrt.xlsx",
        TemplateSpec(
            declaration={"company_name": "Tallinn Magnets OU", "address": "Tallinn, ESTONIA"},
            smelters=[
                smelter("Tallinn Example Rare Metals"),
                smelter("Smelter not yet identified"),
            ],
        ),
    )
    return folder


def test_a_folder_of_three_reports_is_one_portfolio(rmi_folder: Path) -> None:
    portfolio = load_portfolio([rmi_folder])
    suppliers = portfolio.suppliers.set_index("supplier_id")
    assert sorted(suppliers.index) == [
        "Nordmag Magnetics GmbH",
        "Sheffield SmCo Ltd",
        "Tallinn Magnets OU",
    ]
    assert set(suppliers["kind"]) == {"rmi"}
    assert suppliers.loc["Sheffield SmCo Ltd", "material"] == "smco"
    assert suppliers.loc["Sheffield SmCo Ltd", "country"] == "GB"
    assert [i["kind"] for i in portfolio.inputs] == ["rmi", "rmi", "rmi"]
    separation = portfolio.sourcing[portfolio.sourcing["stage"] == "separation"]
    tallinn = separation[separation["supplier_id"] == "Tallinn Magnets OU"]
    assert sorted(tallinn["country"].fillna("unverified")) == ["EE", "unverified"]
    assert set(portfolio.sourcing["share_basis"]) == {"assumed_equal"}
    assert not portfolio.errors


def test_rmi_files_merge_with_our_workbook(rmi_folder: Path) -> None:
    if not DEMO.exists():
        pytest.skip("demo workbook not generated")
    portfolio = load_portfolio([DEMO, rmi_folder / "nordmag-amrt.xlsx"])
    kinds = dict(zip(portfolio.suppliers["supplier_id"], portfolio.suppliers["kind"], strict=True))
    assert kinds["Nordmag Magnetics GmbH"] == "rmi"
    assert "workbook" in set(kinds.values())


def test_same_company_in_two_files_is_an_error_naming_both(tmp_path: Path) -> None:
    spec = TemplateSpec(smelters=[smelter("Baotou Example Rare Earth Refinery")])
    build_template(tmp_path / "q1.xlsx", spec)
    build_template(tmp_path / "q2.xlsx", spec)
    portfolio = load_portfolio([tmp_path / "q1.xlsx", tmp_path / "q2.xlsx"])
    duplicates = [i for i in portfolio.errors if i.code == "duplicate-supplier-across-files"]
    assert duplicates and "q1.xlsx" in duplicates[0].message and "q2.xlsx" in duplicates[0].message
    assert "Nordmag Magnetics GmbH" in portfolio.not_screened


def test_cmrt_in_a_folder_is_explained_and_the_rest_is_read(rmi_folder: Path) -> None:
    build_template(rmi_folder / "legacy-cmrt.xlsx", TemplateSpec(kind="CMRT", minerals=[]))
    portfolio = load_portfolio([rmi_folder])
    assert len(portfolio.suppliers) == 3
    [cmrt] = [i for i in portfolio.issues if i.code == "rmi-cmrt-out-of-scope"]
    assert cmrt.file == "legacy-cmrt.xlsx" and cmrt.severity == "warning"


def test_validate_lists_checker_issues_of_an_rmi_file(tmp_path: Path) -> None:
    path = build_template(
        tmp_path / "incomplete.xlsx",
        TemplateSpec(
            declaration={"company_name": None, "effective_date": None},
            smelters=[smelter("Smelter not listed", name="A Refinery", country="Atlantis")],
        ),
    )
    result = CliRunner().invoke(main, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    errors = {(e["code"], e["sheet"], e["cell"]) for e in report["errors"]}
    assert errors == {
        ("rmi-missing-declaration-field", "Declaration", "D8"),
        ("unknown-country", "Smelter List", "E5"),
    }
    warnings = {(w["code"], w["cell"]) for w in report["warnings"]}
    assert ("rmi-missing-declaration-field", "D27") in warnings
    assert report["summary"]["not_screened"] == ["incomplete"]


def test_validate_with_a_suppliers_map(rmi_folder: Path, tmp_path: Path) -> None:
    map_file = tmp_path / "suppliers.csv"
    map_file.write_text(
        "file,supplier_id,stage,annual_spend_usd,smelter_stage\n"
        "nordmag-amrt.xlsx,S-NORD,magnet,2500000,separation\n"
        "sheffield-emrt.xlsx,S-SHEF,alloy,400000,\n"
        "tallinn-amrt.xlsx,S-TALL,metal,900000,metal\n",
        encoding="utf-8",
    )
    portfolio = load_portfolio([rmi_folder], suppliers_map=map_file)
    suppliers = portfolio.suppliers.set_index("supplier_id")
    assert sorted(suppliers.index) == ["S-NORD", "S-SHEF", "S-TALL"]
    assert suppliers.loc["S-TALL", "stage"] == "metal"
    assert suppliers.loc["S-NORD", "annual_spend_usd"] == 2_500_000.0
    tallinn = portfolio.sourcing[portfolio.sourcing["supplier_id"] == "S-TALL"]
    assert set(tallinn["stage"]) == {"metal"}
    result = CliRunner().invoke(main, ["validate", str(rmi_folder), "--suppliers", str(map_file)])
    assert result.exit_code == 0, result.output
    assert "3 suppliers ready to screen" in result.output


def test_bad_suppliers_map_is_a_usage_error(rmi_folder: Path, tmp_path: Path) -> None:
    map_file = tmp_path / "suppliers.csv"
    map_file.write_text("file,stage\nnordmag-amrt.xlsx,smelter\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(rmi_folder), "--suppliers", str(map_file)])
    assert result.exit_code == 2
    assert "suppliers map" in result.output
