"""Shared test helpers: real workbooks written with openpyxl."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

SUPPLIER_HEADERS = ["Supplier ID", "Supplier Name", "Country", "Stage", "Annual Spend (USD)"]
SOURCING_HEADERS = ["Supplier ID", "Stage", "Country", "Share %", "Upstream Supplier ID"]
OWNERSHIP_HEADERS = ["Entity", "Owner", "Owner Country", "Owner Type", "Equity %"]


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
