"""Hostile and broken files: one clear message naming the file, exit 2, no traceback."""

from __future__ import annotations

import contextlib
import random
import string
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_lying_zip, write_workbook, write_zip_bomb
from feocscreen.cli import main
from feocscreen.errors import FeocscreenError, InputError
from feocscreen.validate import load_portfolio


def _refused(path: Path, code: str) -> InputError:
    with pytest.raises(InputError) as caught:
        load_portfolio([path])
    error = caught.value
    assert path.name in error.message
    assert error.issues and error.issues[0].code == code, error.issues
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and path.name in result.output
    return error


def _valid(tmp_path: Path) -> Path:
    return write_workbook(
        tmp_path / "valid.xlsx",
        {
            "Suppliers": [
                ["supplier_id", "supplier_name", "country", "stage"],
                ["A", "Alpha", "JP", "magnet"],
            ],
        },
    )


def test_not_a_spreadsheet(tmp_path):
    path = tmp_path / "notes.pdf"
    path.write_bytes(b"%PDF-1.7 not a workbook")
    assert "not a spreadsheet" in _refused(path, "not-a-spreadsheet").message


def test_truncated_zip(tmp_path):
    data = _valid(tmp_path).read_bytes()
    path = tmp_path / "truncated.xlsx"
    path.write_bytes(data[: len(data) // 2])
    assert "damaged or truncated" in _refused(path, "corrupt-file").message


def test_zip_needing_a_newer_zip_version(tmp_path):
    """A central directory asking for zip version 6.4 (which the standard library cannot
    read) is a corrupt file for the user, not a crash."""
    data = bytearray(_valid(tmp_path).read_bytes())
    entry = data.index(b"PK\x01\x02")  # first central directory header
    data[entry + 6] = 64  # "version needed to extract": 6.4
    path = tmp_path / "newer.xlsx"
    path.write_bytes(bytes(data))
    assert "unsupported zip container" in _refused(path, "corrupt-file").message


def test_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    _refused(path, "not-a-spreadsheet")


def test_legacy_xls(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert "save it as .xlsx" in _refused(path, "legacy-xls").message


def test_encrypted_xlsx(tmp_path):
    path = tmp_path / "secret.xlsx"
    body = b"\x00" * 512 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 512
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + body)
    assert "password-protected" in _refused(path, "encrypted-file").message


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory) -> Path:
    """About 1 MB on disk, 1 GiB inflated: a sheet of zeros."""
    return write_zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.xlsx", 1024)


def test_zip_bomb_refused_fast(zip_bomb):
    assert zip_bomb.stat().st_size < 3 * 1024 * 1024
    started = time.perf_counter()
    error = _refused(zip_bomb, "zip-bomb")
    assert time.perf_counter() - started < 10
    assert "inflates" in error.message


def test_zip_member_lying_about_its_size(tmp_path):
    path = write_lying_zip(tmp_path / "liar.xlsx")
    with pytest.raises(InputError) as caught:
        load_portfolio([path])
    assert caught.value.issues[0].code in {"zip-bomb", "corrupt-file"}


def test_huge_cell(tmp_path):
    # openpyxl truncates long strings, so splice a 10 MB inline string into the sheet XML.
    small = write_workbook(
        tmp_path / "small.xlsx",
        {
            "Suppliers": [
                ["supplier_id", "supplier_name", "country", "stage"],
                ["A", "PLACEHOLDER", "JP", "magnet"],
            ],
        },
    )
    rng = random.Random(7)
    big = "".join(rng.choice(string.ascii_letters) for _ in range(10 * 1024 * 1024))
    path = tmp_path / "huge.xlsx"
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        strings = (
            source.read("xl/sharedStrings.xml").decode()
            if "xl/sharedStrings.xml" in source.namelist()
            else None
        )
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/sharedStrings.xml" and strings:
                data = strings.replace("PLACEHOLDER", big).encode()
            elif info.filename == "xl/worksheets/sheet1.xml" and strings is None:
                data = data.decode().replace("PLACEHOLDER", big).encode()
            out.writestr(info.filename, data)
    error = _refused(path, "cell-too-large")
    issue = error.issues[0]
    assert (issue.sheet, issue.row, issue.cell) == ("Suppliers", 2, "B2")


def test_missing_sheet(tmp_path):
    path = write_workbook(tmp_path / "nosheet.xlsx", {"Vendors2": [["a"], ["b"]]})
    assert "Suppliers" in _refused(path, "missing-sheet").message


def test_missing_required_column(tmp_path):
    path = write_workbook(
        tmp_path / "nocol.xlsx",
        {
            "Suppliers": [["supplier_id", "supplier_name", "country"], ["A", "Alpha", "JP"]],
        },
    )
    error = _refused(path, "missing-column")
    assert error.issues[0].column == "stage" and error.issues[0].sheet == "Suppliers"


def test_empty_sheet(tmp_path):
    path = write_workbook(tmp_path / "empty.xlsx", {"Suppliers": []})
    _refused(path, "empty-sheet")


def test_csv_in_unexpected_encoding(tmp_path):
    path = tmp_path / "utf16-without-bom.csv"
    path.write_bytes("supplier_id,supplier_name\n".encode("utf-16-le"))
    _refused(path, "bad-encoding")
    undefined = tmp_path / "c1.csv"
    undefined.write_bytes(b"supplier_id,supplier_name,country,stage\nA,Caf\x81,JP,magnet\n")
    error = _refused(undefined, "bad-encoding")
    assert "line 2" in error.message


@pytest.mark.parametrize(
    ("encoding", "delimiter", "bom"),
    [("utf-8", ",", False), ("utf-8", ";", True), ("cp1252", ";", False), ("utf-16", ",", False)],
)
def test_csv_encodings_and_delimiters(tmp_path, encoding, delimiter, bom):
    lines = [
        ["supplier_id", "supplier_name", "country", "stage", "separation_country"],
        ["A", "Société Générale des Aimants", "France", "magnet", "Viet Nam"],
        ["B", "Beta", "Korea", "alloy", ""],
    ]
    text = "\r\n".join(delimiter.join(cells) for cells in lines) + "\r\n"
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path = tmp_path / "flat.csv"
    path.write_bytes(data)
    portfolio = load_portfolio([path])
    assert portfolio.suppliers.iloc[0]["supplier_name"] == "Société Générale des Aimants"
    assert portfolio.sourcing.iloc[0]["country"] == "VN"
    (error,) = portfolio.errors
    assert (error.file, error.sheet, error.row, error.cell) == ("flat.csv", "flat", 3, "C3")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2048))
def test_random_bytes_raise_only_our_errors(tmp_path, data):
    for suffix in (".xlsx", ".csv"):
        path = tmp_path / f"random{suffix}"
        path.write_bytes(data)
        with contextlib.suppress(FeocscreenError):
            load_portfolio([path])


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory) -> bytes:
    return _valid(tmp_path_factory.mktemp("valid")).read_bytes()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_mutated_workbooks_raise_only_our_errors(tmp_path, valid_bytes, data):
    original = bytearray(valid_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    path = tmp_path / "mutated.xlsx"
    path.write_bytes(bytes(original))
    with contextlib.suppress(FeocscreenError):
        load_portfolio([path])
