"""The Arrow reader gives the very Portfolio the calamine row reader gives, problems included.

Each workbook is loaded twice: as intake reads it (fastexcel into Arrow where it can) and
with the Arrow reader switched off (python-calamine rows, the reference). Frames, dtypes,
issues with their cells, and who is not screened must be equal. The workbooks hold
every cell-level problem, blank rows, a table that does not start at A1, percent-formatted
shares and columns whose types send a sheet back to calamine.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st

from feocscreen import ingest
from feocscreen.errors import InputError
from feocscreen.portfolio import Portfolio
from feocscreen.validate import CellColumn, load_portfolio

SUPPLIER_HEADERS = [
    *("Supplier ID", "Supplier Name", "Country", "HQ Country", "Stage", "Supplies Stage"),
    *("Material", "Annual Spend (USD)", "LEI", "Mining Country", "Notes"),
]
SUPPLIER_ROWS: list[list[Any]] = [
    ["S1", "Alpha", "P.R. China", None, "magnet", None, "NdFeB", 1200.5, None, None, "a"],
    ["S2", "Beta", "Korea", "JP", "distributor", None, None, 10.0, "BADLEI", "CN", None],
    ["S3", "Gamma", "Atlantis", None, "Sintering", "alloy", "ferrite", -5.0, None, None, None],
    ["S3", None, "unknown", "NA", "foo", "bogus", None, 0.0, None, "Atlantis", "b"],
    [None, "Delta", "  DE ", "US", "mining", None, "SmCo", None, None, None, None],
    [
        "S6",
        "Zeta",
        "U.S.A.",
        None,
        "separation",
        None,
        None,
        3.0,
        "5493001KJTIIGC8Y1R12",
        None,
        None,
    ],
]
SOURCING_HEADERS = ["Supplier ID", "Stage", "Country", "Share %", "Upstream Supplier ID"]
SOURCING_ROWS: list[list[Any]] = [
    ["S1", "mining", "CN", 60.0, None],
    ["S1", "mining", "Viet Nam", 50.0, None],
    ["S1", "separation", "Korea", 150.0, None],
    ["S1", "metal", "MY", -5.0, "S6"],
    ["S2", "magnet", "JP", None, None],
    ["S2", "magnet", "DE", None, None],
    ["S6", "separation", "FR", 100.0, "S1"],
    ["S9", "mining", "CN", 100.0, None],
    ["S6", "recycling", "Burma", 1.0, "X7"],
    ["S6", None, "CN", 100.0, None],
]
OWNERSHIP_HEADERS = [
    "Entity",
    "Owner",
    "Owner Country",
    "Owner Type",
    "Equity %",
    "Appoints Officer",
]
OWNERSHIP_ROWS: list[list[Any]] = [
    ["S1", "Holding A", "CN", "state", 55.0, "yes"],
    ["S2", "Holding B", "Korea", "alien", 150.0, "maybe"],
    ["Holding A", "Gov X", "CN", "government", 100.0, None],
    ["S6", "Holding A", "HK", "company", 10.0, "no"],
    ["Nobody Ltd", "Holding C", "US", "company", 5.0, None],
]


def _write(
    path: Path,
    sheets: dict[str, tuple[list[str], list[list[Any]]]],
    top_left: tuple[int, int] = (0, 0),
    blank_after: int | None = None,
    percent_column: tuple[str, int] | None = None,
) -> Path:
    """A workbook as xlsxwriter saves it, each cell written with its own type."""
    book = xlsxwriter.Workbook(str(path))
    percent = book.add_format({"num_format": "0%"})
    for name, (headers, rows) in sheets.items():
        sheet = book.add_worksheet(name)
        top, left = top_left
        sheet.write_row(top, left, headers)
        line = top + 1
        for index, row in enumerate(rows):
            for col, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, bool):
                    sheet.write_boolean(line, left + col, value)
                elif isinstance(value, float):
                    styled = percent_column == (name, col)
                    sheet.write_number(line, left + col, value, percent if styled else None)
                else:
                    sheet.write_string(line, left + col, value)
            line += 2 if blank_after == index else 1
    book.close()
    return path


def _sheets(**changes: Any) -> dict[str, tuple[list[str], list[list[Any]]]]:
    sheets = {
        "Suppliers": (SUPPLIER_HEADERS, [list(r) for r in SUPPLIER_ROWS]),
        "Sourcing": (SOURCING_HEADERS, [list(r) for r in SOURCING_ROWS]),
        "Ownership": (OWNERSHIP_HEADERS, [list(r) for r in OWNERSHIP_ROWS]),
    }
    sheets.update(changes)
    return sheets


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Portfolio, Portfolio, list[bool]]:
    """(as intake reads it, through calamine rows only, whether each sheet went through
    Arrow, in the order Suppliers, Sourcing, Ownership: the sheets are read on threads)."""
    used: dict[str, bool] = {}
    arrow = ingest.read_sheet_columns

    def spy(source: ingest.InputFile, sheet: str, **options: Any) -> ingest.RawSheet | None:
        raw = arrow(source, sheet, **options)
        used[sheet] = raw is not None
        return raw

    with monkeypatch.context() as patch:
        patch.setattr(ingest, "read_sheet_columns", spy)
        fast = load_portfolio([path])
    with monkeypatch.context() as patch:
        patch.setattr(ingest, "read_sheet_columns", lambda source, sheet, **options: None)
        rows = load_portfolio([path])
    order = [s for s in ("Suppliers", "Sourcing", "Ownership") if s in used]
    order += [s for s in used if s not in order]
    return fast, rows, [used[s] for s in order]


def _same(fast: Portfolio, rows: Portfolio) -> None:
    for name in ("suppliers", "sourcing", "ownership"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(rows, name))
    assert [repr(i) for i in fast.issues] == [repr(i) for i in rows.issues]
    assert {k: [repr(i) for i in v] for k, v in fast.not_screened.items()} == {
        k: [repr(i) for i in v] for k, v in rows.not_screened.items()
    }
    assert fast.layouts == rows.layouts


@pytest.mark.parametrize(
    ("top_left", "blank_after"),
    [((0, 0), None), ((3, 2), 1)],
    ids=["at-A1", "table-at-C4-with-a-blank-row"],
)
def test_arrow_reader_matches_calamine_rows(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    top_left: tuple[int, int],
    blank_after: int | None,
) -> None:
    path = _write(tmp_path / "book.xlsx", _sheets(), top_left, blank_after)
    fast, rows, used = _both(path, monkeypatch)
    assert used == [True, True, True]
    _same(fast, rows)
    codes = {i.code for i in fast.issues}
    assert {"unknown-country", "ambiguous-country", "unknown-stage", "bad-lei"} <= codes
    assert {"negative-number", "share-out-of-range", "duplicate-id", "missing-value"} <= codes
    assert {"unknown-owner-type", "bad-boolean", "unknown-reference", "shares-over-100"} <= codes
    bad_lei = next(i for i in fast.issues if i.code == "bad-lei")
    letter = ingest.column_letter(top_left[1] + SUPPLIER_HEADERS.index("LEI"))
    assert (bad_lei.sheet, bad_lei.row, bad_lei.cell) == (
        "Suppliers",
        top_left[0] + 3,
        f"{letter}{top_left[0] + 3}",
    )


def test_text_shares_and_percent_formats_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = [[*r[:3], None if r[3] is None else f"{r[3]:g}%", r[4]] for r in SOURCING_ROWS]
    text[1][3] = "abc"
    book = _write(tmp_path / "text.xlsx", _sheets(Sourcing=(SOURCING_HEADERS, text)))
    fast, rows, used = _both(book, monkeypatch)
    assert used == [True, True, True]
    _same(fast, rows)
    assert "bad-number" in {i.code for i in fast.issues}
    small = [[*r[:3], None if r[3] is None else r[3] / 100, r[4]] for r in SOURCING_ROWS]
    small[0][3] = 60.0  # not every share ≤ 1: the percent format decides
    styled = _write(
        tmp_path / "styled.xlsx",
        _sheets(Sourcing=(SOURCING_HEADERS, small)),
        percent_column=("Sourcing", 3),
    )
    fast, rows, used = _both(styled, monkeypatch)
    assert used == [True, True, True]
    _same(fast, rows)


def test_columns_mixing_types_go_through_calamine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = [list(r) for r in SOURCING_ROWS]
    mixed[2][3] = "45%"
    suppliers = [list(r) for r in SUPPLIER_ROWS]
    suppliers[0][-1] = True  # a boolean among the notes' text
    path = _write(
        tmp_path / "mixed.xlsx",
        _sheets(Suppliers=(SUPPLIER_HEADERS, suppliers), Sourcing=(SOURCING_HEADERS, mixed)),
    )
    fast, rows, used = _both(path, monkeypatch)
    assert used == [False, False, True]
    _same(fast, rows)


def test_repeated_headers_go_through_calamine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = [*SUPPLIER_HEADERS, "Notes"]
    rows = [[*r, "again"] for r in SUPPLIER_ROWS]
    path = _write(tmp_path / "twice.xlsx", {"Suppliers": (headers, rows)})
    fast, rows_read, used = _both(path, monkeypatch)
    assert used == [False]
    _same(fast, rows_read)


def test_huge_cell_is_refused_at_its_cell(tmp_path: Path) -> None:
    rows = [list(r) for r in SUPPLIER_ROWS]
    rows[3][1] = "PLACEHOLDER"  # xlsxwriter refuses long strings: spliced into the XML below
    small = _write(tmp_path / "small.xlsx", {"Suppliers": (SUPPLIER_HEADERS, rows)}, (1, 1))
    path = tmp_path / "huge.xlsx"
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/sharedStrings.xml":
                data = data.replace(b"PLACEHOLDER", b"x" * 40_000)
            out.writestr(info.filename, data)
    with pytest.raises(InputError) as caught:
        load_portfolio([path])
    issue = caught.value.issues[0]
    assert (issue.code, issue.row, issue.cell, issue.header) == (
        "cell-too-large",
        6,
        "C6",
        "Supplier Name",
    )


def test_distinct_values_keep_types_apart() -> None:
    column = CellColumn.from_values([True, 1.0, "1", None, 0.0, -0.0, 1.0, True])
    assert [column.at(i) for i in range(8)] == [True, 1.0, "1", None, 0.0, -0.0, 1.0, True]
    assert [type(column.at(i)) for i in (0, 1, 2)] == [bool, float, str]
    assert str(column.at(5)) == "-0.0"
    text = CellColumn.from_values(["a", None, "b", "a"])
    assert text.values == ["a", "b", None] and text.codes.tolist() == [0, 2, 1, 0]


def test_sheets_read_together_leave_fastexcels_logger_as_it_was(tmp_path: Path) -> None:
    """The three sheets are read on threads, each quieting fastexcel's column warnings:
    the logger's own level comes back once the last read is done."""
    import logging

    path = _write(tmp_path / "three.xlsx", _sheets())
    logger = logging.getLogger("fastexcel")
    before = logger.level
    logger.setLevel(logging.INFO)
    try:
        portfolio = load_portfolio([path])
        assert logger.level == logging.INFO
    finally:
        logger.setLevel(before)
    assert {sheet for _, sheet in portfolio.layouts} == {"Suppliers", "Sourcing", "Ownership"}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(st.none() | st.sampled_from(["", " ", "x", "é"]), min_size=6, max_size=6),
            st.lists(st.none() | st.integers(-2, 2), min_size=6, max_size=6),
        ),
        max_size=4,
    )
)
def test_a_row_is_kept_when_any_cell_is_neither_empty_nor_empty_text(columns) -> None:
    import pyarrow as pa

    arrays = {i: pa.array(values) for i, values in enumerate(columns)}
    expected = [any(c[row] is not None and c[row] != "" for c in columns) for row in range(6)]
    assert ingest._filled_rows(arrays, 6).tolist() == expected
