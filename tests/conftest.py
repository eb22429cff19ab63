"""Shared test helpers: real workbooks written with openpyxl."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

SUPPLIER_HEADERS = ["Supplier ID", "Supplier Name", "Country", "Stage", "Annual Spend (USD)"]
SOURCING_HEADERS = ["Supplier ID", "Stage", "Country", "Share %", "Upstream Supplier ID"]
OWNERSHIP_HEADERS = ["Entity", "Owner", "Owner Country", "Owner Type", "Equity %"]


def write_zip_bomb(path: Path, mebibytes: int) -> Path:
    """A workbook-like zip with a sheet of ``mebibytes`` MiB of zeros (a few KB per MiB on disk)."""
    chunk = b"0" * (1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            for _ in range(mebibytes):
                member.write(chunk)
    return path


def write_lying_zip(path: Path) -> Path:
    """A workbook-like zip whose xl/workbook.xml says 10 bytes in both directory entries
    and inflates to about 5 KB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook>" + "x" * 5000 + "</workbook>")
    data = bytearray(buffer.getvalue())
    central = data.rfind(b"PK\x01\x02")  # the central directory's uncompressed size
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    local = data.rfind(b"PK\x03\x04")  # and the local header's
    data[local + 22 : local + 26] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def write_workbook(path: Path, sheets: dict[str, Sequence[Sequence[Any]]]) -> Path:
    """Write {sheet: rows (first row = headers)} as a real xlsx."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    workbook.save(path)
    return path


@pytest.fixture
def make_workbook(tmp_path: Path):
    """Factory: make_workbook(suppliers=[...], sourcing=[...], ownership=[...], name=...)."""

    def make(
        suppliers: Sequence[Sequence[Any]],
        sourcing: Sequence[Sequence[Any]] | None = None,
        ownership: Sequence[Sequence[Any]] | None = None,
        name: str = "suppliers.xlsx",
        supplier_headers: Sequence[str] = SUPPLIER_HEADERS,
        sourcing_headers: Sequence[str] = SOURCING_HEADERS,
        ownership_headers: Sequence[str] = OWNERSHIP_HEADERS,
    ) -> Path:
        sheets: dict[str, list[Sequence[Any]]] = {"Suppliers": [supplier_headers, *suppliers]}
        if sourcing is not None:
            sheets["Sourcing"] = [sourcing_headers, *sourcing]
        if ownership is not None:
            sheets["Ownership"] = [ownership_headers, *ownership]
        return write_workbook(tmp_path / name, sheets)

    return make
