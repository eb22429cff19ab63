"""RMI templates screened end to end with `feocscreen screen`: the same verdicts as our workbook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from feocscreen.cli import main
from rmi_builders import TemplateSpec, build_template, smelter

CHINA_REFINER = "Baotou Example Rare Earth Refinery"
ESTONIA_REFINER = "Tallinn Example Rare Metals"
REFINER_MAP = "file,supplier_id,stage\n{name},{sid},separation\n"


def screen(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    out = tmp_path / "result.json"
    result = CliRunner().invoke(main, ["screen", *args, "--json", str(out)])
    data = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    return result.exit_code, data, result.output


def supplier(data: dict[str, Any], supplier_id: str) -> dict[str, Any]:
    return next(s for s in data["suppliers"] if s["supplier_id"] == supplier_id)


def test_a_chinese_refiner_is_separation_exposure_and_a_2027_dfars_finding(tmp_path: Path) -> None:
    path = build_template(
        tmp_path / "nordmag-amrt.xlsx",
        TemplateSpec(smelters=[smelter(CHINA_REFINER, mine_countries="AUSTRALIA")]),
    )
    code, data, output = screen(tmp_path, str(path), "--as-of", "2026-11-28")
    assert code == 0, output
    assert data["inputs"][0]["kind"] == "rmi"
    nordmag = supplier(data, "Nordmag Magnetics GmbH")
    assert nordmag["stage_exposure"]["separation"] == 1.0
    assert nordmag["stage_exposure"]["mining"] == 0.0
    assert nordmag["feoc"] is False  # a covered-nation stage does not make the buyer an FEOC
    chain_2027 = [
        f
        for f in nordmag["findings"]
        if f["effective_from"] == "2027-01-01"
        and "CN" in f["message"]
        and "separation" in f["message"]
    ]
    assert chain_2027 and all(f["status"] == "upcoming" for f in chain_2027)
    evidence = chain_2027[0]["evidence"]
    assert any(e.get("sheet") == "Smelter List" and e.get("row") == 5 for e in evidence), evidence
    # From 2027 the same chain fails DFARS as an active finding.
    code, later, output = screen(tmp_path, str(path), "--as-of", "2027-03-01")
    assert code == 0, output
    active = [
        f
        for f in supplier(later, "Nordmag Magnetics GmbH")["findings"]
        if f["effective_from"] == "2027-01-01" and "separation" in f["message"]
    ]
    assert active and {f["status"] for f in active} == {"active"}


@pytest.mark.parametrize("unidentified", [False, True])
def test_an_unidentified_smelter_keeps_the_supplier_from_clear(
    tmp_path: Path, unidentified: bool
) -> None:
    picks = [smelter(ESTONIA_REFINER, mine_names="Mount Weld", mine_countries="AUSTRALIA")]
    if unidentified:
        picks.append(smelter("Smelter not yet identified"))
    path = build_template(
        tmp_path / "tallinn-amrt.xlsx",
        TemplateSpec(
            declaration={"company_name": "Tallinn Refining AS", "address": "Tallinn, ESTONIA"},
            smelters=picks,
        ),
    )
    mapping = tmp_path / "suppliers.csv"
    mapping.write_text(REFINER_MAP.format(name=path.name, sid="S-TALL"), encoding="utf-8")
    code, data, output = screen(
        tmp_path, str(path), "--suppliers", str(mapping), "--as-of", "2026-11-28"
    )
    assert code == 0, output
    tallinn = supplier(data, "S-TALL")
    if unidentified:
        assert tallinn["stage_unverified"]["separation"] == 0.5
        assert tallinn["tier"] != "clear"
    else:
        assert tallinn["stage_unverified"]["separation"] == 0.0
        assert tallinn["tier"] == "clear", tallinn["findings"]


def test_a_folder_of_three_filled_files_screens_into_one_report(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    build_template(folder / "nordmag-amrt.xlsx", TemplateSpec(smelters=[smelter(CHINA_REFINER)]))
    build_template(
        folder / "tallinn-amrt.xlsx",
        TemplateSpec(
            language="Deutsch",
            rendered=True,
            declaration={"company_name": "Tallinn Magnets OU", "address": "Tallinn, ESTONIA"},
            smelters=[smelter(ESTONIA_REFINER)],
        ),
    )
    build_template(
        folder / "sheffield-emrt.xlsx",
        TemplateSpec(
            kind="EMRT",
            language="日本語 Japanese",
            minerals=["Cobalt", "Lithium"],
            declaration={"company_name": "Sheffield SmCo Ltd", "address": "Sheffield, UK"},
            smelters=[smelter("Ganzhou Example Cobalt", metal="Cobalt")],
        ),
    )
    report = tmp_path / "report.xlsx"
    code, data, output = screen(tmp_path, str(folder), "-o", str(report), "--as-of", "2026-11-28")
    assert code == 0, output
    assert sorted(s["supplier_id"] for s in data["suppliers"]) == [
        "Nordmag Magnetics GmbH",
        "Sheffield SmCo Ltd",
        "Tallinn Magnets OU",
    ]
    assert [i["kind"] for i in data["inputs"]] == ["rmi", "rmi", "rmi"]
    assert supplier(data, "Sheffield SmCo Ltd")["stage_exposure"]["separation"] == 1.0
    ignored = [w for w in data["validation"]["warnings"] if w["code"] == "rmi-mineral-ignored"]
    assert [(w["file"], w["value"]) for w in ignored] == [("sheffield-emrt.xlsx", "Lithium")]
    book = openpyxl.load_workbook(report, read_only=True)
    ids = {
        str(cell)
        for row in book["Suppliers"].iter_rows(values_only=True)
        for cell in row
        if cell is not None
    }
    assert {"Nordmag Magnetics GmbH", "Sheffield SmCo Ltd", "Tallinn Magnets OU"} <= ids


def test_a_cmrt_is_recognised_and_explained(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    build_template(folder / "legacy-cmrt.xlsx", TemplateSpec(kind="CMRT", minerals=[]))
    build_template(folder / "nordmag-amrt.xlsx", TemplateSpec(smelters=[smelter(CHINA_REFINER)]))
    code, data, output = screen(tmp_path, str(folder), "--as-of", "2026-11-28")
    assert code == 0, output
    assert [s["supplier_id"] for s in data["suppliers"]] == ["Nordmag Magnetics GmbH"]
    [cmrt] = [w for w in data["validation"]["warnings"] if w["code"] == "rmi-cmrt-out-of-scope"]
    assert cmrt["file"] == "legacy-cmrt.xlsx"
    assert "not screened" in cmrt["message"] and "AMRT" in cmrt["message"]


def test_an_rmi_file_with_a_blocking_error_is_not_screened(tmp_path: Path) -> None:
    path = build_template(
        tmp_path / "nameless.xlsx",
        TemplateSpec(declaration={"company_name": None}, smelters=[smelter(CHINA_REFINER)]),
    )
    code, data, output = screen(tmp_path, str(path), "--fail-on", "high")
    assert code == 1, output
    [entry] = data["not_screened"]
    assert entry["supplier_id"] == "nameless"
    assert entry["reasons"][0]["cell"] == "D8"


def test_smelter_names_are_screened_against_watchlists(tmp_path: Path) -> None:
    watchlist = tmp_path / "list.csv"
    watchlist.write_text(
        "name,aliases,country,list,source_url\n"
        "Baotou Example RE Refinery Co. Ltd,,CN,EL,https://example.invalid/list\n",
        encoding="utf-8",
    )
    path = build_template(
        tmp_path / "nordmag-amrt.xlsx", TemplateSpec(smelters=[smelter(CHINA_REFINER)])
    )
    code, data, output = screen(tmp_path, str(path), "-l", str(watchlist), "--as-of", "2026-11-28")
    assert code == 0, output
    [match] = supplier(data, "Nordmag Magnetics GmbH")["matches"]
    assert (match["field"], match["status"]) == ("operator", "match")
    assert match["evidence"][0]["sheet"] == "Smelter List" and match["evidence"][0]["row"] == 5
