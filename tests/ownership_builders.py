"""Ownership graphs built from plain rows, for the tests of look-through and evaluation."""

from __future__ import annotations

from typing import Any

import pandas as pd

from feocscreen.ownership import OwnershipGraph
from feocscreen.portfolio import OWNERSHIP_COLUMNS, Portfolio

COVERED = frozenset({"CN", "RU", "IR", "KP", "HK", "MO"})


def graph(
    rows: list[tuple[Any, ...]],
    method: str = "multiply",
    listed: set[str] | None = None,
    covered: frozenset[str] = COVERED,
) -> OwnershipGraph:
    """rows: (entity, owner, owner_country, owner_type, equity, voting, board, debt, appoints),
    as Ownership rows 2, 3, … of t.xlsx."""
    frame = pd.DataFrame(rows, columns=list(OWNERSHIP_COLUMNS))
    frame["_file"] = "t.xlsx"
    frame["_sheet"] = "Ownership"
    frame["_row"] = range(2, 2 + len(frame))
    return OwnershipGraph(Portfolio(ownership=frame), covered, method, listed)
