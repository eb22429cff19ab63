"""The report as a third reader sees it: LibreOffice opens the workbook and exports every
sheet, and each cell must equal what calamine reads. The table sheets' XML is written by
feocscreen itself (``report.sheetdata``), so a reader other than the two the rest of the
suite uses checks it too, and the zip's large parts are deflated in chunks by feocscreen
(``report.package``). Skipped where LibreOffice is not installed."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from feocscreen.report import package
from feocscreen.report.excel import SHEETS, write_report

DATA = Path(__file__).parent / "data" / "result_v1.json"
SOFFICE = shutil.which("soffice")
# separator, quote, UTF-8, first line, -, language, -, -, raw values (not as shown), -, -,
# every sheet to its own file
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
TRICKY_NAMES = [
    '=HYPERLINK("http://x")',
    "+41 22 555",
    "Tom & Jerry <Magnets> Ltd",
    "  padded both sides  ",
    "first line\nsecond line",
    "北方稀土 (Baotou)",
    "]]> not CDATA",
]


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed")
def test_libreoffice_reads_every_cell_as_calamine_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small chunks: the larger sheets go through the chunked deflate (report.package),
    # the smaller through zipfile's own, and LibreOffice must inflate both
    monkeypatch.setattr(package, "DEFLATE_CHUNK", 4096)
    monkeypatch.setattr(package, "PARALLEL_FROM", 8192)
    data = json.loads(DATA.read_text(encoding="utf-8"))
    data["suppliers"] += [
        {"supplier_id": f"T{i}", "supplier_name": name, "tier": "clear", "findings": []}
        for i, name in enumerate(TRICKY_NAMES)
    ]
    report = write_report(data, tmp_path / "report.xlsx")[0]
    done = subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            CSV_FILTER,
            "--outdir",
            str(tmp_path / "csv"),
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(report) as archive:
        sizes = [info.file_size for info in archive.infolist()]
    assert any(size >= 3 * 4096 for size in sizes) and any(size < 8192 for size in sizes)
    book = CalamineWorkbook.from_path(str(report))
    names = [row[1] for row in book.get_sheet_by_name("Suppliers").to_python()]
    assert all(name in names for name in TRICKY_NAMES)
    for sheet in SHEETS:
        expected = book.get_sheet_by_name(sheet).to_python()
        with (tmp_path / "csv" / f"report-{sheet}.csv").open(encoding="utf-8", newline="") as fh:
            shown = list(csv.reader(fh))
        assert len(shown) == len(expected), sheet
        for number, (want, got) in enumerate(zip(expected, shown, strict=True), start=1):
            padded = [*want, *[""] * (len(got) - len(want))]
            assert [_same(w, g) for w, g in zip(padded, got, strict=False)] == [True] * len(got), (
                sheet,
                number,
                want,
                got,
            )


def _same(want: Any, got: str) -> bool:
    """A cell as calamine read it against LibreOffice's raw CSV text of it."""
    if isinstance(want, bool):
        return got.upper() == str(want).upper()
    if isinstance(want, (int, float)):
        value = float(got[:-1]) / 100 if got.endswith("%") else float(got.replace(",", ""))
        return abs(value - want) <= 1e-9 * max(1.0, abs(want))
    return str(want) == got
