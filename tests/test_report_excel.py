"""The Excel report, read back with openpyxl: sheets, headers, known rows, colours, charts,
hyperlinks, injection safety, Audit hashes, overflow and reproducibility."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.chart import BarChart
from python_calamine import CalamineWorkbook

from feocscreen.cli import main
from feocscreen.report import package, sheetdata
from feocscreen.report.excel import (
    EXCEL_MAX_CELL,
    EXCEL_MAX_ROWS,
    SHEETS,
    TIER_COLOURS,
    Column,
    _csv_field,
    _csv_value,
    _ReportWriter,
    write_report,
)
from feocscreen.report.view import clean_text, evidence_refs

DATA = Path(__file__).parent / "data" / "result_v1.json"


@pytest.fixture()
def result() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


@pytest.fixture()
def workbook(result: dict[str, Any], tmp_path: Path) -> Any:
    written = write_report(result, tmp_path / "reports" / "q4.xlsx")
    assert written == [tmp_path / "reports" / "q4.xlsx"]
    return load_workbook(written[0])


def rows(ws: Any) -> list[tuple[Any, ...]]:
    return list(ws.iter_rows(values_only=True))


def row_of(ws: Any, first: str, column: int = 0) -> int:
    """1-based row number of the first row whose cell in `column` equals `first`."""
    for index, row in enumerate(ws.iter_rows(values_only=True), start=1):
        if row[column] == first:
            return index
    raise AssertionError(f"{first!r} not found on {ws.title}")


def fill_of(cell: Any) -> str:
    return str(cell.fill.fgColor.rgb)[-6:]


def test_sheets_in_design_order(workbook: Any) -> None:
    assert workbook.sheetnames == list(SHEETS)
    assert SHEETS == (
        "Summary",
        "Suppliers",
        "Findings",
        "Midstream",
        "Ownership",
        "Matches",
        "Validation",
        "Audit",
    )


def test_every_sheet_is_frozen_filtered_and_prints_landscape_to_width(workbook: Any) -> None:
    for ws in workbook:
        assert ws.freeze_panes is not None, ws.title
        assert ws.auto_filter.ref, ws.title
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.page_setup.fitToWidth == 1, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.column_dimensions["A"].width >= 8, ws.title
    for name in SHEETS[1:]:
        ws = workbook[name]
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref.startswith("A1:")


def test_summary_has_disclaimer_kpis_charts_and_questions(workbook: Any) -> None:
    ws = workbook["Summary"]
    values = [v for row in rows(ws) for v in row if v is not None]
    assert any(
        isinstance(v, str) and v.startswith("Informational, not legal advice") for v in values
    )
    assert ws["B3"].value == "2026-11-28"
    screened = row_of(ws, "Suppliers screened")
    assert ws.cell(screened, 2).value == 4
    spend = row_of(ws, "Spend with FEOC or PFE suppliers (USD)")
    assert ws.cell(spend, 2).value == 800000
    assert ws.cell(spend, 2).number_format == "#,##0"
    index = row_of(ws, "Portfolio midstream exposure index (spend-weighted)")
    assert ws.cell(index, 2).value == pytest.approx(0.31)
    assert ws.cell(index, 2).number_format == "0.0%"
    critical = row_of(ws, "critical")
    assert fill_of(ws.cell(critical, 1)) == TIER_COLOURS["critical"][0]
    separation = row_of(ws, "separation")
    assert ws.cell(separation, 2).value == pytest.approx(0.56)

    charts = ws._charts
    assert len(charts) == 2
    assert all(isinstance(chart, BarChart) for chart in charts)
    titles = {"".join(r.t for p in c.title.tx.rich.p for r in p.r) for c in charts}
    assert titles == {"Spend-weighted covered share by stage", "Suppliers by tier"}

    asks = [row for row in rows(ws) if row[3] and str(row[3]).startswith("Declare the origin")]
    assert asks and asks[0][0] == "S004"
    assert any(
        row[3] == "Confirm identity of parent_name against SDN entry "
        "'Northern Rare Metals Trading' (score 78.0)"
        for row in rows(ws)
    )
    assert any(str(row[3]).startswith("Plan for 2027-01-01") for row in rows(ws))
    assert any(row[0] == "S009" and row[2] == "high" for row in rows(ws))


def test_suppliers_sheet_has_a_known_row_and_tier_colours(workbook: Any) -> None:
    ws = workbook["Suppliers"]
    header = rows(ws)[0]
    assert header[:9] == (
        "Supplier ID",
        "Supplier",
        "Country",
        "Stage",
        "Tier",
        "Score",
        "FEOC",
        "PFE",
        "Covered-gov. ownership",
    )
    assert "Separation covered" in header and "Separation unverified" in header
    assert header[-2:] == ("Annual spend (USD)", "FEOC/PFE basis")
    at = row_of(ws, "S002")
    values = dict(zip(header, rows(ws)[at - 1], strict=True))
    assert values["Supplier"] == "Baotou Northern Separation Co., Ltd."
    assert values["Tier"] == "critical"
    assert values["FEOC"] == "yes" and values["PFE"] == "yes"
    assert values["Covered-gov. ownership"] == pytest.approx(0.6)
    assert values["Separation covered"] == pytest.approx(1.0)
    assert values["Metal covered"] is None  # outside the chain, not zero
    assert values["Active findings"] == 2
    assert values["Matches to review"] == 1
    assert values["Annual spend (USD)"] == 800000
    tier_column = header.index("Tier") + 1
    for supplier_id, tier in (
        ("S001", "high"),
        ("S002", "critical"),
        ("S003", "clear"),
        ("S004", "medium"),
    ):
        cell = ws.cell(row_of(ws, supplier_id), tier_column)
        assert cell.value == tier  # the tier is written as text as well as colour
        assert fill_of(cell) == TIER_COLOURS[tier][0]
    share = ws.cell(at, header.index("Separation covered") + 1)
    assert share.number_format == "0.0%"


def test_findings_sheet_rows_hyperlinks_and_waivers(workbook: Any) -> None:
    ws = workbook["Findings"]
    header = rows(ws)[0]
    assert header[:10] == (
        "Supplier ID",
        "Supplier",
        "Rule",
        "Title",
        "Severity",
        "Status",
        "Effective from",
        "Message",
        "Evidence (input cells)",
        "Citation",
    )
    assert len(rows(ws)) == 1 + 6  # every finding, active, upcoming and waived
    by_rule = {row[2]: row for row in rows(ws)[1:]}
    melt = dict(zip(header, by_rule["dfars-magnet-melt"], strict=True))
    assert (
        melt["Evidence (input cells)"]
        == "Sourcing!C5 (suppliers.xlsx); Sourcing!D5 (suppliers.xlsx)"
    )
    assert melt["Status"] == "active"
    upcoming = dict(zip(header, by_rule["dfars-2027-chain"], strict=True))
    assert upcoming["Status"] == "upcoming" and upcoming["Effective from"] == "2027-01-01"
    waived = dict(zip(header, by_rule["midstream-covered-share"], strict=True))
    assert waived["Waived by"] == "j.doe@example.com"
    assert waived["Waived until"] == "2027-03-31"
    assert waived["Waiver reason"] == "Second source qualified, switch in Q1"

    citation_column = header.index("Citation") + 1
    cell = ws.cell(row_of(ws, "dfars-magnet-melt", 2), citation_column)
    assert cell.value == "DFARS 225.7018-2"
    assert cell.hyperlink is not None
    assert cell.hyperlink.target == "https://www.acquisition.gov/dfars/225.7018-2-restriction."
    # a citation whose URL is not http(s) is shown as text, never linked
    unsafe = ws.cell(row_of(ws, "midstream-unverified", 2), citation_column)
    assert unsafe.value == "feocscreen policy: unknown is not clean"
    assert unsafe.hyperlink is None
    severity = ws.cell(row_of(ws, "feoc-jurisdiction", 2), header.index("Severity") + 1)
    assert fill_of(severity) == TIER_COLOURS["critical"][0]


def test_input_text_is_never_a_formula(workbook: Any) -> None:
    suppliers = workbook["Suppliers"]
    name = suppliers.cell(row_of(suppliers, "S003"), 2)
    assert name.value == '=HYPERLINK("http://attacker.example/x","Click")'
    assert name.data_type == "s"
    assert name.quotePrefix
    at_sign = suppliers.cell(row_of(suppliers, "S004"), 2)
    assert at_sign.value == "@Kobe Alloy K.K." and at_sign.data_type == "s"
    validation = workbook["Validation"]
    header = rows(validation)[0]
    plus = validation.cell(row_of(validation, "shares-under-100", 1), header.index("Value") + 1)
    assert plus.value == "+cmd|' /C calc'!A0" and plus.data_type == "s"
    findings = workbook["Findings"]
    minus = findings.cell(row_of(findings, "midstream-unverified", 2), 8)
    assert str(minus.value).startswith("-40 %") and minus.data_type == "s"
    for ws in workbook:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"


def test_midstream_matrix_heat_map_and_covered_highlight(workbook: Any) -> None:
    ws = workbook["Midstream"]
    header = rows(ws)[0]
    assert header[:2] == ("Stage", "Midstream")
    assert "CN (covered)" in header and "JP" in header
    assert header[-2:] == ("Unverified", "Covered (portfolio)")
    covered = ws.cell(1, header.index("CN (covered)") + 1)
    assert fill_of(covered) == "FFC7CE"
    assert fill_of(ws.cell(1, header.index("JP") + 1)) != "FFC7CE"
    separation = dict(zip(header, rows(ws)[row_of(ws, "separation") - 1], strict=True))
    assert separation["CN (covered)"] == pytest.approx(0.592)
    assert separation["Unverified"] == pytest.approx(0.048)
    assert separation["Midstream"] == "yes"
    assert dict(zip(header, rows(ws)[row_of(ws, "mining") - 1], strict=True))["Midstream"] == "no"
    rules = [rule for cf in ws.conditional_formatting for rule in cf.rules]
    assert rules and all(rule.type == "colorScale" for rule in rules)
    assert len(rules) == len(header) - 3  # one scale per country column and the unverified one


def test_ownership_matches_and_validation_sheets(workbook: Any) -> None:
    ownership = workbook["Ownership"]
    paths = [row for row in rows(ownership) if row[0] == "S002"]
    assert {row[-1] for row in paths} == {
        "S002 → Northern Rare Earth Group → Inner Mongolia SASAC",
        "S002 → Inner Mongolia SASAC",
    }
    assert paths[0][3] == pytest.approx(0.6)  # equity
    matches = workbook["Matches"]
    assert rows(matches)[0] == (
        "Supplier ID",
        "Supplier",
        "Field",
        "List",
        "List entry",
        "Score",
        "Status",
        "Explanation",
    )
    assert [row[6] for row in rows(matches)[1:]] == ["match", "review"]
    validation = workbook["Validation"]
    header = rows(validation)[0]
    assert header[:3] == ("Severity", "Code", "Supplier not screened")
    missing = dict(
        zip(header, rows(validation)[row_of(validation, "missing-value", 1) - 1], strict=True)
    )
    assert missing["Supplier not screened"] == "S009"
    assert missing["Cell"] == "C9" and missing["Row"] == 9 and missing["Sheet"] == "Suppliers"
    codes = [row[1] for row in rows(validation)[1:]]
    assert codes.count("missing-value") == 1  # shown once, with the supplier it blocked
    assert "waiver-expired" in codes and "waiver-unused" in codes


def test_audit_sheet_records_hashes_versions_and_settings(
    workbook: Any, result: dict[str, Any]
) -> None:
    ws = workbook["Audit"]
    table = rows(ws)
    assert table[0] == ("Section", "Item", "Value", "SHA-256")
    by_section: dict[str, list[tuple[Any, ...]]] = {}
    for row in table[1:]:
        by_section.setdefault(row[0], []).append(row)
    assert by_section["Input"] == [
        ("Input", "suppliers.xlsx", "workbook", result["inputs"][0]["sha256"])
    ]
    assert {row[3] for row in by_section["Ruleset"]} == {r["sha256"] for r in result["rulesets"]}
    assert by_section["List"][0][2] == "SDN: 12 rows; EL: 30 rows"
    assert by_section["List"][0][3] == result["lists"][0]["sha256"]
    assert by_section["File (waivers)"][0][3] == result["audit"]["files"][0]["sha256"]
    assert ("Library", "openpyxl", "3.1.5", None) in table
    assert ("Python", "version", "3.11.7", None) in table
    settings = {row[1]: row[2] for row in by_section["Setting"]}
    assert settings["indirect_method"] == "multiply"
    assert settings["hk_mo_origin"] == "yes"
    assert settings["thresholds.government"] == "0.25"
    assert any(row[0] == "Run" and row[2] == result["audit"]["command_line"] for row in table)
    assert [row[0] for row in table if row[0].startswith("Waiver")] == [
        "Waiver (applied)",
        "Waiver (expired)",
        "Waiver (unused)",
    ]
    assert not any("timings" in str(row[1]) for row in table)


def test_same_data_gives_the_same_cells(result: dict[str, Any], tmp_path: Path) -> None:
    quiet = copy.deepcopy(result)
    quiet["audit"]["timings"] = {}  # timings are recorded only with --verbose
    first = write_report(quiet, tmp_path / "a.xlsx")[0]
    later = copy.deepcopy(quiet)
    later["generated_at"] = "2027-01-01T09:30:00Z"  # a later run of the same input and as-of
    second = write_report(later, tmp_path / "b.xlsx")[0]
    a, b = load_workbook(first), load_workbook(second)
    for name in SHEETS:
        assert rows(a[name]) == rows(b[name]), name


def test_verbose_timings_are_shown_in_audit(result: dict[str, Any], tmp_path: Path) -> None:
    timed = copy.deepcopy(result)
    timed["audit"]["timings"] = {"intake": 9.9, "evaluating": 1.5}
    audit = rows(load_workbook(write_report(timed, tmp_path / "t.xlsx")[0])["Audit"])
    assert ("Timing (s)", "intake", 9.9, None) in audit


def test_a_sheet_past_the_row_limit_overflows_to_a_named_csv(
    result: dict[str, Any], tmp_path: Path
) -> None:
    many = copy.deepcopy(result)
    template = many["suppliers"][3]["findings"][0]
    many["suppliers"][3]["findings"] = [
        {**template, "finding_id": f"f-{i:016x}", "message": f"=cmd {i}" if i % 2 else f"row {i}"}
        for i in range(25)
    ]
    written = write_report(many, tmp_path / "big.xlsx", max_rows=10)
    csv_path = tmp_path / "big.Findings.csv"
    assert csv_path in written and written[0] == tmp_path / "big.xlsx"
    ws = load_workbook(written[0])["Findings"]
    table = rows(ws)
    assert len(table) == 10  # header + 8 findings + the note naming the CSV
    assert "big.Findings.csv" in str(table[-1][0])
    assert ws.max_row <= 10
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        spilled = list(csv.reader(handle))
    assert spilled[0][0] == "Supplier ID"
    total_findings = sum(len(s["findings"]) for s in many["suppliers"])
    assert len(spilled) - 1 == total_findings - 8
    messages = [row[7] for row in spilled[1:]]
    assert any(m.startswith("'=cmd") for m in messages)  # CSV text is defused too
    assert not any(m.startswith("=") for m in messages)


def test_an_empty_result_still_writes_every_sheet_and_says_why(tmp_path: Path) -> None:
    written = write_report({"schema_version": "1"}, tmp_path / "empty.xlsx")
    book = load_workbook(written[0])
    assert book.sheetnames == list(SHEETS)
    assert book["Findings"]["A2"].value == "No rule fired for any supplier."
    assert str(book["Matches"]["A2"].value).startswith("No watchlist was loaded")


_UNSHOWABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


@settings(max_examples=500, deadline=None)
@given(
    st.text(st.characters(codec=None, categories=None))
    | st.text(alphabet="a \t\n\r\x00\x7f\u00a0\u2028\ufffe\ud800")
)
def test_clean_text_drops_exactly_the_characters_no_sheet_can_hold(text: str) -> None:
    assert clean_text(text) == _UNSHOWABLE.sub("", text)


_ref_text = st.text(
    st.characters(codec=None, categories=None) | st.sampled_from(" \t\x00\x1f\ud800!()"),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(
        st.fixed_dictionaries(
            {"sheet": _ref_text, "cell": _ref_text, "file": _ref_text},
            optional={"row": st.integers(0, 9), "column": _ref_text, "path": st.just([])},
        ),
        max_size=4,
    )
)
@example(items=[{"sheet": " Sourcing", "cell": "C5", "file": "a\x00b.xlsx"}])
@example(items=[{"sheet": "\x01 S", "cell": "C\x005", "file": "f"}])
def test_cell_evidence_reads_the_same_by_its_fast_path(items: list[dict[str, Any]]) -> None:
    # any other mapping takes the general path
    general = evidence_refs([MappingProxyType(item) for item in items])
    assert evidence_refs(items) == general
    assert evidence_refs(items) == general  # and again, from the kept parts


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=80))
@example(text="=SUM(A1:A9)")
@example(text="+41 22 555")
@example(text="-cmd")
@example(text="@import")
def test_any_text_becomes_a_string_cell_never_a_formula(text: str) -> None:
    writer = _ReportWriter({}, Path("unused.xlsx"), EXCEL_MAX_ROWS)
    ws = writer.workbook.create_sheet("T")
    for wrap in (False, True):
        cell = writer.cell(ws, text, "text", wrap)
        cleaned = "".join(
            ch
            for ch in text
            if ch in "\t\n\r"
            or not (
                ord(ch) < 32 or ord(ch) == 127 or ch in "\ufffe\uffff" or "\ud800" <= ch <= "\udfff"
            )
        )
        if cleaned == "":
            assert cell is None or cell.value == ""
            continue
        normalised = cleaned.replace("\r\n", "\n").replace("\r", "\n")
        assert cell.data_type == "s"
        assert cell.value == normalised
        assert cell.quotePrefix == normalised.startswith(("=", "+", "-", "@", "\t"))


@settings(max_examples=40, deadline=None)
@given(names=st.lists(st.text(max_size=60), min_size=1, max_size=6))
@example(
    names=["=SUM(A1:A9)", " padded ", "a & b < c > d ]]>", "\uffff\ufffe", "one\r\ntwo\rthree"]
)
@example(names=["\x01\x02", "", "\t"])
def test_table_text_reads_back_as_written(names: list[str]) -> None:
    """Table sheets are serialised by feocscreen itself: any text reads back, with openpyxl
    and with calamine, as the text shown (control characters dropped, line breaks as \\n),
    always a string, with the quote prefix when it would start a formula."""
    data = {
        "suppliers": [
            {"supplier_id": f"S{i}", "supplier_name": name, "tier": "clear", "findings": []}
            for i, name in enumerate(names)
        ]
    }
    with tempfile.TemporaryDirectory() as folder:
        path = write_report(data, Path(folder) / "names.xlsx")[0]
        ws = load_workbook(path)["Suppliers"]
        cells = [ws.cell(row, 2) for row in range(2, 2 + len(names))]
        fast = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Suppliers").to_python()
    for index, (name, cell) in enumerate(zip(names, cells, strict=True)):
        shown = clean_text(name).replace("\r\n", "\n").replace("\r", "\n")
        assert cell.value == (shown or None)
        assert fast[index + 1][1] == shown
        if shown:
            assert cell.data_type == "s"
            assert cell.quotePrefix == shown.startswith(("=", "+", "-", "@", "\t"))


def test_numbers_excel_cannot_hold_leave_the_cell_empty(tmp_path: Path) -> None:
    supplier = {"supplier_id": "S1", "supplier_name": "One", "tier": "clear", "findings": []}
    supplier |= {"score": float("nan"), "annual_spend_usd": float("inf")}
    ws = load_workbook(write_report({"suppliers": [supplier]}, tmp_path / "nan.xlsx")[0])[
        "Suppliers"
    ]
    headers = [cell.value for cell in ws[1]]
    assert ws.cell(2, headers.index("Score") + 1).value is None
    assert ws.cell(2, headers.index("Annual spend (USD)") + 1).value is None
    assert ws.cell(2, 1).value == "S1"


def test_table_rows_become_the_sheet_without_a_copy(
    result: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows file starts with the sheet's opening, so it becomes the sheet as it is."""

    def no_copy(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the rows were copied")

    monkeypatch.setattr(sheetdata.SheetRows, "_copy_rows", no_copy)
    ws = load_workbook(write_report(result, tmp_path / "direct.xlsx")[0])["Findings"]
    assert ws.max_row > 2


@pytest.mark.parametrize("chunk", [package.DEFLATE_CHUNK, 1_000])
def test_rows_are_copied_behind_an_opening_that_changed(
    result: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """If the sheet's opening changed after its rows began, the rows follow the new one."""
    expected = [rows(ws) for ws in load_workbook(write_report(result, tmp_path / "a.xlsx")[0])]
    monkeypatch.setattr(package, "DEFLATE_CHUNK", chunk)
    real = sheetdata._opening
    monkeypatch.setattr(sheetdata, "_opening", lambda ws: real(ws) + b"<!-- stale -->")
    written = write_report(result, tmp_path / "b.xlsx")[0]
    assert [rows(ws) for ws in load_workbook(written)] == expected


def raw_member(path: Path, info: zipfile.ZipInfo) -> bytes:
    """A member's deflated bytes as stored in the zip."""
    with path.open("rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        fh.seek(info.header_offset + 30 + name_length + extra_length)
        return fh.read(info.compress_size)


def test_large_parts_deflated_in_chunks_on_threads_read_back_the_same(
    result: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts past PARALLEL_FROM are deflated chunk by chunk (package.save_workbook): the zip
    checks out, every reader sees the same cells, and the bytes do not depend on threads."""
    whole = write_report(result, tmp_path / "whole.xlsx")[0]
    expected = [rows(ws) for ws in load_workbook(whole)]
    monkeypatch.setattr(package, "DEFLATE_CHUNK", 4096)
    monkeypatch.setattr(package, "PARALLEL_FROM", 8192)
    stored: dict[int, dict[str, bytes]] = {}
    for threads in (1, 3):
        monkeypatch.setattr(package, "usable_cpus", lambda threads=threads: threads)
        path = write_report(result, tmp_path / f"chunked-{threads}.xlsx")[0]
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None  # every member inflates and its CRC checks
            large = [i for i in archive.infolist() if i.file_size >= 8192]
            assert len(large) >= 2 and any(i.file_size > 3 * 4096 for i in large)
            stored[threads] = {i.filename: raw_member(path, i) for i in large}
        assert [rows(ws) for ws in load_workbook(path)] == expected
        chunked, plain = (
            CalamineWorkbook.from_path(str(path)),
            CalamineWorkbook.from_path(str(whole)),
        )
        for name in SHEETS:
            assert (
                chunked.get_sheet_by_name(name).to_python()
                == plain.get_sheet_by_name(name).to_python()
            ), name
    assert stored[1] == stored[3]


@settings(max_examples=40, deadline=None)
@given(
    pieces=st.lists(st.binary(max_size=9_000), max_size=12),
    chunk=st.integers(min_value=1, max_value=20_000),
)
def test_deflated_chunks_join_into_one_stream_however_the_data_was_written(
    pieces: list[bytes], chunk: int
) -> None:
    data = b"".join(pieces)
    original = package.DEFLATE_CHUNK
    package.DEFLATE_CHUNK = chunk
    deflating = package.Deflating()
    try:
        in_pieces, at_once = io.BytesIO(), io.BytesIO()
        deflater = deflating.deflater(in_pieces)
        for piece in pieces:
            deflater.write(piece)
        figures = deflater.close()
        whole = deflating.deflater(at_once)
        whole.write(data)
        whole.close()
    finally:
        package.DEFLATE_CHUNK = original
        deflating.close()
    packed = in_pieces.getvalue()
    assert zlib.decompress(packed, -zlib.MAX_WBITS) == data
    assert packed == at_once.getvalue()  # the chunks depend on the data, not on the writes
    assert figures == (zlib.crc32(data), len(data), len(packed))


csv_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(alphabet=st.sampled_from('ab ,"\r\n=+-@\t;é北'), max_size=12)
    | st.tuples(st.text(max_size=6), st.sampled_from(["", "https://x.example/a,b"]))
)


@given(st.lists(csv_values, min_size=2, max_size=8))
def test_overflow_lines_are_what_the_csv_module_writes(row: list[Any]) -> None:
    expected = io.StringIO(newline="")
    csv.writer(expected).writerow([_csv_value(value) for value in row])
    assert ",".join(_csv_field(value) for value in row) + "\r\n" == expected.getvalue()


def test_long_text_is_cut_to_excels_cell_limit_and_rows_fit_their_text(tmp_path: Path) -> None:
    long_name = "Magnet Works " * 4_000  # 52,000 characters
    data = {
        "suppliers": [
            {"supplier_id": "L1", "supplier_name": long_name, "tier": "clear", "findings": []},
            {"supplier_id": "S2", "supplier_name": "Short", "tier": "clear", "findings": []},
        ]
    }
    ws = load_workbook(write_report(data, tmp_path / "long.xlsx")[0])["Suppliers"]
    cut = ws.cell(2, 2).value
    assert len(cut) == EXCEL_MAX_CELL and cut.endswith("…") and long_name.startswith(cut[:-1])
    assert ws.row_dimensions[1].height == 45  # the header's three wrapped lines
    assert ws.row_dimensions[2].height == 409  # Excel's tallest row, for the long name
    assert ws.row_dimensions[3].height is None  # one line: the default height


def test_a_list_or_mapping_value_is_shown_as_text_in_the_sheet_and_the_overflow(
    tmp_path: Path,
) -> None:
    names: list[Any] = [["Alpha", "Beta"], {"name": "Gamma"}, "Delta", ["Epsilon"]]
    data = {
        "suppliers": [
            {"supplier_id": f"S{i}", "supplier_name": name, "tier": "clear", "findings": []}
            for i, name in enumerate(names)
        ]
    }
    written = write_report(data, tmp_path / "odd.xlsx", max_rows=4)
    ws = load_workbook(written[0])["Suppliers"]
    assert [ws.cell(row, 2).value for row in (2, 3)] == ["['Alpha', 'Beta']", "{'name': 'Gamma'}"]
    with written[1].open(encoding="utf-8-sig", newline="") as fh:
        overflow = list(csv.reader(fh))
    assert [row[1] for row in overflow[1:]] == ["Delta", "['Epsilon']"]


def test_formula_like_names_read_back_as_text(tmp_path: Path) -> None:
    names = ["=SUM(A1:A9)", "+41 22 555", "-cmd", "@import", "plain"]
    data = {
        "suppliers": [
            {"supplier_id": f"S{i}", "supplier_name": name, "tier": "clear", "findings": []}
            for i, name in enumerate(names)
        ]
    }
    ws = load_workbook(write_report(data, tmp_path / "names.xlsx")[0])["Suppliers"]
    cells = [ws.cell(row, 2) for row in range(2, 2 + len(names))]
    assert [c.value for c in cells] == names
    assert all(c.data_type == "s" for c in cells)


def test_links_past_the_per_sheet_cap_become_text(
    result: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("feocscreen.report.excel.HYPERLINK_LIMIT", 2)
    ws = load_workbook(write_report(result, tmp_path / "links.xlsx")[0])["Findings"]
    citations = [row[9] for row in ws.iter_rows(min_row=2)]
    linked = [c for c in citations if c.hyperlink is not None]
    assert len(linked) == 2
    third = citations[2]
    assert all(c.hyperlink is None for c in citations[2:])
    assert sum(" <https://" in str(c.value) for c in citations[2:]) > 1  # and rows after it
    assert (
        third.value
        == "89 FR 37079 <https://www.govinfo.gov/content/pkg/FR-2024-05-06/html/2024-08913.htm>"
    )


def test_summary_questions_are_capped_worst_tiers_first(
    result: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("feocscreen.report.excel.ASK_LIMIT", 2)
    ws = load_workbook(write_report(result, tmp_path / "asks.xlsx")[0])["Summary"]
    table = rows(ws)
    start = row_of(ws, "What to ask next")
    asks = table[start + 1 : start + 3]  # under the sub-header
    assert [a[2] for a in asks] == ["critical", "high"]
    assert asks[0][0] == "S002" and asks[0][3].startswith("Confirm identity")
    assert str(table[start + 3][0]).startswith("3 more questions, for lower tiers")


REPO = Path(__file__).resolve().parent.parent
DEMO_GOLDEN = Path(__file__).parent / "golden" / "demo_report_cells.json"
# Cells that describe the machine and the run rather than the screening (Audit sheet).
VOLATILE_AUDIT = {"Tool", "Python", "Library", "Run"}


def _colour(colour: Any) -> str | None:
    if colour is None:
        return None
    rgb = colour.rgb
    return rgb if isinstance(rgb, str) else f"theme:{colour.theme}"


def _cell_record(cell: Any) -> dict[str, Any]:
    font, fill = cell.font, cell.fill
    return {
        "value": cell.value,
        "type": cell.data_type,
        "format": cell.number_format,
        "quote": bool(cell.quotePrefix),
        "wrap": bool(cell.alignment.wrap_text),
        "link": cell.hyperlink.target if cell.hyperlink is not None else None,
        "font": [font.b, font.i, font.u, font.sz, _colour(font.color)],
        "fill": [fill.fill_type, _colour(fill.fgColor) if fill.fill_type else None],
    }


def _report_cells(path: Path) -> dict[str, Any]:
    """Every non-empty cell of every sheet by coordinate; run-specific Audit rows left out."""
    book = load_workbook(path)
    sheets: dict[str, Any] = {}
    for ws in book:
        cells: dict[str, Any] = {}
        for row in ws.iter_rows():
            if ws.title == "Audit" and row[0].value in VOLATILE_AUDIT:
                continue
            for cell in row:
                if cell.value is None:
                    continue
                record = _cell_record(cell)
                if isinstance(record["value"], str):
                    record["value"] = record["value"].replace(str(REPO), "<repo>")
                cells[cell.coordinate] = record
        sheets[ws.title] = {
            "cells": cells,
            "charts": len(ws._charts),
            "filter": ws.auto_filter.ref,
            "freeze": ws.freeze_panes,
        }
    return sheets


def _golden_text(sheets: dict[str, Any]) -> str:
    """One cell per line, so a change to the report reads as a short diff."""
    lines = ["{"]
    for s_index, (name, sheet) in enumerate(sheets.items()):
        lines.append(f" {json.dumps(name)}: {{")
        for key in ("charts", "filter", "freeze"):
            lines.append(f"  {json.dumps(key)}: {json.dumps(sheet[key])},")
        lines.append('  "cells": {')
        cells = list(sheet["cells"].items())
        for c_index, (coordinate, record) in enumerate(cells):
            comma = "," if c_index < len(cells) - 1 else ""
            text = json.dumps(record, ensure_ascii=False)
            lines.append(f"   {json.dumps(coordinate)}: {text}{comma}")
        lines.append("  }")
        lines.append(" }" + ("," if s_index < len(sheets) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def test_demo_report_cells_match_the_golden_file(tmp_path: Path) -> None:
    """The demo portfolio's report, read back cell by cell: values, formats, fills, fonts.

    Regenerate with FEOCSCREEN_UPDATE_GOLDEN=1 after a deliberate change to the report.
    """
    fixtures = REPO / "fixtures"
    out = tmp_path / "demo.xlsx"
    invoked = CliRunner().invoke(
        main,
        [
            "screen",
            str(fixtures / "demo_suppliers.xlsx"),
            "-l",
            str(fixtures / "lists" / "simple_illustrative.csv"),
            "-l",
            str(fixtures / "lists" / "csl_illustrative.csv"),
            "--as-of",
            "2026-11-28",
            "-q",
            "-o",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert out.exists(), invoked.output
    cells = json.loads(json.dumps(_report_cells(out), default=str))
    if os.environ.get("FEOCSCREEN_UPDATE_GOLDEN"):
        DEMO_GOLDEN.write_text(_golden_text(cells), encoding="utf-8")
    golden = json.loads(DEMO_GOLDEN.read_text(encoding="utf-8"))
    assert list(cells) == list(SHEETS)
    for name in SHEETS:
        assert cells[name] == golden[name], name


def test_cells_of_one_style_do_not_share_the_quote_prefix(tmp_path: Path) -> None:
    """Styled cells share style arrays; the quote prefix of formula-like text stays its own."""
    writer = _ReportWriter({}, tmp_path / "unused.xlsx", EXCEL_MAX_ROWS)
    ws = writer.workbook.create_sheet("T")
    before = writer.cell(ws, "plain before", "text")
    quoted = writer.cell(ws, "=1+1", "text")
    after = writer.cell(ws, "plain after", "text")
    assert quoted.quotePrefix and quoted.data_type == "s"
    assert not before.quotePrefix and not after.quotePrefix
    assert before.alignment.vertical == after.alignment.vertical == "top"
    assert quoted.alignment.vertical == "top"


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(st.characters(exclude_categories=()), max_size=40),
    wrap=st.booleans(),
    distinct=st.booleans(),
)
@example(text=" lead space", wrap=False, distinct=False)
@example(text="trail\u00a0", wrap=False, distinct=False)
@example(text="line\u2028sep", wrap=True, distinct=False)
@example(text="tab\tin\nside", wrap=True, distinct=True)
@example(text="-1", wrap=False, distinct=True)
@example(text="a&b", wrap=False, distinct=False)
@example(text="\ud800x", wrap=False, distinct=False)
@example(text="é", wrap=False, distinct=True)
def test_a_text_cell_is_the_same_through_the_plain_fast_path(
    text: str, wrap: bool, distinct: bool
) -> None:
    """Text written as it comes (one regex, no escaping) is exactly the cell the general
    path writes: the same style, quote prefix, spacing and characters."""
    writer = _ReportWriter({}, Path("unused.xlsx"), EXCEL_MAX_ROWS)
    renderer = writer.renderer((Column("T", wrap=wrap, distinct=distinct),))
    general = renderer.string(text, wrap)
    expected = "" if text == "" else renderer.starts[0] + general
    assert renderer.render([text]) == expected
    assert renderer.render([text]) == expected  # again: from the cell cache when kept
