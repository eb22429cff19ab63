"""The reading floor: how long the Rust readers take to get every sheet of a workbook into Python.

    python benchmarks/bench_read.py calamine|fastexcel WORKBOOK.xlsx

``calamine`` is python-calamine's ``to_python()`` of every sheet (lists of Python
values) — the floor every ratio in the harness uses, because it is the cheapest
way to get all the cells into Python objects. ``fastexcel`` loads every sheet into
Arrow instead, which skips the Python objects and is shown for comparison.
Prints one JSON line: the reader, seconds spent reading (imports excluded), rows
and cells read.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def read_calamine(path: Path) -> tuple[int, int]:
    """Every sheet with python-calamine ``to_python()``; returns (data rows, cells)."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    rows = cells = 0
    for name in book.sheet_names:
        values = book.get_sheet_by_name(name).to_python()
        rows += max(len(values) - 1, 0)
        cells += sum(len(r) for r in values)
    return rows, cells


def read_fastexcel(path: Path) -> tuple[int, int]:
    """Every sheet with fastexcel into Arrow record batches; returns (data rows, cells)."""
    import fastexcel

    reader = fastexcel.read_excel(str(path))
    rows = cells = 0
    for name in reader.sheet_names:
        table = reader.load_sheet(name).to_arrow()
        rows += table.num_rows
        cells += table.num_rows * table.num_columns
    return rows, cells


READERS = {"calamine": read_calamine, "fastexcel": read_fastexcel}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in READERS:
        print(f"usage: bench_read.py {{{'|'.join(READERS)}}} WORKBOOK.xlsx", file=sys.stderr)
        return 2
    reader, path = argv[0], Path(argv[1])
    if reader == "calamine":
        import python_calamine  # noqa: F401 - imported before the clock starts
    else:
        import fastexcel  # noqa: F401
    started = time.perf_counter()
    rows, cells = READERS[reader](path)
    seconds = time.perf_counter() - started
    print(json.dumps({"reader": reader, "seconds": seconds, "rows": rows, "cells": cells}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
