"""Benchmark sizes and where their workbooks live; no heavy imports, so the harness stays small.

The harness forks a child per case, and a child's peak RSS counts what the parent
held at fork time: keeping numpy and pandas out of the harness keeps that honest.
"""

from __future__ import annotations

from pathlib import Path

EXCEL_MAX_DATA_ROWS = 1_048_575  # 1,048,576 rows per sheet, one of them the header


def parse_size(text: str) -> int:
    """``10k`` → 10,000; ``1m`` → Excel's limit of 1,048,575 data rows; plain numbers as given."""
    value = text.strip().lower().replace("_", "").replace(",", "")
    if value in {"1m", "max", "excel"}:
        return EXCEL_MAX_DATA_ROWS
    if value.endswith("k"):
        return int(float(value[:-1]) * 1_000)
    if value.endswith("m"):
        return min(int(float(value[:-1]) * 1_000_000), EXCEL_MAX_DATA_ROWS)
    return int(value)


def size_label(rows: int) -> str:
    """The short name a size goes by in file names and tables (10k, 100k, 1m)."""
    if rows == EXCEL_MAX_DATA_ROWS:
        return "1m"  # "1m" always means Excel's limit, so 1,000,000 rows is "1000k"
    if rows % 1_000 == 0:
        return f"{rows // 1_000}k"
    return str(rows)


def workbook_path(out: Path, rows: int) -> Path:
    """Where the workbook of a size lives (benchmarks/data/portfolio_100k.xlsx)."""
    return out / f"portfolio_{size_label(rows)}.xlsx"
