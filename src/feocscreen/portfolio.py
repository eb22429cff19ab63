"""The validated portfolio that intake hands to every later stage (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .models import Evidence, Issue

SUPPLIER_COLUMNS: tuple[str, ...] = (
    "supplier_id",
    "supplier_name",
    "country",
    "incorporation_country",
    "hq_country",
    "stage",
    "supplies_stage",
    "material",
    "annual_spend_usd",
    "annual_volume_kg",
    "parent_name",
    "parent_country",
    "lei",
    "dfars_exception",
    "kind",
)
SOURCING_COLUMNS: tuple[str, ...] = (
    "supplier_id",
    "stage",
    "country",
    "share",
    "facility",
    "operator",
    "upstream_supplier_id",
    "share_basis",
)
OWNERSHIP_COLUMNS: tuple[str, ...] = (
    "entity",
    "owner",
    "owner_country",
    "owner_type",
    "equity",
    "voting",
    "board",
    "debt",
    "appoints_officer",
)
LOCATION_COLUMNS: tuple[str, ...] = ("_file", "_sheet", "_row")


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    """A frame with the canonical columns plus the location columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in (*columns, *LOCATION_COLUMNS)})


@dataclass
class SheetLayout:
    """Where each canonical field sits on one sheet: header text and column letter."""

    file: str
    sheet: str
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)  # field -> (header, letter)


@dataclass
class Portfolio:
    """Validated suppliers, sourcing and ownership, with every issue found on the way."""

    suppliers: pd.DataFrame = field(default_factory=lambda: empty_frame(SUPPLIER_COLUMNS))
    sourcing: pd.DataFrame = field(default_factory=lambda: empty_frame(SOURCING_COLUMNS))
    ownership: pd.DataFrame = field(default_factory=lambda: empty_frame(OWNERSHIP_COLUMNS))
    issues: list[Issue] = field(default_factory=list)
    not_screened: dict[str, list[Issue]] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    layouts: dict[tuple[str, str], SheetLayout] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]

    def evidence(self, file: str, sheet: str, row: int, column: str | None = None) -> Evidence:
        """The input cell behind a canonical field on a row (A1 reference when known)."""
        cell = None
        layout = self.layouts.get((file, sheet))
        if column and layout and column in layout.columns:
            cell = f"{layout.columns[column][1]}{row}"
        return Evidence(file=file, sheet=sheet, row=int(row), column=column, cell=cell)
