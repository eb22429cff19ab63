"""The cells of the report's table sheets, written as SpreadsheetML text.

openpyxl builds the workbook: styles, column widths, frozen panes, filters,
print setup, hyperlink relationships and the zip. Its write-only sheets,
though, make a cell object and an XML element for every cell, about 6 µs a
cell on this machine class; a Findings sheet at Excel's row limit has 16
million cells. So the table sheets write their ``<sheetData>`` here instead,
as the same XML openpyxl writes (inline strings, ``%.16g`` numbers, style ids
from the workbook's own style table), from fragments cached per value, deflated
as they come into a file that becomes the sheet (see ``SheetRows``).
"""

from __future__ import annotations

import math
import os
import re
import zlib
from io import BytesIO
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter, create_temporary_file
from openpyxl.worksheet.hyperlink import Hyperlink

from .package import Deflated, Deflating

FLUSH_ROWS = 1_024  # rows joined and encoded at a time
_MARKUP = re.compile(r"[&<>]")  # what text must escape in an element
_EMPTY_SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData>\s*</sheetData>")
# Marks in a rendered row, which no cell text can hold (control characters are dropped):
ROW_MARK = "\x00"  # the row's number, known once the row is placed
LINK_MARK = "\x01"  # a linked cell's content, known once the sheet's links are counted

Fragment = str  # a cell's XML after ``<c r="A1"``: its style, type and value


def cell_starts(columns: int) -> list[str]:
    """The opening of each column's cell, the row number left as ROW_MARK."""
    return [f'<c r="{get_column_letter(i)}{ROW_MARK}"' for i in range(1, columns + 1)]


def text_fragment(text: str, style: int) -> Fragment:
    """An inline-string cell: never a formula, whatever the text starts with."""
    space = ' xml:space="preserve"' if text != text.strip() else ""
    body = escape(text) if _MARKUP.search(text) else text
    return f' s="{style}" t="inlineStr"><is><t{space}>{body}</t></is></c>'


def number_fragment(value: float, style: int) -> Fragment | None:
    """A number cell written as openpyxl writes it (``%.16g``); NaN and infinities,
    which Excel cannot hold, leave the cell empty."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return f' s="{style}" t="n"><v>{value:.16g}</v></c>'


def blank_fragment(style: int) -> Fragment:
    return f' s="{style}"/>'


class SheetRows:
    """The rows of one write-only sheet, deflated as they come into a temporary file that
    becomes the sheet's part of the zip when ``close`` is called (before the workbook is
    saved; see ``package.Deflater``).

    The stream starts with the sheet's opening (properties, views, column widths) as
    openpyxl's own sheet writer writes it; at ``close`` openpyxl writes the whole sheet
    around an empty ``<sheetData/>``, and its ending follows the rows. Should the opening
    have changed meanwhile, the rows are inflated and deflated again behind the new one.
    """

    def __init__(self, ws: WriteOnlyWorksheet, deflating: Deflating) -> None:
        self.ws = ws
        self.rows = 0
        self.links: list[Hyperlink] = []
        self._buffer: list[str] = []
        self._deflating = deflating
        self._opening = _opening(ws) + b"<sheetData>"
        self._path = Path(create_temporary_file(suffix=".xml"))  # removed at exit if left
        self._file: IO[bytes] = self._path.open("wb")
        self._deflater = deflating.deflater(self._file)
        self._deflater.write(self._opening)

    def write(self, cells: str, height: float | None = None) -> None:
        """Write the next row: its cells rendered with ROW_MARK for the row number."""
        self.rows = n = self.rows + 1
        row = str(n)
        head = f'<row r="{row}" ht="{height:g}" customHeight="1">' if height else f'<row r="{row}">'
        buffer = self._buffer
        buffer.append(head + cells.replace(ROW_MARK, row) + "</row>")
        if len(buffer) >= FLUSH_ROWS:
            self._flush()

    def link(self, column: int, row: int, url: str) -> None:
        """A hyperlink on a cell (``column`` counted from 0)."""
        self.links.append(Hyperlink(ref=f"{get_column_letter(column + 1)}{row}", target=url))

    def _flush(self) -> None:
        self._deflater.write("".join(self._buffer).encode("utf-8"))
        self._buffer.clear()

    def close(self) -> None:
        """Let openpyxl write the sheet without rows, then make the rows file the sheet."""
        self._flush()
        ws = self.ws
        ws._get_writer()  # the sheet's writer starts a fresh hyperlink list: fill it now
        ws._hyperlinks.extend(self.links)
        ws.close()
        out = Path(ws._writer.out)
        skeleton = out.read_bytes()
        empty = _EMPTY_SHEET_DATA.search(skeleton)
        if empty is None:  # openpyxl always writes the element; fail loudly if that changes
            raise RuntimeError(f"no sheetData in the {ws.title!r} sheet openpyxl wrote")
        opening = skeleton[: empty.start()] + b"<sheetData>"
        ending = b"</sheetData>" + skeleton[empty.end() :]
        if opening == self._opening:
            self._deflater.write(ending)
            deflated = self._deflater.close()
            self._file.close()
            os.replace(self._path, out)  # openpyxl archives and removes this file on save
        else:
            self._deflater.close()
            self._file.close()
            deflated = self._copy_rows(out, opening, ending)
        self._deflating.parts[str(out)] = deflated

    def _copy_rows(self, out: Path, opening: bytes, ending: bytes) -> Deflated:
        """Write the sheet to `out` as `opening`, the rows, `ending`: deflated."""
        skip = len(self._opening)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        with out.open("wb") as target, self._path.open("rb") as rows:
            deflater = self._deflating.deflater(target)
            deflater.write(opening)
            while packed := rows.read(1 << 20):
                plain = inflater.decompress(packed)
                deflater.write(plain[skip:])
                skip = max(0, skip - len(plain))
            deflater.write(inflater.flush()[skip:] + ending)
            deflated = deflater.close()
        self._path.unlink()
        return deflated


def _opening(ws: WriteOnlyWorksheet) -> bytes:
    """The sheet up to its rows, as openpyxl's sheet writer will write it. Written twice:
    writing it settles the sheet's format (openpyxl records the column outline level as it
    writes), so the second is what the writer writes later."""
    for _ in range(2):
        buffer = BytesIO()
        writer = WorksheetWriter(ws, out=buffer)
        writer.write_top()
        writer.xf.close()  # ends the worksheet element
    whole = buffer.getvalue()
    return whole[: whole.rindex(b"</worksheet>")]
