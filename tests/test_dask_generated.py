"""The benchmark generator's portfolio, validated locally and on Dask: clean, and identical.

Guards both the benchmark (its workbooks must stay valid input as the intake
evolves, or the figures measure error paths) and the Dask engine on data as
messy as the benchmark's: spelled-out countries, export headers, upstream links,
holding chains, shares short of 100 %.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from openpyxl import Workbook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from make_workbook import build_portfolio, write_tables  # noqa: E402
from sizes import EXCEL_MAX_DATA_ROWS, parse_size, size_label  # noqa: E402

from feocscreen import engine_dask  # noqa: E402
from feocscreen.validate import load_portfolio  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")

ROWS = 3_000


def _write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> Path:
    book = Workbook()
    book.remove(book.active)
    for name, frame in sheets.items():
        sheet = book.create_sheet(name)
        sheet.append(list(frame.columns))
        for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False):
            sheet.append(list(row))
    book.save(path)
    return path


@pytest.fixture(scope="module")
def sheets() -> dict[str, pd.DataFrame]:
    return build_portfolio(ROWS, seed=11)


def test_generator_shape(sheets: dict[str, pd.DataFrame]) -> None:
    sourcing, suppliers = sheets["Sourcing"], sheets["Suppliers"]
    assert len(sourcing) == ROWS
    ids = suppliers["Supplier ID"]
    assert ids.is_unique and set(sourcing["Supplier ID"]) <= set(ids)
    totals = sourcing.groupby(["Supplier ID", "Stage"])["Share %"].sum()
    assert totals.max() <= 100
    upstream = sourcing.dropna(subset=["Upstream Supplier ID"])
    assert len(upstream) > 0
    # Links point at earlier suppliers only, so they can never form a loop.
    assert (upstream["Upstream Supplier ID"] < upstream["Supplier ID"]).all()
    assert {"P.R. China", "Viet Nam"} & set(sourcing["Country"])


def test_generated_workbook_is_valid_input_and_dask_agrees(
    tmp_path: Path, sheets: dict[str, pd.DataFrame]
) -> None:
    local = load_portfolio([_write_xlsx(sheets, tmp_path / "portfolio.xlsx")])
    assert not local.errors, [i.message for i in local.errors[:5]]
    assert not local.not_screened
    assert len(local.sourcing) == ROWS
    assert {i.code for i in local.warnings} >= {"shares-under-100", "unused-column"}

    write_tables(sheets, tmp_path / "tables", "parquet")
    built = engine_dask.load_portfolio_dask([tmp_path / "tables"])
    for name in ("suppliers", "sourcing", "ownership"):
        mine = _plain(getattr(local, name))
        theirs = _plain(getattr(built, name))
        assert mine.equals(theirs), name

    def key(issue: Any) -> tuple[Any, ...]:
        return (issue.code, issue.row, issue.column, issue.cell, issue.message)

    assert sorted(map(key, local.issues)) == sorted(map(key, built.issues))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    kept = frame.drop(columns=["_file", "kind"], errors="ignore").reset_index(drop=True)
    return kept.astype(object).where(kept.notna(), None)


@given(st.integers(min_value=1, max_value=EXCEL_MAX_DATA_ROWS))
@example(1_000_000)
def test_size_labels_read_back(rows: int) -> None:
    assert parse_size(size_label(rows)) == rows


def test_named_sizes() -> None:
    assert parse_size("10k") == 10_000
    assert parse_size("100K") == 100_000
    assert parse_size("1m") == EXCEL_MAX_DATA_ROWS
    assert parse_size("2m") == EXCEL_MAX_DATA_ROWS  # a sheet cannot hold more
    assert size_label(EXCEL_MAX_DATA_ROWS) == "1m"
